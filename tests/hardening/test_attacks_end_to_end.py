"""Every hostile token of the catalogue, denied with its reason code: at unit level, through
``/auth`` of the app on a real uvicorn on loopback, and through a real ``revoker serve``
process. Always a 401, never a 5xx, and within ``AUTH_DEADLINE_SECONDS``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from hardening_attacks import ALG_AND_KEY_CASES, Case, Kit
from hardening_claims import ALLOWED_EDGES, CLAIM_CASES, ENCODING_CASES
from hardening_support import (
    AUTH_DEADLINE_SECONDS,
    JwksServer,
    Serve,
    ServeProcess,
    ask_auth,
)

from revoker.core.clock import FrozenClock
from revoker.core.errors import REASONS, TokenRejected
from revoker.core.tokens import token_fingerprint
from revoker.service.app import RevokerApp
from revoker.service.http_limits import DEFAULT_MAX_HEADER_BYTES

DENIALS = ALG_AND_KEY_CASES + ENCODING_CASES + CLAIM_CASES


def params(cases: list[Case]) -> list[object]:
    return [pytest.param(case, id=case.id) for case in cases]


def as_text(token: str | bytes) -> str:
    # /auth reads header bytes as latin-1; the unit level sees the same string.
    return token.decode("latin-1") if isinstance(token, bytes) else token


#: Reasons a Bearer token at /auth cannot earn: a DPoP proof's, and those of the logout-token
#: and security-event profiles. Their own suites cover them (test_dpop.py,
#: test_logout_token.py, test_security_event.py).
OTHER_PROFILE_REASONS = {"invalid_dpop_proof", "invalid_logout_token", "invalid_security_event"}
#: Reasons of the check's binding step: the token verifies, its presentation is refused.
BINDING_REASONS = {"sender_constrained"}


def test_the_catalogue_has_unique_ids_and_covers_every_token_reason() -> None:
    """Each case is named once, and every reason a bad token can earn is earned by some case."""
    ids = [case.id for case in DENIALS + ALLOWED_EDGES]
    assert len(ids) == len(set(ids))
    token_reasons = {cls.reason for cls in _subclasses(TokenRejected) if cls.reason in REASONS}
    bearer_reasons = token_reasons - OTHER_PROFILE_REASONS
    assert bearer_reasons - {case.reason for case in DENIALS} == set()


def _subclasses(cls: type[TokenRejected]) -> Iterator[type[TokenRejected]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


@pytest.mark.parametrize("case", params(DENIALS))
def test_denied_at_unit_level(case: Case, kit: Kit, make_app: Callable[..., RevokerApp]) -> None:
    """The authorizer denies the token with the case's reason, and verify raises TokenRejected."""
    token = as_text(case.build(kit))
    authorizer = make_app(case.service).state.authorizer
    decision = authorizer.check(token)
    assert (decision.allowed, decision.reason) == (False, case.reason)
    if case.reason in BINDING_REASONS:  # genuine and valid: only its presentation is refused
        assert authorizer.verifier.verify(token).binding is not None
        return
    with pytest.raises(TokenRejected) as info:
        authorizer.verifier.verify(token)
    assert info.value.reason == case.reason


@pytest.mark.parametrize("case", params(DENIALS))
def test_denied_through_auth(
    case: Case, kit: Kit, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """/auth answers 401 with the reason in WWW-Authenticate, in bounded time."""
    token = case.build(kit)
    with serve(make_app(case.service)) as client:
        answer = ask_auth(client, token)
    assert answer.status == 401, answer
    assert answer.reason == case.reason
    assert answer.challenge.startswith('Bearer error="invalid_token"')
    assert answer.seconds < AUTH_DEADLINE_SECONDS


@pytest.mark.parametrize("case", params(ALLOWED_EDGES))
def test_just_inside_each_edge_is_allowed(
    case: Case, kit: Kit, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """The checks are not stricter than documented: tokens just inside each edge pass."""
    with serve(make_app(case.service)) as client:
        answer = ask_auth(client, case.build(kit))
    assert (answer.status, answer.reason) == (200, "allowed")


def test_a_flood_of_hostile_tokens_leaves_the_service_answering(
    kit: Kit, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """Every default-policy case three times over on one connection: 401s, then a 200."""
    cases = [case for case in DENIALS if case.service == "default"]
    tokens = [case.build(kit) for case in cases]
    with serve(make_app()) as client:
        started = time.perf_counter()
        for _ in range(3):
            for case, token in zip(cases, tokens, strict=True):
                assert ask_auth(client, token).reason == case.reason
        elapsed = time.perf_counter() - started
        assert ask_auth(client, kit.rs.access_token()).status == 200
    assert elapsed < len(tokens) * 3 * 0.05  # 50 ms a request on average, at worst


@pytest.fixture
def wall_clock_kit(kit: Kit) -> Kit:
    """The kit on the wall clock, for a process that reads its own."""
    kit.rs.clock = kit.ec.clock = FrozenClock(time.time())
    return kit


@pytest.fixture
def process_url(wall_clock_kit: Kit, tmp_path: object) -> Iterator[tuple[str, ServeProcess]]:
    """``revoker serve`` trusting both issuers through one loopback JWKS URL, memory store."""
    kit = wall_clock_kit
    document = {"keys": kit.rs.jwks()["keys"] + kit.ec.jwks()["keys"]}
    with JwksServer(document) as jwks:
        process = ServeProcess(
            "--issuer", kit.rs.issuer, "--issuer", kit.ec.issuer,
            "--jwks-url", jwks.url + "/jwks.json", "--audience", kit.rs.client_id,
            "--algorithm", "RS256", "--algorithm", "ES256", "--store", "memory://",
        )  # fmt: skip
        try:
            yield process.wait_ready(), process
            assert process.stop() == 0
        finally:
            process.kill()


def test_denied_through_a_real_revoker_serve_process(
    wall_clock_kit: Kit, process_url: tuple[str, ServeProcess]
) -> None:
    """The same attacks against `revoker serve`: 401 and the reason (431 for a token past the
    HTTP head limit); no token in its log."""
    import httpx  # noqa: PLC0415 - the one test that needs its own client

    url, process = process_url
    cases = [c for c in DENIALS if c.anywhere and c.service == "default"]
    tokens = [c.build(wall_clock_kit) for c in cases]
    with httpx.Client(base_url=url, timeout=10) as client:
        assert ask_auth(client, wall_clock_kit.rs.access_token()).status == 200
        for case, token in zip(cases, tokens, strict=True):
            answer = ask_auth(client, token)
            if len(token) > DEFAULT_MAX_HEADER_BYTES:  # the HTTP layer refuses the head first
                assert answer.status == 431, case.id
                continue
            assert (answer.status, answer.reason) == (401, case.reason), case.id
            assert answer.seconds < AUTH_DEADLINE_SECONDS, case.id
    log = "\n".join(process.stderr)
    assert "Traceback" not in log
    for token in tokens:
        text = as_text(token)
        assert len(text) < 60 or text[-60:] not in log, token_fingerprint(text)
