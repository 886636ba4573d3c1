"""The example's settings: revoker's app (its system check), its middleware, DRF with its
authentication class, and REVOKER: revoker settings by name; REVOKER_* variables fill in
the rest (here the issuer and the audience)."""

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "revoker.integrations.django",
]
MIDDLEWARE = ["revoker.integrations.django.RevokerMiddleware"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True

REVOKER = {"store_url": "sqlite:///revoker.db"}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["revoker.integrations.django.RevokerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}
