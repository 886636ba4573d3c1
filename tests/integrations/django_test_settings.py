"""The Django project of the Django suites: the middleware, DRF with revoker's
authentication, and ``REVOKER`` empty (the tests override it; under waitress the
``REVOKER_*`` environment supplies every setting, through the same loader)."""

from __future__ import annotations

from typing import Any

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "django_test_urls"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "revoker.integrations.django",
]
MIDDLEWARE = ["revoker.integrations.django.RevokerMiddleware"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
REVOKER: dict[str, Any] = {}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["revoker.integrations.django.RevokerAuthentication"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}
