"""The RuleStore contract, run against every backend in conftest's STORE_BACKENDS."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import pytest
from registry_support import T0, make

from revoker.core.errors import StoreError
from revoker.core.registry import InvalidRule, RuleFilter, RuleKind, RuleStore
from revoker.core.registry.rules import token_rule_value
from revoker.core.tokens import parse_unverified
from revoker.testing import TokenFactory

ISS = "https://issuer.example"


class StoreBackend(Protocol):
    """conftest's backend description: a name, durability, and how to open it in a directory."""

    name: str
    durable: bool

    def open(self, path: Path) -> RuleStore: ...


def test_add_then_get_round_trips(store: RuleStore) -> None:
    """A stored rule comes back equal, every field (fractions, None scope) intact."""
    rule = make("subject", "user-1", now=T0 + 0.25, cutoff=T0 - 0.125, reason="r", actor="a")
    store.add(rule)
    assert store.get(rule.id) == rule
    assert store.get("no-such-id") is None


def test_every_kind_round_trips_and_comes_back_in_a_snapshot(store: RuleStore) -> None:
    """No store keeps a list of kinds of its own: each kind, email included, is kept whole."""
    rules = [
        make(str(kind), ISS if kind is RuleKind.ISSUER else f"{kind}-value@example.com")
        for kind in RuleKind
    ]
    for rule in rules:
        store.add(rule)
    assert [store.get(rule.id) for rule in rules] == rules
    _, active = store.snapshot(T0)
    assert {rule.id for rule in active} >= {rule.id for rule in rules}


@pytest.mark.global_order
def test_seq_grows_by_one_per_change(store: RuleStore) -> None:
    """add and lift each take the next seq; changes_since lists them in that order."""
    first, second = make("token", "j-1"), make("token", "j-2")
    seqs = [store.add(first), store.add(second)]
    assert store.lift(first.id, actor="bob", reason="x", now=T0) == first
    changes = store.changes_since(0)
    assert changes is not None
    assert [(c.seq, c.op, c.rule) for c in changes] == [
        (seqs[0], "add", first),
        (seqs[0] + 1, "add", second),
        (seqs[0] + 2, "lift", first),
    ]


@pytest.mark.global_order
def test_changes_since_returns_only_later_changes_up_to_limit(store: RuleStore) -> None:
    """changes_since(n) starts after n and stops at the limit; at the head it is empty."""
    seqs = [store.add(make("session", f"s-{i}")) for i in range(5)]
    later = store.changes_since(seqs[1], limit=2)
    assert later is not None
    assert [c.seq for c in later] == seqs[2:4]
    assert store.changes_since(seqs[-1]) == []


def test_changes_since_a_seq_ahead_of_the_store_asks_for_a_snapshot(store: RuleStore) -> None:
    """A reader ahead of the store (the store was replaced) is told to reload."""
    seq = store.add(make("token", "j-1"))
    assert store.changes_since(seq + 5) is None


@pytest.mark.global_order
def test_duplicate_id_is_refused(store: RuleStore) -> None:
    """Adding a second rule with an existing id raises InvalidRule and changes nothing."""
    rule = make("token", "j-1")
    seq = store.add(rule)
    with pytest.raises(InvalidRule):
        store.add(rule)
    assert store.changes_since(seq) == []


def test_lift_removes_the_rule_once(store: RuleStore) -> None:
    """A lifted rule is gone; lifting it again, or an unknown id, returns None."""
    rule = make("family", "o-1")
    store.add(rule)
    assert store.lift(rule.id, actor="bob", reason="undo", now=T0 + 1) == rule
    assert store.get(rule.id) is None
    assert store.lift(rule.id, actor="bob", reason="undo", now=T0 + 1) is None
    assert store.lift("no-such-id", actor="bob", reason="", now=T0 + 1) is None


def test_lift_of_an_expired_rule_returns_none(store: RuleStore) -> None:
    """An expired rule is no longer active, so there is nothing to lift."""
    rule = make("token", "j-1", expires_at=T0 + 10)
    store.add(rule)
    assert store.lift(rule.id, actor="bob", reason="", now=T0 + 10) is None


