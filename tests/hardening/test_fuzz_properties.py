"""Properties, by hypothesis: for tokens genuinely signed with the right key but carrying any
header and claims, ``verify`` accepts (and then every policy check holds) or raises a
``TokenRejected`` with a known reason, never anything else; ``check`` never raises on any
text; ``/auth`` answers 200 or 401 to any header bytes; and rule matching agrees with a
plain reference model of the rules table in design.md."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from hardening_attacks import Kit
from hardening_forgery import seg, sign_segments
from hardening_support import T0, verifier_for
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from revoker.core.clock import FrozenClock
from revoker.core.errors import REASONS, TokenRejected
from revoker.core.registry import Registry, Rule, RuleKind
from revoker.core.registry.rules import CUTOFF_KINDS, signed_part_sha256
from revoker.core.registry.stores.memory import MemoryStore
from revoker.core.verify import VerifiedToken, Verifier
from revoker.service.app import build_app

FUZZ = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _or_odd(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes any JSON value: acceptance stays reachable."""
    return st.one_of(good, good, good, json_values)


def _times() -> st.SearchStrategy[int]:
    return st.integers(min_value=-90_000, max_value=90_000).map(lambda offset: T0 + offset)


def _header_fields(kit: Kit) -> dict[str, st.SearchStrategy[Any]]:
    algs = st.sampled_from(["ES256", "RS256", "PS256", "none", "HS256", "ES384", "EdDSA"])
    return {
        "alg": _or_odd(algs),
        "kid": _or_odd(st.sampled_from([kit.ec.kid, kit.rs.kid, "other"])),
        "typ": _or_odd(st.just("JWT")),
        "crit": json_values,
        "jku": st.just(kit.key_url + "/fuzz"),
        "jwk": json_values,
        "cty": _or_odd(st.sampled_from(["JWT", "json"])),
        "b64": st.booleans(),
    }


def _claim_fields(kit: Kit) -> dict[str, st.SearchStrategy[Any]]:
    client = kit.ec.client_id
    return {
        "iss": _or_odd(st.sampled_from([kit.ec.issuer, kit.rs.issuer, kit.ec.issuer + "/"])),
        "sub": _or_odd(st.sampled_from(["user-1", ""])),
        "aud": _or_odd(st.sampled_from([client, [client, "x"], ["x"]])),
        "client_id": _or_odd(st.sampled_from([client, "x"])),
        "token_use": _or_odd(st.sampled_from(["access", "id", "refresh"])),
        "exp": _or_odd(_times()),
        "iat": _or_odd(_times()),
        "nbf": _or_odd(_times()),
        "jti": _or_odd(st.text(max_size=8)),
        "origin_jti": _or_odd(st.text(max_size=8)),
        "extra": json_values,
    }


@st.composite
def _spoiled(
    draw: st.DrawFn, base: dict[str, Any], fields: dict[str, st.SearchStrategy[Any]]
) -> dict[str, Any]:
    """``base`` with up to three fields dropped or set to a drawn value."""
    spoiled = dict(base)
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3, unique=True)):
        if draw(st.booleans()):
            spoiled.pop(name, None)
        else:
            spoiled[name] = draw(fields[name])
    return spoiled


def headers(kit: Kit) -> st.SearchStrategy[dict[str, Any]]:
    """A genuine header with a few fields changed, or one made of drawn fields only."""
    fields = _header_fields(kit)
    genuine = {"alg": kit.ec.alg, "kid": kit.ec.kid}
    optional = {name: value for name, value in fields.items() if name != "alg"}
    wild = st.fixed_dictionaries({"alg": fields["alg"]}, optional=optional)
    return st.one_of(_spoiled(genuine, fields), wild)


def claims(kit: Kit) -> st.SearchStrategy[dict[str, Any]]:
    """Genuine access or ID claims with a few fields changed, or drawn claims only."""
    fields = _claim_fields(kit)
    genuine = st.sampled_from(["access", "id"]).map(kit.ec.base_claims)
    wild = st.fixed_dictionaries({}, optional=fields)
    return st.one_of(genuine.flatmap(lambda base: _spoiled(base, fields)), wild)


