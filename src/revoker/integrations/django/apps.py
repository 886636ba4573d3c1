"""The Django app: ``INSTALLED_APPS = [..., "revoker.integrations.django"]`` registers the
system check (``manage.py check`` and ``runserver`` report a misconfiguration at start)."""

from __future__ import annotations

from django.apps import AppConfig


class RevokerConfig(AppConfig):
    name = "revoker.integrations.django"
    label = "revoker"
    verbose_name = "revoker"

    def ready(self) -> None:
        from django.core import checks  # noqa: PLC0415 - Django's own pattern: at ready()

        from revoker.integrations.django.checks import check_settings  # noqa: PLC0415

        checks.register(check_settings, "revoker")