@pytest.mark.global_order
def test_snapshot_holds_the_active_rules_and_the_head_seq(store: RuleStore) -> None:
    """snapshot returns the current seq and rules neither lifted nor expired."""
    active = make("subject", "user-1")
    forever = make("key", "kid-1")
    lifted = make("session", "s-1")
    expired = make("token", "j-1", expires_at=T0 + 5)
    for rule in (active, forever, lifted, expired):
        store.add(rule)
    head = store.add(make("token", "j-2", expires_at=T0 + 5))
    store.lift(lifted.id, actor="a", reason="", now=T0)
    seq, rules = store.snapshot(T0 + 5)
    assert seq == head + 1
    assert sorted(r.id for r in rules) == sorted([active.id, forever.id])


@pytest.mark.global_order
@pytest.mark.parametrize(
    ("rule_filter", "expected"),
    [
        pytest.param(RuleFilter(), ["a", "b", "c", "d"], id="all-active"),
        pytest.param(RuleFilter(kind=RuleKind.SUBJECT), ["a", "c"], id="kind"),
        pytest.param(RuleFilter(value="user-2"), ["c"], id="value"),
        pytest.param(RuleFilter(issuer=ISS), ["b", "c"], id="issuer-scope"),
        pytest.param(RuleFilter(kind=RuleKind.SUBJECT, issuer=ISS), ["c"], id="kind-and-issuer"),
        pytest.param(RuleFilter(include_expired=True), ["a", "b", "c", "d", "e"], id="expired"),
        pytest.param(RuleFilter(limit=2), ["a", "b"], id="first-page"),
        pytest.param(RuleFilter(limit=2, offset=2), ["c", "d"], id="second-page"),
        pytest.param(RuleFilter(limit=2, offset=4), [], id="past-the-end"),
    ],
)
def test_list_rules_filters_and_pages(
    store: RuleStore, rule_filter: RuleFilter, expected: list[str]
) -> None:
    """list_rules selects by kind, value and scope, hides expired rules, pages in add order."""
    rules = {
        "a": make("subject", "user-1", reason="a"),
        "b": make("token", "j-1", issuer=ISS, reason="b"),
        "c": make("subject", "user-2", issuer=ISS, reason="c"),
        "d": make("key", "kid-1", reason="d"),
        "e": make("token", "j-2", expires_at=T0 + 1, reason="e"),
    }
    for rule in rules.values():
        store.add(rule)
    listed = store.list_rules(rule_filter, now=T0 + 1)
    assert [r.reason for r in listed] == expected


@pytest.mark.global_order
def test_audit_records_who_did_what(store: RuleStore) -> None:
    """Each add and lift leaves an audit entry with its seq, actor, action and reason."""
    rule = make("subject", "user-1", actor="alice", reason="disabled")
    seq = store.add(rule)
    store.lift(rule.id, actor="bob", reason="re-enabled", now=T0 + 7)
    entries = store.audit_log()
    assert [
        (e.seq, e.at, e.actor, e.action, e.rule_id, e.kind, e.value, e.reason) for e in entries
    ] == [
        (seq, T0, "alice", "revoke", rule.id, "subject", "user-1", "disabled"),
        (seq + 1, T0 + 7, "bob", "lift", rule.id, "subject", "user-1", "re-enabled"),
    ]
    assert [e.seq for e in store.audit_log(since_seq=seq)] == [seq + 1]
    assert [e.seq for e in store.audit_log(limit=1)] == [seq]


@pytest.mark.global_order
def test_prune_deletes_only_expired_rules(store: RuleStore) -> None:
    """prune counts and deletes rules past expires_at; others (and never-expiring) stay."""
    keep = make("subject", "user-1")
    forever = make("key", "kid-1")
    gone = [make("token", f"j-{i}", expires_at=T0 + 10 + i) for i in range(3)]
    for rule in (keep, forever, *gone):
        store.add(rule)
    assert store.prune(T0 + 11) == 2
    assert store.prune(T0 + 11) == 0
    remaining = store.list_rules(RuleFilter(include_expired=True), now=T0 + 11)
    assert [r.id for r in remaining] == [keep.id, forever.id, gone[2].id]


@pytest.mark.global_order
def test_prune_trims_old_changes_and_readers_then_need_a_snapshot(store: RuleStore) -> None:
    """After the log is trimmed, an old seq gets None while the head seq still reads fine."""
    first = store.add(make("key", "kid-1"))
    head = store.add(make("key", "kid-2"))
    store.prune(T0 + 10 * 86400)  # far past any change retention
    assert store.changes_since(first - 1) is None
    assert store.changes_since(head) == []
    seq, rules = store.snapshot(T0 + 10 * 86400)
    assert (seq, len(rules)) == (head, 2)
    later = store.add(make("key", "kid-3", now=T0 + 10 * 86400))
    changes = store.changes_since(head)
    assert changes is not None
    assert [c.seq for c in changes] == [later]


