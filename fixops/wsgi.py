import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fixops.settings.base")

from fixops.platform.api.chunked import sized_chunked_bodies  # noqa: E402 - needs settings

application = sized_chunked_bodies(get_wsgi_application())
