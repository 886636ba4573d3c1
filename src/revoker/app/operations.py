"""The operations every transport calls, independent of HTTP, Lambda or the terminal.

- ``check``: a token's decision (the verified-token cache, then the rules).
- ``introspect``: RFC 7662's answer for a token.
- ``revoke_by_possession``: verify once, then make sure the token's own rule
  exists (its family, else itself), idempotently; never a second verification
  and never a match first, so a token that another rule denies today still gets
  the rule that outlives that one.
- ``create_rule``, ``list_rules``, ``get_rule``, ``lift_rule``, ``audit``: the
  admin API, with one JSON shape each and input checked the same way for every
  store (``{"rule": …}``, ``{"rules": […], "limit", "offset"}``, ``{"entries": […]}``).
- ``backchannel_logout``, ``receive_security_event`` (Shared Signals, pushed or polled)
  and ``global_token_revocation``: provider signals, turned into rules here
  (``app.signals``), never written another way.

Each raises an error of the one tree (``core.errors``); ``app.answers`` maps it to
an answer. Every rule created here goes through ``rule_created``: metrics, a log
line, and the hooks (API Gateway cache flush, Cognito pass-through) that the
composition installs, so a rule made by the CLI, the service, the Lambda or a
provider's logout event has the same effects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from revoker.app.identity import introspection_document
from revoker.app.logfields import fields
from revoker.app.requests import parse_json_object, query_bool, query_int
from revoker.core.errors import (
    BadRequest,
    ConfigurationError,
    InvalidRule,
    RevokerError,
    RuleNotFound,
    TokenRejected,
    UnsupportedMediaType,
)
from revoker.core.registry import Rule, RuleFilter, RuleKind
from revoker.core.registry.registry import deterministic_rule_id
from revoker.core.registry.rules import issuer_ended_expires_at, self_revocation, storable_text
from revoker.core.tokens import token_fingerprint

if TYPE_CHECKING:
    from revoker.app.access import Access
    from revoker.app.compose import Revoker
    from revoker.app.signals.gtr import GlobalTokenRevocation
    from revoker.app.signals.receiver import Received, SignalReceiver
    from revoker.core.authorizer import Decision
    from revoker.core.verify import VerifiedToken

__all__ = [
    "MAX_PAGE",
    "Observer",
    "Operations",
    "RevokeOutcome",
    "RuleEvent",
    "RuleHook",
    "parse_time",
]

log = logging.getLogger("revoker.operations")

MAX_PAGE = 1000
_MAX_OFFSET = 1_000_000_000
_MAX_REASON_LENGTH = 1024
_RULE_FIELDS = frozenset({"kind", "value", "issuer", "cutoff", "expires_at", "reason"})
_KINDS = ", ".join(kind.value for kind in RuleKind)


class Observer(Protocol):
    """What a transport counts (the service's Prometheus metrics implement it)."""

    def decision(self, endpoint: str, reason: str) -> None: ...

    def rule_change(self, action: Literal["revoke", "lift"]) -> None: ...

    def revocation_refused(self, reason: str) -> None: ...

    def signal(self, source: str, outcome: str) -> None:
        """A provider signal (``backchannel_logout`` …) was ``applied``, a ``replay`` or
        ``refused``."""


@dataclass(frozen=True, slots=True)
class RuleEvent:
    """How a rule came about, for the hooks that act on it."""

    source: str  # "admin", "self", "cli", "logout", "cloudtrail" …
    refresh_token: str | None = None  # the caller's, for Cognito RevokeToken
    client_id: str | None = None


#: Called after a rule is durably created; best effort (a failure is logged, not raised).
RuleHook = Callable[[Rule, RuleEvent], object]
#: Revokes a refresh token at its issuer, (refresh token, client id) -> the issuer did.
IssuerRevoker = Callable[[str, str], bool]


@dataclass(frozen=True, slots=True)
class RevokeOutcome:
    """What a revocation by possession did: the rule (new or already there), or why not."""

    rule: Rule | None
    created: bool = False
    refused: str | None = None  # the reason code of a token that revoked nothing
    verified: VerifiedToken | None = None


def parse_time(value: object, name: str, *, now: float) -> float:
    """Epoch seconds (a number), ``"now"``, or ISO 8601 (UTC when no zone is given)."""
    if isinstance(value, bool):
        raise InvalidRule(f"{name} must be epoch seconds or an ISO 8601 time")
    if isinstance(value, int | float):
        try:
            number = float(value)  # a JSON integer of 400 digits overflows here
        except OverflowError:
            number = math.inf
        if not math.isfinite(number) or number < 0:
            raise InvalidRule(f"{name} must be a finite, non-negative number of epoch seconds")
        return number
    if not isinstance(value, str):
        raise InvalidRule(f"{name} must be epoch seconds or an ISO 8601 time")
    text = value.strip()
    if text.lower() == "now":
        return now
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return parse_time(number, name, now=now)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRule(
            f"{name} {value[:64]!r} is not an ISO 8601 time (nor 'now' or epoch seconds)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _text(body: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRule(f"the field {name!r} is required")
        return None
    if not isinstance(value, str):
        raise InvalidRule(f"the field {name!r} must be a string")
    return value


def check_rule_value(name: str, value: str) -> None:
    """A value typed by a person that no token could ever carry is a mistake: refuse it."""
    if value != value.strip():
        raise InvalidRule(
            f"the {name} {value[:64]!r} starts or ends with white space, so it would match "
            "no token; remove it"
        )
    if any(not char.isprintable() for char in value):
        raise InvalidRule(f"the {name} holds a control character, so it would match no token")


class Operations:
    """The operations on one ``Revoker``; every transport calls these."""

    def __init__(self, revoker: Revoker) -> None:
        self._revoker = revoker
        self._hooks: list[RuleHook] = []
        self._issuer_revoker: IssuerRevoker | None = None
        self._signals_lock = threading.Lock()
        self._ssf: SignalReceiver | None = None
        self._gtr: GlobalTokenRevocation | None = None

    @property
    def revoker(self) -> Revoker:
        return self._revoker

    def add_rule_hook(self, hook: RuleHook) -> None:
        """Run ``hook(rule, event)`` after every rule created through these operations."""
        self._hooks.append(hook)

    def set_issuer_revoker(self, revoke: IssuerRevoker) -> None:
        """Revoke the caller's refresh token at the issuer *before* its family rule is
        written (pass-through), so that the rule, once the issuer confirms, need live one
        token lifetime only (``short_rules_when_issuer_revoked``)."""
        self._issuer_revoker = revoke

    # -- checks -------------------------------------------------------------------

    def check(self, token: str, *, endpoint: str = "check", prove_binding: bool = True) -> Decision:
        """The decision on ``token`` (never raises for any token input); a sender-constrained
        token without its proof is refused unless ``prove_binding`` is off (introspection)."""
        authorizer = self._revoker.require_authorizer()
        decision = authorizer.check(token, prove_binding=prove_binding)
        observer = self._revoker.observer
        if observer is not None:
            observer.decision(endpoint, decision.reason)
        return decision

    @staticmethod
    def decision_document(decision: Decision) -> dict[str, Any]:
        """The JSON shape of a decision (``/admin/check``, ``revoker check --json``)."""
        return {
            "allowed": decision.allowed,
            "reason": decision.reason,
            "detail": decision.detail,
            "rule": decision.rule.to_dict() if decision.rule is not None else None,
            "claims": dict(decision.claims) if decision.claims is not None else None,
        }

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662: ``{"active": true, …claims}``, or exactly ``{"active": false}`` for a
        token that is invalid, expired, revoked or undecidable. A sender-constrained token
        is active with its ``cnf`` (RFC 9449 §6.2): the resource server checks the proof."""
        decision = self.check(token, endpoint="introspect", prove_binding=False)
        if not decision.allowed or decision.claims is None:
            log.debug(
                "introspection: inactive",
                extra=fields(reason=decision.reason, token=token_fingerprint(token)),
            )
            return {"active": False}
        return introspection_document(decision.claims)

    # -- revocation by possession -------------------------------------------------

    def revoke_by_possession(
        self,
        token: str,
        *,
        actor: str | Callable[[VerifiedToken], str],
        reason: str = "revoked through /revoke (RFC 7009)",
        event: RuleEvent | None = None,
    ) -> RevokeOutcome:
        """Revoke a genuine token: its family when it has ``origin_jti``, else itself.

        Verifies once and never matches first: the token's own rule is made sure of
        even when another rule denies it now (that one may be lifted or expire while
        the token lives). Idempotent: a second call finds the rule and creates nothing.
        A token that does not verify revokes nothing: ``refused`` says why, the log
        and ``revocation_refused`` count it (RFC 7009 still answers 200). An outage
        (store, keys) raises: the token may be genuine.
        """
        authorizer = self._revoker.require_authorizer()
        try:
            verified = authorizer.verify_for_revocation(token)
        except TokenRejected as exc:
            log.info(
                "nothing revoked: the token was refused",
                extra=fields(reason=exc.reason, detail=exc.detail, token=token_fingerprint(token)),
            )
            observer = self._revoker.observer
            if observer is not None:
                observer.revocation_refused(exc.reason)
            return RevokeOutcome(None, refused=exc.reason)
        who = actor(verified) if callable(actor) else actor
        who = storable_text(who)[:256]  # a sub may hold what no store keeps
        event = event or RuleEvent("self")
        if event.client_id is None:  # the client the token was issued to
            client = verified.claims.get("client_id") or verified.claims.get("aud")
            if isinstance(client, str):
                event = dataclasses.replace(event, client_id=client)
        expires_at, event = self._end_sign_in_at_issuer(verified, event)
        rule, created = authorizer.revoke_verified(
            verified, actor=who, reason=reason, expires_at=expires_at
        )
        if created:
            self.rule_created(rule, event, token=token)
        else:
            log.info(
                "already revoked",
                extra=fields(rule=rule.id, kind=str(rule.kind), token=token_fingerprint(token)),
            )
        return RevokeOutcome(rule, created=created, verified=verified)

    def _end_sign_in_at_issuer(
        self, verified: VerifiedToken, event: RuleEvent
    ) -> tuple[float | None, RuleEvent]:
        """For a new family rule with the caller's refresh token: revoke that at the issuer
        first. Once the issuer has, it mints no new token of the family, so the rule may
        expire one token lifetime from now; else (or when the rule exists, or the issuer
        refused) the family lifetime. The event goes on without the refresh token, so no
        hook hands it to the issuer twice."""
        refresh, client, revoke = event.refresh_token, event.client_id, self._issuer_revoker
        if refresh is None or client is None or revoke is None:
            return None, event
        registry = self._revoker.registry
        kind, value, _ = self_revocation(verified, registry.limits)
        if kind is not RuleKind.FAMILY:
            return None, event
        existing = registry.get(deterministic_rule_id(kind, value, verified.issuer, "self"))
        now = registry.clock()
        if existing is not None and (existing.expires_at is None or existing.expires_at > now):
            return None, event  # revoked before: once in its effect on the issuer
        event = dataclasses.replace(event, refresh_token=None)
        short = self._revoker.settings.short_rules_when_issuer_revoked
        if not revoke(refresh, client) or not short:
            return None, event
        return issuer_ended_expires_at(now, registry.limits), event

    # -- rules ----------------------------------------------------------------------

    def create_rule(
        self, body: Mapping[str, Any], *, actor: str, event: RuleEvent | None = None
    ) -> Rule:
        """A rule from an admin request's fields (JSON or the CLI's), durably stored."""
        unknown = sorted(set(body) - _RULE_FIELDS)
        if unknown:
            raise InvalidRule(f"unknown field {unknown[0][:64]!r}: expected {sorted(_RULE_FIELDS)}")
        kind = _text(body, "kind", required=True)
        if kind not in {k.value for k in RuleKind}:
            raise InvalidRule(f"unknown rule kind {str(kind)[:64]!r}: expected one of {_KINDS}")
        value = _text(body, "value", required=True)
        assert value is not None  # noqa: S101 - required=True
        check_rule_value("value", value)
        issuer = _text(body, "issuer", required=False)
        if issuer is not None:
            self._check_issuer_scope(issuer)
        reason = _text(body, "reason", required=False) or ""
        registry = self._revoker.registry
        now = registry.clock()
        times = {
            name: parse_time(body[name], name, now=now) if body.get(name) is not None else None
            for name in ("cutoff", "expires_at")
        }
        rule = registry.revoke(
            RuleKind(kind),
            value,
            issuer=issuer,
            cutoff=times["cutoff"],
            expires_at=times["expires_at"],
            reason=reason,
            actor=actor,
        )
        self.rule_created(rule, event or RuleEvent("admin"))
        return rule

    def _check_issuer_scope(self, issuer: str) -> None:
        check_rule_value("issuer", issuer)
        authorizer = self._revoker.authorizer
        try:
            trusted = (
                authorizer.verifier.policy.issuers
                if authorizer is not None
                else self._revoker.settings.trusted_issuers()
            )
        except ConfigurationError:
            return  # a process that trusts no issuer (``revoker revoke`` alone) cannot tell
        if issuer not in trusted:
            raise InvalidRule(
                f"the issuer {issuer[:96]!r} is not a trusted issuer, so the rule would match "
                f"no token; trusted: {', '.join(trusted)}"
            )

    def rule_created(self, rule: Rule, event: RuleEvent, *, token: str | None = None) -> None:
        """Count, log and hand a new rule to the hooks (best effort: it is durable already)."""
        observer = self._revoker.observer
        if observer is not None:
            observer.rule_change("revoke")
        values = {"rule": rule.id, "kind": str(rule.kind), "actor": rule.actor}
        values["source"] = event.source
        if token is not None:
            values["token"] = token_fingerprint(token)
        log.info("token revoked" if token is not None else "rule created", extra=fields(**values))
        for hook in self._hooks:
            try:
                hook(rule, event)
            except Exception:
                log.exception("a rule hook failed for rule %s", rule.id)

    def list_rules(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``?kind=&value=&issuer=&include_expired=&limit=&offset=`` -> one page, oldest first."""
        kind = query.get("kind") or None
        if kind is not None and kind not in {k.value for k in RuleKind}:
            raise InvalidRule(f"unknown rule kind {kind[:64]!r}: expected one of {_KINDS}")
        for name in ("value", "issuer"):
            if "\x00" in query.get(name, ""):  # no rule holds one (PostgreSQL cannot)
                raise InvalidRule(f"the {name} filter holds a NUL character, which no rule has")
        rule_filter = RuleFilter(
            kind=RuleKind(kind) if kind else None,
            value=query.get("value") or None,
            issuer=query.get("issuer") or None,
            include_expired=query_bool(query, "include_expired"),
            limit=query_int(query, "limit", 100, 1, MAX_PAGE),
            offset=query_int(query, "offset", 0, 0, _MAX_OFFSET),
        )
        rules = self._revoker.registry.rules(rule_filter)
        return {
            "rules": [rule.to_dict() for rule in rules],
            "limit": rule_filter.limit,
            "offset": rule_filter.offset,
        }

    def get_rule(self, rule_id: str) -> Rule:
        rule = self._revoker.registry.get(rule_id) if "\x00" not in rule_id else None
        if rule is None:
            raise RuleNotFound(f"no rule has the id {rule_id[:64]!r}")
        return rule

    def lift_rule(self, rule_id: str, *, reason: str, actor: str) -> Rule:
        """Lift an active rule; its tokens are allowed again (``RuleNotFound``: 404)."""
        if len(reason) > _MAX_REASON_LENGTH:
            raise InvalidRule(f"reason is longer than {_MAX_REASON_LENGTH} characters")
        if "\x00" in rule_id:  # no id holds one; PostgreSQL would fail on it (a 503)
            raise RuleNotFound(f"no rule has the id {rule_id[:64]!r}")
        rule = self._revoker.registry.lift(rule_id, actor=actor, reason=reason)
        observer = self._revoker.observer
        if observer is not None:
            observer.rule_change("lift")
        log.info("rule lifted", extra=fields(rule=rule.id, kind=str(rule.kind), actor=actor))
        return rule

    # -- provider signals -----------------------------------------------------------

    def backchannel_logout(self, logout_token: str) -> tuple[Rule, bool]:
        """OIDC Back-Channel Logout 1.0: a ``sid`` gives a session rule scoped to the
        issuer; a ``sub`` alone, a subject cut-off at the token's ``iat``. The issuer is
        the actor. One rule per (issuer, jti): a replay finds it and creates nothing.
        A token that fails §2.6 raises its ``TokenRejected`` error (the caller answers 400).
        """
        from revoker.core.logout_token import LogoutTokenVerifier  # noqa: PLC0415

        settings = self._revoker.settings
        verifier = LogoutTokenVerifier(self._revoker.verifier, audience=settings.logout_audience())
        observer = self._revoker.observer
        try:
            logout = verifier.verify(logout_token)
        except TokenRejected as exc:
            log.info(
                "back-channel logout refused",
                extra=fields(reason=exc.reason, detail=exc.detail,
                             token=token_fingerprint(logout_token)),
            )  # fmt: skip
            if observer is not None:
                observer.signal("backchannel_logout", "refused")
            raise
        registry = self._revoker.registry
        # One rule per session (any number of logouts of it), one per subject logout event.
        actor = logout.iss[:256]
        if logout.sid is not None:
            # The issuer ended the session: it mints no new token of it (§2.7), so the
            # rule need outlive only the tokens issued before now.
            short = settings.short_rules_when_issuer_revoked
            rule, created = registry.ensure(
                RuleKind.SESSION,
                logout.sid,
                tag="bcl",
                issuer=logout.iss,
                expires_at=issuer_ended_expires_at(registry.clock(), registry.limits)
                if short
                else None,
                reason="OIDC back-channel logout (sid)",
                actor=actor,
            )
        else:
            assert logout.sub is not None  # noqa: S101 - the profile requires sub or sid
            rule, created = registry.ensure(
                RuleKind.SUBJECT,
                logout.sub,
                tag=f"bcl\0{logout.jti}",
                issuer=logout.iss,
                cutoff=min(logout.iat, registry.clock()),
                reason="OIDC back-channel logout (sub)",
                actor=actor,
            )
        if created:
            self.rule_created(rule, RuleEvent("logout"))
        else:
            log.info(
                "back-channel logout replayed", extra=fields(rule=rule.id, jti=logout.jti[:64])
            )
        if observer is not None:
            observer.signal("backchannel_logout", "applied" if created else "replay")
        return rule, created

    def ssf(self) -> SignalReceiver:
        """The Shared Signals receiver, built on first use (``ConfigurationError`` when no
        transmitter is trusted, or a SET could name no audience)."""
        with self._signals_lock:
            if self._ssf is None:
                if not self._revoker.settings.ssf_enabled:
                    raise ConfigurationError("no Shared Signals transmitter is trusted")
                from revoker.app.signals.receiver import SignalReceiver  # noqa: PLC0415

                self._ssf = SignalReceiver(self)
            return self._ssf

    def gtr(self) -> GlobalTokenRevocation:
        """The Global Token Revocation endpoint's logic, built on first use."""
        with self._signals_lock:
            if self._gtr is None:
                from revoker.app.signals.gtr import GlobalTokenRevocation  # noqa: PLC0415

                self._gtr = GlobalTokenRevocation(self)
            return self._gtr

    def install_signals(
        self,
        *,
        ssf: SignalReceiver | None = None,
        gtr: GlobalTokenRevocation | None = None,
    ) -> None:
        """Use these instead of the ones built from the settings (tests: another fetcher)."""
        with self._signals_lock:
            self._ssf = ssf or self._ssf
            self._gtr = gtr or self._gtr

    def close_signals(self) -> None:
        """Close the signal receivers' HTTP clients (the revoker closes the rest)."""
        with self._signals_lock:
            ssf, gtr, self._ssf, self._gtr = self._ssf, self._gtr, None, None
        if ssf is not None:
            ssf.close()
        if gtr is not None:
            gtr.close()

    def receive_security_event(
        self, set_token: str, *, delivery: str = "push", stream_id: str = ""
    ) -> Received:
        """Shared Signals: one SET, verified and applied (``app.signals.receiver``); a refused
        one raises ``SetRefused`` (RFC 8935 ``err``) and stores nothing."""
        return self.ssf().receive(set_token, delivery=delivery, stream_id=stream_id)

    def global_token_revocation(
        self,
        body: bytes,
        *,
        content_type: str | None,
        authorization: str | None,
        client: str,
        access: Access,
    ) -> tuple[Rule, bool]:
        """Global Token Revocation: authenticate the caller, then read the JSON body and cut
        its subject off (``app.signals.gtr``). A body that is not JSON is a 400, whatever
        its media type (the draft's answers have no 415)."""
        gtr = self.gtr()
        caller = gtr.authenticate(access, authorization, client)
        try:
            document = parse_json_object(body, content_type)
        except UnsupportedMediaType as exc:
            raise BadRequest(exc.detail) from exc
        return gtr.revoke(document, caller)

    def audit(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``?limit=&since_seq=`` -> ``{"entries": […]}``, oldest first."""
        limit = query_int(query, "limit", 100, 1, MAX_PAGE)
        since = query_int(query, "since_seq", 0, 0, 2**62)
        entries = self._revoker.registry.audit(limit=limit, since_seq=since)
        return {"entries": [entry.to_dict() for entry in entries]}


def describe_error(exc: RevokerError) -> str:
    """One line for a log: the reason code and its detail."""
    return f"{exc.reason}: {exc.detail}"


def required_token(form: Mapping[str, str]) -> str:
    token = form.get("token", "")
    if not token:
        raise BadRequest("the 'token' parameter is required")
    return token
