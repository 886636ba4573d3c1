"""Rules: validation, defaults for expires_at, serialisation, reason codes, exports."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from typing import Any

import pytest

import revoker.core.registry
from revoker.core.errors import REASONS, RevokerError
from revoker.core.registry import (
    InvalidRule,
    RegistryLimits,
    Rule,
    RuleFilter,
    RuleKind,
    RuleNotFound,
)
from revoker.core.registry.rules import CUTOFF_KINDS, default_expires_at, new_rule, token_rule_value

NOW = 1_700_000_000.0
LIMITS = RegistryLimits()
DAY = 86400.0
MARGIN = 300.0


@pytest.mark.parametrize(
    ("kind", "cutoff", "expected"),
    [
        pytest.param(RuleKind.TOKEN, None, NOW + DAY + MARGIN, id="token"),
        pytest.param(RuleKind.FAMILY, None, NOW + 30 * DAY + MARGIN, id="family"),
        pytest.param(RuleKind.SESSION, None, NOW + 30 * DAY + MARGIN, id="session"),
        pytest.param(RuleKind.SUBJECT, NOW - 50, NOW - 50 + DAY + MARGIN, id="subject"),
        pytest.param(RuleKind.CLIENT, NOW - 60, NOW - 60 + DAY + MARGIN, id="client"),
        pytest.param(RuleKind.ISSUER, NOW, NOW + DAY + MARGIN, id="issuer"),
        pytest.param(RuleKind.KEY, None, None, id="key-never"),
    ],
)
def test_default_expires_at(kind: RuleKind, cutoff: float | None, expected: float | None) -> None:
    """Each kind keeps its rule exactly as long as a token it matches can live, plus the margin."""
    assert default_expires_at(kind, now=NOW, cutoff=cutoff, limits=LIMITS) == expected


def test_new_rule_defaults_cutoff_to_now_unfloored() -> None:
    """A cut-off rule without a cutoff takes the current time as given, fraction and all."""
    rule = new_rule(RuleKind.SUBJECT, "user-1", now=NOW + 0.75, limits=LIMITS)
    assert rule.cutoff == NOW + 0.75
    assert rule.expires_at == NOW + 0.75 + DAY + MARGIN
    assert rule.created_at == NOW + 0.75


def test_new_rule_keeps_an_explicit_expiry() -> None:
    """A revoke by token passes the token's exp plus the margin, and that is what is stored."""
    rule = new_rule("token", "jti-1", now=NOW, limits=LIMITS, expires_at=NOW + 3600 + MARGIN)
    assert rule.kind is RuleKind.TOKEN
    assert rule.expires_at == NOW + 3600 + MARGIN


def test_new_rule_accepts_a_cutoff_just_inside_the_margin() -> None:
    """Clock skew up to the prune margin is tolerated for a cut-off in the future."""
    rule = new_rule(RuleKind.ISSUER, "https://iss", now=NOW, limits=LIMITS, cutoff=NOW + MARGIN)
    assert rule.cutoff == NOW + MARGIN


@pytest.mark.parametrize(
    ("kind", "value", "options"),
    [
        pytest.param("token", "", {}, id="empty-value"),
        pytest.param("token", "x" * 1025, {}, id="value-too-long"),
        pytest.param("token", "j", {"cutoff": NOW}, id="cutoff-on-token"),
        pytest.param("key", "k", {"cutoff": NOW}, id="cutoff-on-key"),
        pytest.param("subject", "u", {"cutoff": NOW + MARGIN + 1}, id="cutoff-in-future"),
        pytest.param("subject", "u", {"cutoff": math.nan}, id="cutoff-nan"),
        pytest.param("subject", "u", {"cutoff": math.inf}, id="cutoff-inf"),
        pytest.param("token", "j", {"expires_at": math.inf}, id="expires-inf"),
        pytest.param("token", "j", {"expires_at": math.nan}, id="expires-nan"),
        pytest.param("token", "j", {"expires_at": NOW}, id="expires-in-past"),
        pytest.param("token", "j", {"issuer": ""}, id="empty-issuer"),
        pytest.param("issuer", "https://a", {"issuer": "https://b"}, id="issuer-scope-differs"),
        pytest.param("user", "u", {}, id="unknown-kind"),
        pytest.param("token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", {}, id="whole-token"),
        pytest.param("token", "j", {"reason": "r" * 1025}, id="reason-too-long"),
        pytest.param("token", "j", {"actor": ""}, id="empty-actor"),
    ],
)
def test_new_rule_rejects_bad_input(kind: str, value: str, options: dict[str, Any]) -> None:
    """Bad input raises InvalidRule, a ValueError with a stable reason and a one-line message."""
    with pytest.raises(InvalidRule) as caught:
        new_rule(kind, value, now=NOW, limits=LIMITS, **options)
    assert isinstance(caught.value, ValueError)
    assert caught.value.reason == "invalid_rule"
    assert "\n" not in str(caught.value)
    assert str(caught.value)


def test_new_rule_rejects_a_nan_now() -> None:
    """A broken clock does not make a rule with a NaN time."""
    with pytest.raises(InvalidRule, match="now"):
        new_rule("token", "j", now=math.nan, limits=LIMITS)


