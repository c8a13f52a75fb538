from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "apps.pipeline"
    verbose_name = "Pipeline"
    default_auto_field = "django.db.models.BigAutoField"
