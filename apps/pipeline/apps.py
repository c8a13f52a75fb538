from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "apps.pipeline"
    verbose_name = "Pipeline"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Handlers import models, so they are wired once the app registry is ready.
        from apps.pipeline import reactions

        reactions.subscribe()