def test_value_of_exactly_the_limit_is_accepted() -> None:
    """1024 characters is the longest value accepted."""
    assert new_rule("session", "s" * 1024, now=NOW, limits=LIMITS).value == "s" * 1024


def test_rule_constructor_requires_a_cutoff_for_cutoff_kinds() -> None:
    """A hand-built cut-off rule without cutoff is refused, so stores never hold one."""
    with pytest.raises(InvalidRule, match="cutoff"):
        Rule(kind=RuleKind.CLIENT, value="c", created_at=NOW)


@pytest.mark.parametrize("kind", list(RuleKind), ids=str)
def test_dict_round_trip_is_exact(kind: RuleKind) -> None:
    """to_dict survives JSON and from_dict rebuilds an equal rule, fractions included."""
    rule = new_rule(
        kind,
        "https://iss" if kind is RuleKind.ISSUER else "value-1",
        now=NOW + 0.123456789,
        limits=LIMITS,
        issuer=None if kind is RuleKind.ISSUER else "https://iss",
        cutoff=NOW - 0.1 if kind in CUTOFF_KINDS else None,
        reason="incident 42",
        actor="alice",
    )
    data = json.loads(json.dumps(rule.to_dict()))
    assert Rule.from_dict(data) == rule
    assert data["kind"] == kind.value


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"kind": "nope"}, id="unknown-kind"),
        pytest.param({"value": 5}, id="value-not-str"),
        pytest.param({"created_at": "yesterday"}, id="time-not-number"),
        pytest.param({"created_at": True}, id="time-bool"),
    ],
)
def test_from_dict_rejects_malformed_data(change: dict[str, Any]) -> None:
    """A malformed stored rule raises InvalidRule, never a bare KeyError or TypeError."""
    data = new_rule("token", "j", now=NOW, limits=LIMITS).to_dict() | change
    with pytest.raises(InvalidRule):
        Rule.from_dict(data)


def test_from_dict_names_a_missing_field() -> None:
    """A stored rule without a required field says which."""
    data = new_rule("token", "j", now=NOW, limits=LIMITS).to_dict()
    del data["actor"]
    with pytest.raises(InvalidRule, match="actor"):
        Rule.from_dict(data)


@pytest.mark.parametrize("kind", list(RuleKind), ids=str)
def test_reason_code_is_a_known_reason(kind: RuleKind) -> None:
    """Every kind's reason code is revoked_<kind> and is listed in the reason codes."""
    rule = new_rule(kind, "v", now=NOW, limits=LIMITS)
    assert rule.reason_code == f"revoked_{kind.value}"
    assert rule.reason_code in REASONS


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        pytest.param({"jti": "abc"}, "abc", id="jti"),
        pytest.param({}, hashlib.sha256(b"a.b").hexdigest(), id="no-jti"),
        pytest.param({"jti": ""}, hashlib.sha256(b"a.b").hexdigest(), id="empty-jti"),
        pytest.param({"jti": 7}, hashlib.sha256(b"a.b").hexdigest(), id="jti-not-str"),
    ],
)
def test_token_rule_value(claims: dict[str, Any], expected: str) -> None:
    """A token is revoked by its jti, else by its full SHA-256 hex (never the token itself)."""
    assert token_rule_value(claims, "a.b.c") == expected


def test_errors_map_like_the_rest_of_the_tree() -> None:
    """InvalidRule and RuleNotFound carry reason, status and exit code like every revoker error."""
    assert issubclass(InvalidRule, RevokerError)
    assert (InvalidRule.reason, InvalidRule.http_status) == ("invalid_rule", 400)
    assert issubclass(RuleNotFound, LookupError)
    assert issubclass(RuleNotFound, RevokerError)
    assert (RuleNotFound.reason, RuleNotFound.http_status) == ("rule_not_found", 404)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"limit": 0}, id="limit-zero"),
        pytest.param({"limit": 10_001}, id="limit-too-big"),
        pytest.param({"offset": -1}, id="negative-offset"),
    ],
)
def test_rule_filter_rejects_bad_paging(options: dict[str, int]) -> None:
    """A page must be 1..10000 rules from a non-negative offset."""
    with pytest.raises(InvalidRule):
        RuleFilter(**options)


def test_exports_are_sorted_and_complete() -> None:
    """revoker.core.registry exports exactly its documented names, sorted."""
    expected = {
        "LIFETIME_SETTING",
        "AuditEntry",
        "Change",
        "DuplicateRule",
        "InvalidRule",
        "Registry",
        "RegistryLimits",
        "Rule",
        "RuleFilter",
        "RuleKind",
        "RuleNotFound",
        "RuleStore",
        "deterministic_rule_id",
        "open_store",
    }
    assert set(revoker.core.registry.__all__) == expected  # ruff (RUF022) keeps it sorted
    assert len(revoker.core.registry.__all__) == len(expected)
    assert all(hasattr(revoker.core.registry, name) for name in expected)


def test_importing_the_registry_loads_no_store_backend() -> None:
    """Backends (and their drivers) load only when a store URL asks for them."""
    code = (
        "import sys, revoker.core.registry\n"
        "names = ('sqlite3', 'redis', 'psycopg', 'boto3',"
        " 'revoker.core.registry.stores.sqlite', 'revoker.core.registry.stores.memory')\n"
        "loaded = [m for m in names if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
