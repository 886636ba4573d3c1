"""The lifetime invariant: a cut-off rule outlives every token a verifier accepts, whoever
wrote the rule. The store records the lifetime its rules are written for; a writer writes for
the longest recorded, and a verifier accepting longer-lived tokens than recorded refuses."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from revoker.app.compose import Revoker
from revoker.app.settings import Settings
from revoker.core.authorizer import Authorizer
from revoker.core.clock import FrozenClock
from revoker.core.errors import ConfigurationError
from revoker.core.registry import LIFETIME_SETTING, Registry, RuleKind, open_store
from revoker.core.verify import Verifier
from revoker.testing import TokenFactory

T0 = 1_700_000_000.0
DAY = 86_400.0


def two_day_verifier(factory: TokenFactory) -> Authorizer:
    """A verifier accepting tokens that live two days (the reproduction's)."""
    verifier = factory.verifier()
    policy = dataclasses.replace(verifier.policy, max_lifetime_seconds=2 * DAY)
    return Authorizer(Verifier(policy, verifier.keys, clock=factory.clock))


def test_the_reproduction_a_default_writer_no_longer_lets_a_revoked_token_back(
    tmp_path: Path,
) -> None:
    """A 2-day verifier's store records 2 days; `revoker revoke` with default limits writes for
    2 days; after a prune, the revoked token still valid for 23 h is still denied."""
    url = f"sqlite:///{tmp_path}/rules.db"
    clock = FrozenClock(T0)
    factory = TokenFactory(clock=clock)
    token = factory.access_token(sub="user-1", exp=int(T0 + 2 * DAY - 60))
    reader = two_day_verifier(factory)
    serving = Registry(open_store(url), clock=clock)
    serving.require_lifetime(reader.verifier.policy.max_lifetime_seconds)
    serving.agree()
    reader.registry = serving
    serving.sync()
    with Registry(open_store(url), clock=clock) as writer:  # the CLI: default limits
        rule = writer.revoke(RuleKind.SUBJECT, "user-1", cutoff=T0 + 1)
    assert rule.expires_at is not None
    assert rule.expires_at >= T0 + 1 + 2 * DAY
    clock.advance(DAY + 3600)  # the 1-day rule of old would have been pruned by now
    with Registry(open_store(url), clock=clock) as pruner:
        pruner.prune()
    serving.sync()
    assert reader.check(token).reason == "revoked_subject"
    serving.close()


def test_a_verifier_accepting_longer_tokens_than_recorded_refuses_to_start(
    tmp_path: Path,
) -> None:
    """The store says 1 day (a writer got there first); a 2-day verifier is a one-line error."""
    url = f"sqlite:///{tmp_path}/rules.db"
    with Registry(open_store(url)) as writer:
        writer.revoke(RuleKind.SUBJECT, "someone")
    settings = Settings(
        issuers=("https://issuer.example",), audience=("app",), store_url=url,
        max_token_lifetime_seconds=2 * DAY,
    )  # fmt: skip
    with (
        Revoker.from_settings(settings) as revoker,
        pytest.raises(ConfigurationError, match="written for tokens of at most 86400s") as info,
    ):
        revoker.agree()
    assert "revoker migrate --max-token-lifetime" in str(info.value)


def test_until_it_agrees_the_replica_fails_closed(tmp_path: Path) -> None:
    """A mismatch found by a background sync (the store was down at start) denies, never
    trusting rules that may have been pruned too early."""
    url = f"sqlite:///{tmp_path}/rules.db"
    with Registry(open_store(url)) as writer:
        writer.revoke(RuleKind.SUBJECT, "someone")
    clock = FrozenClock(T0)
    factory = TokenFactory(clock=clock)
    authorizer = two_day_verifier(factory)
    registry = Registry(open_store(url), clock=clock)
    authorizer.registry = registry
    registry.require_lifetime(2 * DAY)
    registry.start()  # the poll thread's sync fails: it cannot agree
    try:
        assert authorizer.check(factory.access_token()).reason == "registry_stale"
    finally:
        registry.close()


def test_the_first_registry_records_its_own_lifetime_and_a_shorter_verifier_is_fine(
    tmp_path: Path,
) -> None:
    """Rules written for longer-lived tokens cover shorter-lived ones."""
    url = f"sqlite:///{tmp_path}/rules.db"
    long_lived = Settings(audience=None, issuers=("https://i",), store_url=url,
                          max_token_lifetime_seconds=3 * DAY)  # fmt: skip
    with Revoker.for_rules(long_lived) as first:
        assert first.registry.agree() == 3 * DAY
    short = Settings(audience=None, issuers=("https://i",), store_url=url)
    with Revoker.from_settings(short) as second:
        second.agree()
        assert second.registry.limits.max_token_lifetime_seconds == 3 * DAY
        assert second.registry.store.claim_setting(LIFETIME_SETTING, 1.0) == 3 * DAY


def test_migrate_lowers_freely_and_raises_only_when_no_rule_is_too_short(tmp_path: Path) -> None:
    """Lowering is safe; raising past a live 1-day rule is refused, saying until when."""
    from revoker.app.migrate import migrate  # noqa: PLC0415

    url = f"sqlite:///{tmp_path}/rules.db"
    settings = Settings(audience=None, store_url=url)
    assert migrate(settings, record_lifetime="12h")[-1].endswith("12h")
    with Registry(open_store(url)) as writer:
        writer.revoke(RuleKind.SUBJECT, "someone")
    with pytest.raises(ConfigurationError, match="1 active rule"):
        migrate(settings, record_lifetime="2d")
    assert migrate(settings, record_lifetime="6h")[-1].endswith("6h")