def assert_policy_holds(verifier: Verifier, verified: VerifiedToken) -> None:
    """What acceptance promises, checked independently of the verifier's own code."""
    policy, claims, now = verifier.policy, verified.claims, verifier.clock()
    assert verified.header["alg"] in policy.algorithms
    assert isinstance(verified.header["kid"], str)
    assert "crit" not in verified.header
    assert claims["iss"] in policy.issuers
    exp, iat = claims["exp"], claims["iat"]
    for value in (exp, iat, claims.get("nbf", 0)):
        assert type(value) in (int, float)
        assert math.isfinite(value)
    assert now < exp + policy.leeway_seconds
    assert iat <= now + policy.leeway_seconds
    assert claims.get("nbf", -math.inf) <= now + policy.leeway_seconds
    assert exp - iat <= policy.max_lifetime_seconds
    assert isinstance(claims["sub"], str)
    assert claims["sub"]
    assert policy.token_use is not None
    assert claims["token_use"] in policy.token_use
    audience = (
        [claims["client_id"]] if claims["token_use"] == "access" and "client_id" in claims else None
    )
    if audience is None:
        aud = claims.get("aud", claims.get("client_id"))
        audience = aud if isinstance(aud, list) else [aud]
    assert policy.audience is not None
    assert set(audience) & set(policy.audience)


@FUZZ
@given(data=st.data())
def test_any_signed_header_and_claims_are_accepted_soundly_or_rejected(
    kit: Kit, data: st.DataObject
) -> None:
    """Any signed header and claims: accepted only if every check holds, else TokenRejected."""
    verifier = verifier_for([kit.rs, kit.ec], kit.rs.clock)
    header, body = data.draw(headers(kit)), data.draw(claims(kit))
    token = sign_segments(seg(header), seg(body), kit.ec.key)
    rejected: str | None
    try:
        verified = verifier.verify(token)
    except TokenRejected as exc:
        rejected = exc.reason
    else:
        rejected = None
        assert_policy_holds(verifier, verified)
    event(f"rejected: {rejected}" if rejected else "accepted")
    assert rejected is None or rejected in REASONS


@FUZZ
@given(text=st.text(max_size=300), cut=st.integers(0, 800), insert=st.text(max_size=4))
def test_check_never_raises_on_any_text_or_mutated_token(
    kit: Kit, text: str, cut: int, insert: str
) -> None:
    """Authorizer.check answers any string, and any splice into a genuine token, with a reason."""
    authorizer = build_app_for(kit).state.authorizer
    genuine = kit.ec.access_token(jti="fixed", origin_jti="fixed")
    spliced = genuine[:cut] + insert + genuine[cut + len(insert) :]
    for token in (text, spliced):
        decision = authorizer.check(token)
        assert decision.reason in REASONS
        assert decision.allowed == (decision.reason == "allowed")
    if spliced == genuine:
        assert authorizer.check(spliced).allowed


def build_app_for(kit: Kit) -> Any:
    from hardening_support import state_for  # noqa: PLC0415 - beside its only callers

    app = build_app(state_for(verifier_for([kit.rs, kit.ec], kit.rs.clock), kit.rs.clock, kit.rs))
    app.state.registry.sync()  # what the app's start does, without the poll thread
    return app


async def _auth_status(app: Any, value: bytes) -> tuple[int, str]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/auth",
        "headers": [(b"authorization", value)],
    }
    await app(scope, receive, send)
    start = sent[0]
    challenge = dict(start["headers"]).get(b"www-authenticate", b"").decode()
    return start["status"], challenge


@FUZZ
@given(
    prefix=st.sampled_from([b"Bearer ", b"bearer ", b"BEARER\t", b"Bearer  ", b"Basic ", b""]),
    value=st.binary(max_size=200),
)
def test_auth_answers_200_or_401_to_any_header_bytes(kit: Kit, prefix: bytes, value: bytes) -> None:
    """The raw ASGI /auth path, fed any Authorization bytes: only 200 or 401, reason known."""
    app = build_app_for(kit)
    status, challenge = asyncio.run(_auth_status(app, prefix + value))
    assert status in (200, 401)
    if 'error_description="' in challenge:
        described = challenge.split('error_description="')[1].rstrip('"')
        assert described.split(":")[0] in REASONS


# -- rule matching against a reference model ------------------------------------------------

ISSUERS = ["https://a.example", "https://b.example"]
VALUES = ["v1", "v2"]