def test_stores_values_never_tokens(store_backend: StoreBackend, tmp_path: Path) -> None:
    """Revoking a jti-less token stores its SHA-256; the token itself is nowhere in the store."""
    store = store_backend.open(tmp_path)
    try:
        raw = TokenFactory().access_token(jti=None)
        parsed = parse_unverified(raw)
        rule = make("token", token_rule_value(parsed.claims, raw), issuer=ISS)
        store.add(rule)
        outputs = repr(
            (
                store.get(rule.id),
                store.list_rules(RuleFilter(), now=T0),
                store.changes_since(0),
                store.snapshot(T0),
                store.audit_log(),
            )
        )
        assert rule.value in outputs
        assert raw not in outputs
        assert raw.split(".")[1] not in outputs
    finally:
        store.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert raw.encode() not in on_disk
    assert raw.split(".")[1].encode() not in on_disk


@pytest.mark.global_order
def test_reopen_keeps_rules_and_seq(store_backend: StoreBackend, tmp_path: Path) -> None:
    """A durable store closed and reopened still has its rules, log, audit and seq;
    a non-durable one (memory) says so by coming back empty."""
    first = store_backend.open(tmp_path)
    rule = make("subject", "user-1", actor="alice")
    seq = first.add(rule)
    first.close()
    again = store_backend.open(tmp_path)
    try:
        if not store_backend.durable:
            assert again.snapshot(T0)[1] == []
            return
        assert again.get(rule.id) == rule
        assert again.snapshot(T0) == (seq, [rule])
        assert [e.rule_id for e in again.audit_log()] == [rule.id]
        assert again.add(make("key", "kid-1")) == seq + 1
    finally:
        again.close()


def test_closed_store_raises_store_error(store_backend: StoreBackend, tmp_path: Path) -> None:
    """Using a closed store raises StoreError (a 503), not a driver exception."""
    store = store_backend.open(tmp_path)
    store.close()
    with pytest.raises(StoreError):
        store.snapshot(T0)
    with pytest.raises(StoreError):
        store.add(make("token", "j-1"))


@pytest.mark.global_order
def test_concurrent_adds_get_distinct_seqs(store: RuleStore) -> None:
    """Adds from several threads each get their own seq and all reach the log."""
    seqs: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(20):
            seq = store.add(make("session", f"s-{n}-{i}"))
            with lock:
                seqs.append(seq)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(seqs) == list(range(min(seqs), min(seqs) + 80))
    changes = store.changes_since(0)
    assert changes is not None
    assert [c.seq for c in changes] == sorted(seqs)


def test_the_first_claimed_setting_stands_and_later_claims_read_it(store: RuleStore) -> None:
    """claim_setting records a value once; record_setting replaces it (revoker migrate)."""
    assert store.claim_setting("max_token_lifetime_seconds", 172_800.0) == 172_800.0
    assert store.claim_setting("max_token_lifetime_seconds", 86_400.0) == 172_800.0
    store.record_setting("max_token_lifetime_seconds", 3600.0)
    assert store.claim_setting("max_token_lifetime_seconds", 86_400.0) == 3600.0


def test_concurrent_claims_all_see_the_one_winner(
    store_backend: StoreBackend, tmp_path: Path
) -> None:
    """Six processes starting at once on an empty store agree on one recorded value (a claim
    that lost the race must read the winner's, not nothing)."""
    # A memory store is its own each time it is opened, and moto's in-process DynamoDB is one
    # mock per opener: there, six threads share one store.
    count = 6 if store_backend.name in ("sqlite", "redis", "postgresql") else 1
    stores = [store_backend.open(tmp_path) for _ in range(count)] * (6 // count)
    try:
        for round_ in range(5):
            seen: list[float] = []
            barrier = threading.Barrier(len(stores))
            threads = [
                threading.Thread(
                    target=_claim, args=(store, f"setting-{round_}", float(n), barrier, seen)
                )
                for n, store in enumerate(stores)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
            assert len(seen) == len(stores)
            assert len(set(seen)) == 1, seen
    finally:
        for store in set(stores):
            store.close()


def _claim(
    store: RuleStore, name: str, value: float, barrier: threading.Barrier, seen: list[float]
) -> None:
    barrier.wait(5)
    seen.append(store.claim_setting(name, value))
