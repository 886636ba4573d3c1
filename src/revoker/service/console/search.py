"""Searching rules and the audit log, one page at a time, for the console's tables.

Kind, value, issuer and "include expired" go to the store (``RuleFilter``), as the
admin API's ``GET /admin/rules`` does; actor, reason, created and expiring are
compared here, over a bounded scan of the store's pages (``MAX_SCAN`` rules), and
the page says when the scan stopped before the end. Rules come oldest first, as
every store lists them.

The audit log is shown newest first: it is read backwards from the replica's
sequence in windows of ``AUDIT_WINDOW`` sequence numbers (each window is one store
call, since no two entries share a sequence), at most ``MAX_AUDIT_WINDOWS`` of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from revoker.app.operations import parse_time
from revoker.core.errors import InvalidRule
from revoker.core.registry import AuditEntry, Registry, Rule, RuleFilter, RuleKind

__all__ = [
    "AUDIT_WINDOW",
    "MAX_AUDIT_WINDOWS",
    "MAX_SCAN",
    "PAGE_SIZE",
    "AuditPage",
    "AuditSearch",
    "RulePage",
    "RuleSearch",
    "audit_entries",
    "search_audit",
    "search_rules",
]

PAGE_SIZE = 25
SCAN_PAGE = 1000
MAX_SCAN = 20_000
AUDIT_WINDOW = 1000
MAX_AUDIT_WINDOWS = 50
_MAX_PAGE_NUMBER = 10_000
_DAY = 86400.0


def _time(raw: str, name: str, *, now: float, end_of_day: bool = False) -> float | None:
    """A date (``2026-05-01``, the day's start or, for an upper bound, its end), an ISO 8601
    time, epoch seconds or ``now``; empty is None. ``InvalidRule`` names the field."""
    text = raw.strip()
    if not text:
        return None
    moment = parse_time(text, name, now=now)
    is_date = len(text) == 10 and text[4] == "-" and text[7] == "-"
    return moment + _DAY if end_of_day and is_date else moment


def _page_number(raw: str) -> int:
    text = raw.strip()
    if not text:
        return 1
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise InvalidRule("page must be a whole number")
    return max(1, min(int(text), _MAX_PAGE_NUMBER))


def _contains(needle: str, haystack: str) -> bool:
    return needle.casefold() in haystack.casefold()


@dataclass(frozen=True, slots=True)
class RuleSearch:
    """The rules table's filters, as typed in its form (the query string)."""

    kind: str = ""
    value: str = ""
    issuer: str = ""
    actor: str = ""
    reason: str = ""
    created_from: str = ""
    created_to: str = ""
    expiring_before: str = ""
    include_expired: bool = False
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> RuleSearch:
        kind = query.get("kind", "").strip()
        if kind and kind not in {k.value for k in RuleKind}:
            raise InvalidRule(f"unknown rule kind {kind[:32]!r}")
        return cls(
            kind=kind,
            value=query.get("value", "").strip(),
            issuer=query.get("issuer", "").strip(),
            actor=query.get("actor", "").strip(),
            reason=query.get("reason", "").strip(),
            created_from=query.get("created_from", "").strip(),
            created_to=query.get("created_to", "").strip(),
            expiring_before=query.get("expiring_before", "").strip(),
            include_expired=query.get("include_expired", "") in ("1", "on", "true"),
            page=_page_number(query.get("page", "")),
        )

    def query(self, **changes: object) -> dict[str, str]:
        """The filters as query parameters (empty ones left out), with ``changes``."""
        values = {**dataclasses.asdict(self), **changes}
        shown = {name: str(value) for name, value in values.items() if value not in ("", False)}
        if shown.get("include_expired") == "True":
            shown["include_expired"] = "1"
        if shown.get("page") == "1":
            del shown["page"]
        return shown

    @property
    def filtered_here(self) -> bool:
        """Whether some filter is compared here rather than by the store."""
        return any(
            (self.actor, self.reason, self.created_from, self.created_to, self.expiring_before)
        )

    @property
    def any_filter(self) -> bool:
        return bool(self.kind or self.value or self.issuer or self.include_expired) or (
            self.filtered_here
        )


@dataclass(frozen=True, slots=True)
class RulePage:
    rules: list[Rule]
    first: int  # the 1-based position of the first rule shown
    has_next: bool
    scanned: int  # how many rules were read to find this page
    truncated: bool  # the scan stopped at MAX_SCAN before reaching the end


def _rule_matcher(search: RuleSearch, now: float) -> Callable[[Rule], bool]:
    created_from = _time(search.created_from, "created from", now=now)
    created_to = _time(search.created_to, "created to", now=now, end_of_day=True)
    expiring = _time(search.expiring_before, "expiring before", now=now, end_of_day=True)

    def matches(rule: Rule) -> bool:
        if search.actor and not _contains(search.actor, rule.actor):
            return False
        if search.reason and not _contains(search.reason, rule.reason):
            return False
        if created_from is not None and rule.created_at < created_from:
            return False
        if created_to is not None and rule.created_at >= created_to:
            return False
        return expiring is None or (rule.expires_at is not None and rule.expires_at < expiring)

    return matches


def search_rules(registry: Registry, search: RuleSearch, *, page_size: int = PAGE_SIZE) -> RulePage:
    """One page of the rules ``search`` asks for (blocking: a store call or a few)."""
    store_filter = RuleFilter(
        kind=RuleKind(search.kind) if search.kind else None,
        value=search.value or None,
        issuer=search.issuer or None,
        include_expired=search.include_expired,
        limit=page_size + 1,
        offset=(search.page - 1) * page_size,
    )
    start = (search.page - 1) * page_size
    if not search.filtered_here:
        rules = registry.rules(store_filter)
        return RulePage(
            rules[:page_size], start + 1, len(rules) > page_size, len(rules), truncated=False
        )
    matches = _rule_matcher(search, registry.clock())
    found: list[Rule] = []
    scanned, offset, exhausted = 0, 0, False
    while scanned < MAX_SCAN and len(found) <= start + page_size:
        batch = registry.rules(dataclasses.replace(store_filter, limit=SCAN_PAGE, offset=offset))
        scanned += len(batch)
        found.extend(rule for rule in batch if matches(rule))
        if len(batch) < SCAN_PAGE:
            exhausted = True
            break
        offset += SCAN_PAGE
    shown = found[start : start + page_size]
    has_next = len(found) > start + page_size
    return RulePage(shown, start + 1, has_next, scanned, truncated=not exhausted and not has_next)


@dataclass(frozen=True, slots=True)
class AuditSearch:
    """The audit table's filters; ``before`` is the cursor (entries with a smaller seq)."""

    action: Literal["", "revoke", "lift"] = ""
    actor: str = ""
    kind: str = ""
    value: str = ""
    rule: str = ""
    reason: str = ""
    since: str = ""
    until: str = ""
    before: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AuditSearch:
        action = query.get("action", "").strip()
        if action not in ("", "revoke", "lift"):
            raise InvalidRule("action must be revoke or lift")
        kind = query.get("kind", "").strip()
        if kind and kind not in {k.value for k in RuleKind}:
            raise InvalidRule(f"unknown rule kind {kind[:32]!r}")
        before_raw = query.get("before", "").strip()
        if before_raw and not (
            before_raw.isascii() and before_raw.isdigit() and len(before_raw) < 19
        ):
            raise InvalidRule("before must be a sequence number")
        return cls(
            action=action,  # type: ignore[arg-type]  # checked above
            actor=query.get("actor", "").strip(),
            kind=kind,
            value=query.get("value", "").strip(),
            rule=query.get("rule", "").strip(),
            reason=query.get("reason", "").strip(),
            since=query.get("since", "").strip(),
            until=query.get("until", "").strip(),
            before=int(before_raw) if before_raw else None,
        )

    def query(self, **changes: object) -> dict[str, str]:
        values = {**dataclasses.asdict(self), **changes}
        return {name: str(value) for name, value in values.items() if value not in ("", None)}

    @property
    def any_filter(self) -> bool:
        return any((self.action, self.actor, self.kind, self.value, self.rule, self.reason,
                    self.since, self.until))  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before: int | None  # the cursor of the next (older) page, None at the end
    truncated: bool  # the backward scan stopped at MAX_AUDIT_WINDOWS


def _entries_backwards(registry: Registry, before: int | None) -> Iterator[AuditEntry | None]:
    """Audit entries newest first, below ``before``; a None marks the scan's bound."""
    top = max(registry.replica.seq, 0)
    if before is None:
        # What the replica has not caught up with yet (a write a moment ago), newest first.
        newer = registry.audit(limit=AUDIT_WINDOW, since_seq=top)
        yield from reversed(newer)
        high = top + 1
    else:
        high = min(before, top + 1)
        if before > top + 1:
            newer = [e for e in registry.audit(limit=AUDIT_WINDOW, since_seq=top) if e.seq < before]
            yield from reversed(newer)
    for _ in range(MAX_AUDIT_WINDOWS):
        if high <= 1:
            return
        low = max(0, high - 1 - AUDIT_WINDOW)
        window = [e for e in registry.audit(limit=AUDIT_WINDOW, since_seq=low) if e.seq < high]
        yield from reversed(window)
        high = low + 1
    yield None


def _audit_matcher(search: AuditSearch, now: float) -> Callable[[AuditEntry], bool]:
    since = _time(search.since, "since", now=now)
    until = _time(search.until, "until", now=now, end_of_day=True)

    def matches(entry: AuditEntry) -> bool:
        checks = (
            not search.action or entry.action == search.action,
            not search.actor or _contains(search.actor, entry.actor),
            not search.kind or entry.kind == search.kind,
            not search.value or entry.value == search.value,
            not search.rule or entry.rule_id.startswith(search.rule),
            not search.reason or _contains(search.reason, entry.reason),
            since is None or entry.at >= since,
            until is None or entry.at < until,
        )
        return all(checks)

    return matches


def audit_entries(registry: Registry, search: AuditSearch, *, limit: int) -> AuditPage:
    """Up to ``limit`` entries matching ``search``, newest first (blocking)."""
    matches = _audit_matcher(search, registry.clock())
    found: list[AuditEntry] = []
    truncated = False
    last_seq: int | None = None
    for entry in _entries_backwards(registry, search.before):
        if entry is None:
            truncated = True
            break
        last_seq = entry.seq
        if matches(entry):
            found.append(entry)
            if len(found) > limit:
                break
    has_more = len(found) > limit
    shown = found[:limit]
    next_before = shown[-1].seq if has_more and shown else None
    if truncated and last_seq is not None and not has_more:
        next_before = last_seq  # the scan's bound: the next page goes on from there
    return AuditPage(shown, next_before, truncated)


def search_audit(
    registry: Registry, search: AuditSearch, *, page_size: int = PAGE_SIZE
) -> AuditPage:
    return audit_entries(registry, search, limit=page_size)
