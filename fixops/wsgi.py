import os

import django
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fixops.settings.base")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from fixops.platform import tracing  # noqa: E402

# Before the handler loads its middleware: tracing adds its own (off without an endpoint).
tracing.configure(
    service=settings.FIXOPS_TRACING_SERVICE, endpoint=settings.FIXOPS_TRACING_ENDPOINT
)
django_application = get_wsgi_application()

# after django.setup(): the error body comes from the API layer, which needs the app registry
from fixops.platform.api.chunked import sized_chunked_bodies  # noqa: E402

# gunicorn de-chunks `Transfer-Encoding: chunked` bodies; Django reads only sized ones
application = sized_chunked_bodies(django_application)