def reference_match(rule: Rule, claims: dict[str, Any], header: dict[str, Any], raw: str) -> bool:
    """design.md's rules table, written out plainly (claims are verified-shaped)."""
    iss = claims.get("iss")
    if rule.issuer is not None and rule.issuer != iss:
        return False
    kind = rule.kind
    if kind is RuleKind.KEY:
        return header.get("kid") == rule.value
    if kind is RuleKind.TOKEN:
        jti = claims.get("jti")
        return (jti if isinstance(jti, str) and jti else signed_part_sha256(raw)) == rule.value
    named = {RuleKind.FAMILY: "origin_jti", RuleKind.SESSION: "sid", RuleKind.SUBJECT: "sub"}
    if kind in named:
        hit = claims.get(named[kind]) == rule.value
    elif kind is RuleKind.EMAIL:
        email = claims.get("email")
        hit = isinstance(email, str) and email.lower() == rule.value
    elif kind is RuleKind.CLIENT:
        aud = claims.get("aud", [])
        clients = (
            [claims["client_id"]]
            if "client_id" in claims
            else aud
            if isinstance(aud, list)
            else [aud]
        )
        hit = rule.value in clients
    else:
        hit = iss == rule.value
    if kind not in CUTOFF_KINDS:
        return hit
    assert rule.cutoff is not None
    return hit and float(claims["iat"]) <= rule.cutoff


rules_strategy = st.lists(
    st.tuples(
        st.sampled_from(list(RuleKind)),
        st.sampled_from(VALUES + ISSUERS),
        st.sampled_from([None, *ISSUERS]),
        st.integers(-10, 10),
    ),
    max_size=6,
)
verified_claims = st.fixed_dictionaries(
    {"iss": st.sampled_from(ISSUERS), "iat": st.integers(T0 - 10, T0 + 10)},
    optional={
        name: st.sampled_from(VALUES) for name in ("jti", "origin_jti", "sid", "sub", "client_id")
    }
    | {"email": st.sampled_from(["v1", "V1", "v2"])}
    | {"aud": st.one_of(st.sampled_from(VALUES), st.lists(st.sampled_from(VALUES), max_size=3))},
)


@FUZZ
@given(specs=rules_strategy, claims=verified_claims, kid=st.sampled_from(VALUES))
def test_matching_agrees_with_the_reference_model(
    specs: list[tuple[RuleKind, str, str | None, int]], claims: dict[str, Any], kid: str
) -> None:
    """The replica revokes a token exactly when the reference model of the rules table does."""
    clock = FrozenClock(T0)
    registry = Registry(MemoryStore(), clock=clock)
    registry.sync()
    rules = []
    for kind, value, scope, cutoff in specs:
        # An issuer rule's scope is empty or its own value.
        issuer = (None if scope is None else value) if kind is RuleKind.ISSUER else scope
        cut = T0 + cutoff if kind in CUTOFF_KINDS else None
        rules.append(registry.revoke(kind, value, issuer=issuer, cutoff=cut))
    raw, header = "h.p.s", {"kid": kid, "alg": "RS256"}
    expected = {rule.id for rule in rules if reference_match(rule, claims, header, raw)}
    found = registry.match(claims, header, raw)
    assert (found is None) == (not expected)
    assert found is None or found.id in expected


@FUZZ
@given(claims=st.dictionaries(st.text(max_size=10), json_values, max_size=8), header=json_values)
def test_matching_never_raises_on_odd_claim_types(claims: dict[str, Any], header: Any) -> None:
    """Claims of any JSON shape never make matching raise, with a rule of every kind in place."""
    registry = Registry(MemoryStore(), clock=FrozenClock(T0))
    registry.sync()
    for kind in RuleKind:
        registry.revoke(kind, "https://a.example", cutoff=T0 if kind in CUTOFF_KINDS else None)
    header_map = header if isinstance(header, dict) else {}
    found = registry.match({"iss": "https://a.example", **claims}, header_map, "h.p.s")
    assert found is None or isinstance(found, Rule)


@pytest.mark.parametrize("kind", list(RuleKind), ids=str)
def test_the_reference_model_is_not_vacuous(kind: RuleKind) -> None:
    """Each kind's reference branch says yes for a token made to match it."""
    cutoff = float(T0) if kind in CUTOFF_KINDS else None
    value = ISSUERS[0] if kind is RuleKind.ISSUER else "v1"
    rule = Rule(kind=kind, value=value, cutoff=cutoff, created_at=T0)
    claims = {"iss": ISSUERS[0], "iat": T0, "jti": "v1", "origin_jti": "v1", "sid": "v1",
              "sub": "v1", "client_id": "v1", "email": "V1"}  # fmt: skip
    assert reference_match(rule, claims, {"kid": "v1"}, "h.p.s")
