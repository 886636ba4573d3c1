"""A SET in, a rule out: the receiving end of Shared Signals, for push and poll alike.

``SignalReceiver.receive(set_token, delivery)``:

1. verifies the SET (``core.security_event``, RFC 8417 as SSF 1.0 §4 profiles it) with a
   verifier of its own: the trusted transmitters are its issuers, their keys come from
   their SSF configuration's ``jwks_uri`` (``core.transmitter_keys``: the same cache
   and unknown-``kid`` cooldown as an issuer's), ``aud`` must name ``--ssf-audience``,
   and a SET older than ``--ssf-max-age`` is refused;
2. plans the event (``events``), refusing a complex subject with a member the
   transmitter marks critical that is not read here (SSF 1.0 §3.6);
3. applies the plan: ``Registry.ensure`` with one rule id per (transmitter, ``jti``), so a
   retry or a redelivery (a poller that died before acknowledging) creates nothing
   twice; the transmitter is the rule's actor and the audit's; the rule's reason names
   the event, its ``txn``, its subject and the transmitter's reasons. An event that
   makes no rule leaves nothing to deduplicate (applying it again does nothing again);
4. counts the outcome (``revoker_signals_total{source="ssf"}``), logs it with the
   SET's fingerprint (never the SET), and notes it in the source's health.

A refused SET raises ``SetRefused`` with RFC 8935's ``err`` code (``invalid_request``,
``invalid_key``, ``invalid_issuer``, ``invalid_audience``, SSF's ``invalid_state``),
and nothing is stored: its ``jti`` is not marked as seen, since only a stored rule
marks one. An outage (the keys or the store unreachable) raises its ``CannotDecide``
or ``StoreError``: the transmitter retries, nothing acknowledged is lost.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from revoker.app.logfields import fields
from revoker.app.signals.events import (
    EventPolicy,
    Plan,
    plan_for,
    short_name,
)
from revoker.app.signals.health import SourceHealth, SourceHealthBook
from revoker.app.signals.streams import StreamBook
from revoker.app.signals.subjects import MalformedSubject, Scope
from revoker.core.claims import VerificationPolicy
from revoker.core.errors import (
    BadSignature,
    CannotDecide,
    InvalidRule,
    RevokerError,
    StoreError,
    TokenRejected,
    UnknownKid,
    WrongAudience,
    WrongIssuer,
)
from revoker.core.jwks import HttpJwksFetcher, JwksCache, JwksFetcher
from revoker.core.security_event import SecurityEvent, SecurityEventVerifier
from revoker.core.tokens import DEFAULT_MAX_TOKEN_BYTES, parse_unverified, token_fingerprint
from revoker.core.transmitter_keys import TransmitterKeySource
from revoker.core.verify import Verifier

if TYPE_CHECKING:
    from revoker.app.operations import Operations
    from revoker.core.registry import Rule

__all__ = ["KeyFetcher", "Received", "SetRefused", "SignalReceiver", "ssf_rule_id"]

log = logging.getLogger("revoker.signals")

#: Complex-subject members this receiver reads (SSF 1.0 §3.3); ``format`` is the format.
_READ_MEMBERS = frozenset({"format", "user", "session"})


class SetRefused(Exception):
    """A SET this receiver will not apply: RFC 8935 §2.4's ``err`` and a description."""

    def __init__(self, err: str, description: str) -> None:
        super().__init__(description)
        self.err = err
        self.description = " ".join(description.split())[:300]


@dataclass(frozen=True, slots=True)
class Received:
    """What one SET did: its event, the plan, the rule (new or already there), the outcome
    label (``applied``, ``replay``, ``not_applied``, ``unsupported_event``,
    ``unsupported_subject``, ``verification``, ``stream_updated``)."""

    event: SecurityEvent
    plan: Plan
    outcome: str
    rule: Rule | None = None


def ssf_rule_id(transmitter: str, jti: str) -> str:
    """The one rule id of a SET: its transmitter and its ``jti`` (RFC 8417 §2.2 makes the
    pair unique), so every delivery of it finds the same rule."""
    digest = hashlib.sha256(f"ssf\0{transmitter}\0{jti}".encode("utf-8", "surrogatepass"))
    return "ss" + digest.hexdigest()[:30]


class KeyFetcher(HttpJwksFetcher):
    """``HttpJwksFetcher`` for keys and configurations, keeping no connection open between
    fetches (they are rare: a TTL of an hour, a cooldown), so an instance never closed (a
    Lambda container's) leaves no socket behind."""

    def __init__(self, *, timeout_seconds: float) -> None:
        import httpx  # noqa: PLC0415 - imported here so `import revoker` stays light

        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        super().__init__(timeout_seconds=timeout_seconds, client=self._http)

    def close(self) -> None:
        self._http.close()


