"""``revoker migrate``: bring a store's schema up to date, and change the token lifetime it
records (the lifetime every rule is written for and every verifier must stay within).

Lowering the recorded lifetime is always safe: rules written for longer-lived tokens
cover shorter-lived ones. Raising it is refused while an active rule was written for
a shorter lifetime than the new one (it would be pruned while a token it must match
is still alive); the message says how many, and when the last of them expires.
"""

from __future__ import annotations

import datetime as dt

from revoker.app.compose import Revoker
from revoker.app.setting_types import parse_seconds, show_seconds
from revoker.app.settings import Settings
from revoker.core.errors import ConfigurationError
from revoker.core.registry import LIFETIME_SETTING, Registry, RuleFilter, RuleKind
from revoker.core.registry.migrations import migrate as migrate_schema
from revoker.core.registry.rules import CUTOFF_KINDS

__all__ = ["migrate"]

_PAGE = 10_000


def migrate(settings: Settings, *, record_lifetime: str | None = None) -> list[str]:
    """What was done, one line each."""
    lines = [migrate_schema(settings.store_url)]
    if record_lifetime is not None:
        seconds = parse_seconds(record_lifetime, "--max-token-lifetime")
        if seconds <= 0:
            raise ConfigurationError("--max-token-lifetime must be above 0 seconds")
        with Revoker.for_rules(settings) as revoker:
            lines.append(_record(revoker.registry, seconds))
    return lines


def _record(registry: Registry, seconds: float) -> str:
    recorded = registry.store.claim_setting(LIFETIME_SETTING, seconds)
    if seconds > recorded:
        short, last = _too_short(registry, seconds)
        if short:
            until = dt.datetime.fromtimestamp(last, dt.UTC).isoformat(timespec="seconds")
            raise ConfigurationError(
                f"{short} active rule(s) were written for tokens of at most "
                f"{show_seconds(recorded)}; raising the lifetime to {show_seconds(seconds)} now "
                f"could let a revoked token back in. Wait until {until} (their expiry), or "
                "lift them and revoke again after raising it"
            )
    registry.store.record_setting(LIFETIME_SETTING, seconds)
    return f"the store records a maximum token lifetime of {show_seconds(seconds)}"


def _too_short(registry: Registry, seconds: float) -> tuple[int, float]:
    """Active rules whose expiry does not cover a token of ``seconds``; and the last expiry."""
    margin = registry.limits.prune_margin_seconds
    count, last, offset = 0, 0.0, 0
    while True:
        page = registry.rules(RuleFilter(limit=_PAGE, offset=offset))
        for rule in page:
            if rule.expires_at is None or rule.kind not in (*CUTOFF_KINDS, RuleKind.TOKEN):
                continue
            start = rule.cutoff if rule.cutoff is not None else rule.created_at
            if rule.expires_at < start + seconds + margin:
                count += 1
                last = max(last, rule.expires_at)
        if len(page) < _PAGE:
            return count, last
        offset += _PAGE
