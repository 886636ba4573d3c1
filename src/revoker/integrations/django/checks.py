"""The system check: ``settings.REVOKER`` must parse into settings that can verify tokens.

Run by ``manage.py check``, ``runserver`` and ``migrate``. It reads the settings
exactly as the middleware will (the one loader: ``settings.REVOKER`` over the
environment and ``revoker.toml``) and opens nothing: no store, no key fetch.

- ``revoker.E001``: ``settings.REVOKER`` is missing or not a dict.
- ``revoker.E002``: a setting does not parse, or no issuer or audience is given.
- ``revoker.W001``: ``fail_open`` is on: genuine tokens pass while the rules are stale.
- ``revoker.W002``: a ``memory://`` store outside ``DEBUG``: each process has its own
  rules, so a revocation reaches neither the other workers nor a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Warning  # noqa: A004 - Django's names

from revoker.core.errors import ConfigurationError

__all__ = ["check_settings"]

_HINT = (
    "settings.REVOKER is a dict of revoker setting names to values, for example "
    '{"issuers": ["https://issuer.example"], "audience": ["client-id"], '
    '"store_url": "sqlite:///revoker.db"}; REVOKER_* environment variables fill in the rest.'
)


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The messages for ``settings.REVOKER``: errors first, then warnings."""
    from revoker.integrations.django import load_revoker_settings  # noqa: PLC0415 - a cycle

    raw = getattr(django_settings, "REVOKER", None)
    if not isinstance(raw, Mapping):
        what = "is not set" if raw is None else "is not a dict"
        return [Error(f"settings.REVOKER {what}", hint=_HINT, id="revoker.E001")]
    try:
        loaded = load_revoker_settings()
        loaded.policy()
    except ConfigurationError as exc:
        return [Error(f"revoker: {exc}", hint=_HINT, id="revoker.E002")]
    messages: list[CheckMessage] = []
    if loaded.fail_open:
        messages.append(
            Warning(
                "revoker: fail_open is on: genuine tokens are allowed while the rules "
                "cannot be synced, revoked ones included",
                id="revoker.W001",
            )
        )
    if loaded.store_url.startswith("memory://") and not django_settings.DEBUG:
        messages.append(
            Warning(
                "revoker: the memory:// store keeps rules in each process: a revocation "
                "reaches no other worker and is lost on restart",
                hint="use sqlite:///path, redis://… or postgresql://…",
                id="revoker.W002",
            )
        )
    return messages