def err_code(exc: TokenRejected) -> str:
    """RFC 8935 §2.4's code for a SET the profile refused."""
    if isinstance(exc, UnknownKid | BadSignature):
        return "invalid_key"
    if isinstance(exc, WrongIssuer):
        return "invalid_issuer"
    if isinstance(exc, WrongAudience):
        return "invalid_audience"
    return "invalid_request"


class SignalReceiver:
    """Receives SETs for the ``operations`` it applies them through (see the module doc)."""

    def __init__(
        self,
        operations: Operations,
        *,
        fetcher: JwksFetcher | None = None,
        streams: StreamBook | None = None,
    ) -> None:
        revoker = operations.revoker
        settings = revoker.settings
        self._operations = operations
        self._registry = revoker.registry
        self.clock = revoker.clock
        self.transmitters: tuple[str, ...] = settings.ssf_transmitters
        self.streams = streams or StreamBook(settings.ssf_streams_file)
        self.health = SourceHealthBook()
        self.policy = EventPolicy(credential_types=frozenset(settings.ssf_credential_types))
        self._critical: dict[str, frozenset[str]] = {}
        self._critical_lock = threading.Lock()
        self._own_fetcher = (
            KeyFetcher(timeout_seconds=settings.jwks_timeout_seconds) if fetcher is None else None
        )
        fetcher = fetcher or self._own_fetcher
        assert fetcher is not None  # noqa: S101 - one of the two
        caches = {
            transmitter: JwksCache(
                TransmitterKeySource.of(
                    transmitter, on_configuration=self._configuration_of(transmitter)
                ),
                fetcher=fetcher,
                cooldown_seconds=settings.jwks_cooldown_seconds,
                clock=self.clock,
            )
            for transmitter in self.transmitters
        }
        policy = VerificationPolicy(
            issuers=self.transmitters,
            audience=settings.ssf_receiver_audience(),
            algorithms=frozenset(settings.algorithms),
            leeway_seconds=settings.leeway_seconds,
            max_lifetime_seconds=settings.ssf_max_age_seconds,
            required_claims=(),
        )
        self.verifier = Verifier(policy, caches, clock=self.clock)
        self._events = SecurityEventVerifier(
            self.verifier,
            audience=settings.ssf_receiver_audience(),
            max_age_seconds=settings.ssf_max_age_seconds,
        )
        try:
            self._trusted = revoker.verifier.policy.issuers
        except Exception:  # noqa: BLE001 - a receiver without token issuers scopes nothing
            self._trusted = ()
        for transmitter in self.transmitters:
            self.health.declare(
                SourceHealth(
                    kind="ssf",
                    name=f"push from {transmitter}",
                    delivery="push",
                    transmitter=transmitter,
                )
            )

    def _configuration_of(self, transmitter: str) -> Any:
        def record(document: Mapping[str, Any]) -> None:
            members = document.get("critical_subject_members")
            names = (
                frozenset(m for m in members if isinstance(m, str))
                if isinstance(members, list)
                else frozenset()
            )
            with self._critical_lock:
                self._critical[transmitter] = names

        return record

    def warm(self) -> None:
        """Fetch every transmitter's configuration and keys now; failures are logged."""
        for transmitter, cache in self.verifier.keys.items():
            try:
                cache.warm()
            except CannotDecide as exc:
                log.warning("cannot load the keys of transmitter %s yet: %s", transmitter, exc)

    def close(self) -> None:
        """Close the HTTP client of the key fetches, if this receiver made it."""
        if self._own_fetcher is not None:
            self._own_fetcher.close()

    # -- receiving ------------------------------------------------------------------

    def receive(self, set_token: str, *, delivery: str, stream_id: str = "") -> Received:
        """Verify, plan and apply one SET (see the module docstring)."""
        observer = self._operations.revoker.observer
        fingerprint = token_fingerprint(set_token)
        issuer = ""
        try:
            event = self._events.verify(set_token)
            issuer = event.iss
            plan = self._plan(event)
            received = self._apply(event, plan, delivery)
        except SetRefused as exc:
            self._refused(exc, set_token, delivery=delivery, stream_id=stream_id, issuer=issuer)
            raise
        except TokenRejected as exc:
            refused = SetRefused(err_code(exc), f"{exc.reason}: {exc.detail}")
            self._refused(refused, set_token, delivery=delivery, stream_id=stream_id, issuer=issuer)
            raise refused from exc
        except (CannotDecide, StoreError) as exc:
            self.health.error(delivery, issuer or "?", stream_id, self.clock(), exc.reason)
            raise
        if observer is not None:
            observer.signal("ssf", received.outcome)
        self.health.event(delivery, event.iss, stream_id, self.clock())
        log.info(
            "security event received",
            extra=fields(transmitter=event.iss, jti=event.jti[:64], outcome=received.outcome,
                         event=short_name(event.event_type), delivery=delivery,
                         rule=received.rule.id if received.rule is not None else None,
                         token=fingerprint),
        )  # fmt: skip
        return received

    def _refused(
        self, refused: SetRefused, set_token: str, *, delivery: str, stream_id: str, issuer: str
    ) -> None:
        observer = self._operations.revoker.observer
        if observer is not None:
            observer.signal("ssf", "refused")
        fingerprint = token_fingerprint(set_token)
        issuer = issuer or self._claimed_transmitter(set_token)
        why = f"{refused.err}: {refused.description}"
        if issuer:
            self.health.error(delivery, issuer, stream_id, self.clock(), why)
        log.info(
            "security event refused",
            extra=fields(err=refused.err, detail=refused.description, delivery=delivery,
                         token=fingerprint),
        )  # fmt: skip

    def _claimed_transmitter(self, set_token: str) -> str:
        """The trusted transmitter a refused SET says it is from (unverified: only to note
        the refusal in that source's health), or ``""``."""
        try:
            claimed = parse_unverified(set_token, max_bytes=DEFAULT_MAX_TOKEN_BYTES).claims
        except RevokerError:
            return ""
        iss = claimed.get("iss")
        return iss if isinstance(iss, str) and iss in self.transmitters else ""

    def _plan(self, event: SecurityEvent) -> Plan:
        self._check_critical(event)
        scope = Scope(trusted=self._trusted, transmitter=event.iss)
        try:
            return plan_for(event, scope, self.policy, self.clock())
        except MalformedSubject as exc:
            raise SetRefused("invalid_request", str(exc)) from exc

    def _check_critical(self, event: SecurityEvent) -> None:
        """SSF 1.0 §3.6: discard an event whose complex subject holds a critical member this
        receiver cannot read."""
        with self._critical_lock:
            critical = self._critical.get(event.iss, frozenset())
        subject = event.sub_id if event.sub_id is not None else event.event.get("subject")
        if not critical or not isinstance(subject, dict) or subject.get("format") != "complex":
            return
        unread = sorted((critical & set(subject)) - _READ_MEMBERS)
        if unread:
            raise SetRefused(
                "invalid_request",
                f"the subject's member {unread[0]!r} is critical to the transmitter and is not "
                "read here (SSF 1.0 §3.6): the event is discarded",
            )

    def _apply(self, event: SecurityEvent, plan: Plan, delivery: str) -> Received:
        if plan.action == "verify":
            return self._verification(event, plan)
        if plan.action == "stream_updated":
            assert plan.stream_id is not None  # noqa: S101 - the plan names the stream
            self.streams.set_status(event.iss, plan.stream_id, plan.status or "")
            self.health.stream(event.iss, plan.stream_id, status=plan.status)
            log.warning(
                "the transmitter changed the stream's status",
                extra=fields(transmitter=event.iss, stream=plan.stream_id[:64],
                             status=plan.status, reason=plan.reason),
            )  # fmt: skip
            return Received(event, plan, "stream_updated")
        if plan.action == "ignore" or plan.target is None:
            log.info(
                "security event acknowledged, not applied",
                extra=fields(transmitter=event.iss, event=short_name(event.event_type),
                             outcome=plan.outcome, jti=event.jti[:64]),
            )  # fmt: skip
            return Received(event, plan, plan.outcome)
        target = plan.target
        try:
            rule, created = self._registry.ensure(
                target.kind,
                target.value,
                rule_id=ssf_rule_id(event.iss, event.jti),
                issuer=target.issuer,
                cutoff=plan.cutoff,
                reason=plan.reason,
                actor=event.iss[:256],
            )
        except InvalidRule as exc:
            raise SetRefused("invalid_request", f"the event names no usable rule: {exc}") from exc
        if created:
            from revoker.app.operations import RuleEvent  # noqa: PLC0415 - a cycle otherwise

            self._operations.rule_created(rule, RuleEvent("ssf"))
        return Received(event, plan, "applied" if created else "replay", rule)

    def _verification(self, event: SecurityEvent, plan: Plan) -> Received:
        assert plan.stream_id is not None  # noqa: S101 - the plan names the stream
        now = self.clock()
        verdict = self.streams.verified(event.iss, plan.stream_id, plan.state, now)
        if verdict == "mismatch":
            raise SetRefused(
                "invalid_state",
                "the verification event's state is not the one asked for (SSF 1.0 §8.1.4.1)",
            )
        self.health.stream(event.iss, plan.stream_id, verified_at=now)
        return Received(event, plan, "verification")
