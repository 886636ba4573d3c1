"""The WSGI entry point waitress serves in the Django suite."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_test_settings")
application = get_wsgi_application()
