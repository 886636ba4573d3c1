"""The in-memory copy of the active rules that every check reads.

``match`` is the hot path: it runs on every request, takes no lock and does no
I/O. Below ``COMPACT_ABOVE`` active rules it is a few dictionary look-ups, one per
kind that has rules (``index.DictIndex``: the fastest, about 400 B a rule); at or
above it, the rules live in numpy arrays and ``match`` probes one filter bit per
kind, keyed by the hash each string caches, and only a set bit leads to the
arrays (``compact.py``: about 60 B a rule, ten million in a process, at most 1.5x
the dictionaries' cost per check). Either way the ``Rule`` that ``match`` returns
is rebuilt only on a match (a denial).

Writers (``sync``, ``add_rule``, ``remove_rule``) serialise on a lock and only
set bits, replace whole segments or swap the whole index, which CPython does
atomically, so a reader sees either the old or the new state.

``sync`` follows the store's change log by sequence number and falls back to a
snapshot when the log was trimmed; a poll thread calls it, and ``notify`` wakes
that thread at once. A store that pushes (a ``PushSource``: Redis, PostgreSQL)
is subscribed in ``start``; each push wakes the poll thread the same way. While
that push is healthy (and the last sync worked) the poll slows to
``push_poll_interval_seconds``, a safety net for a lost message. The time of
the last good sync alone decides freshness (never the push link): a replica
that could not sync for ``max_staleness_seconds`` fails closed with
``RegistryStale`` unless ``fail_open`` was chosen.

Under load, the event loop of the same process holds the GIL and never blocks,
so a thread that wakes (the poll thread on a push) or returns from a store round
trip waits the interpreter's switch interval (5 ms by default) before the loop
is asked to let go, and a catch-up takes several such turns. So from a push
until the sync that follows it ends, and during every sync, the switch interval
is cut to ``SYNC_SWITCH_INTERVAL_SECONDS`` (``sys.setswitchinterval`` is
process-wide; one count is shared by every replica and thread, and the interval
the process had is restored when the last of them ends). Outside those moments
the interval is left alone. (``revoker serve``, which owns its process, shortens
it for good: ``service/interpreter.py``.)

A replica holding the compact index saves it whole to a store that keeps saved indexes
(``index_snapshot.py``: SQLite, PostgreSQL, Redis, memory) once the newest saved one is
older than ``index_snapshot_seconds`` (on a thread of its own, off the poll), and a
replica's first sync loads the newest saved index, then follows the change log from the
seq it was saved at: ten million rules load in seconds, not the minute building takes.
A saved index the log no longer reaches, or one that does not read back, is ignored.

Change listeners (``add_change_listener``) are called after a sync applied
changes, outside the lock and off the ``match`` path: metrics, benchmarks.

Propagation observers (``add_propagation_observer``) get, per sync, how long each rule
the change log brought took from its commit to its application here: the rule's
``created_at`` (the writing process's clock, which is what every store records as the
change's time) to this replica's clock right after the index took it, clamped at 0, and
the path that brought it: ``"push"`` (the sync a push woke) or ``"poll"`` (the poll,
the first sync, an explicit ``sync``). Across hosts the figure includes their
clock skew; on one host it is exact. Rules this process wrote itself (``add_rule``) and
rules a snapshot loaded are not observed: they did not propagate. Lifts are not timed.
"""

from __future__ import annotations

import logging
import math
import random
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from revoker.core.clock import Clock
from revoker.core.errors import RegistryStale, StoreError
from revoker.core.registry.index import DictIndex, EmptyIndex, entry_of, row_of
from revoker.core.registry.push import PushSource, Subscription
from revoker.core.registry.rules import Rule, RuleKind, StoredRow
from revoker.core.registry.store import Change, RuleStore, SavedIndex

if TYPE_CHECKING:  # numpy loads at the first sync, not with the module: a Lambda's cold start
    from revoker.core.registry.columns import Columns
    from revoker.core.registry.compact import CompactIndex

__all__ = [
    "COMPACT_ABOVE",
    "DEFAULT_MAX_STALENESS_SECONDS",
    "SYNC_SWITCH_INTERVAL_SECONDS",
    "PropagationObserver",
    "PropagationPath",
    "Replica",
]

logger = logging.getLogger("revoker.registry")

#: Below this many active rules a replica keeps them in dictionaries (the fastest match, about
#: 400 B a rule, no numpy); at or above it, in the compact index (about 60 B a rule).
COMPACT_ABOVE = 250_000
#: How long a replica may go without a good sync before it fails closed.
DEFAULT_MAX_STALENESS_SECONDS = 30.0
_BATCH = 10_000
_MAX_BATCHES = 10  # further behind than this, a snapshot is cheaper than replaying
# After a saved index the alternative is building the index (45-95 s at 10M), so replaying
# pays longer: 65,536 inserts take 0.36 s and the merge they bring 0.2 s at 3M rules (about
# 0.7 s at 10M), beside reading the changes themselves (10-20 µs each): 500,000 changes in
# about 15 s, an estimate from those parts (not timed whole).
_MAX_BATCHES_AFTER_SAVED = 50

ChangeListener = Callable[[Sequence[Change]], None]
#: How a change reached the replica: the sync a store's push woke, or any other sync.
PropagationPath = Literal["push", "poll"]
#: Called with the path and, per rule applied from the change log, commit -> apply seconds.
PropagationObserver = Callable[[PropagationPath, Sequence[float]], None]
# A store's optional fast snapshot: (seq, rows) with trusted rows, see store.py.
SnapshotRows = Callable[[float], tuple[int, Iterable[StoredRow]]]
# A store's optional columnar snapshot: (seq, columns), trusted, see store.py.
SnapshotColumns = Callable[[float], tuple[int, "Columns"]]
_PUSH_POLL_SECONDS = 5.0  # the slow poll beside a healthy push, unless max_staleness asks for less
_LOCAL_IDS = 4096  # rules add_rule applied, remembered so their log entry is not timed
#: The switch interval while a sync runs (the interpreter's default is 5 ms).
SYNC_SWITCH_INTERVAL_SECONDS = 0.0002


class _SwitchSooner:
    """Cuts the interpreter's switch interval while held; restores it when the last lets go.

    Process-wide, as the interval is: every sync holds it, and so does a push until the
    sync it woke ends; nested and concurrent holders (replicas, threads) share one count.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._active = 0
        self._saved = 0.0

    def __enter__(self) -> None:
        with self._lock:
            if self._active == 0:
                self._saved = sys.getswitchinterval()
                if self._saved > self._seconds:
                    sys.setswitchinterval(self._seconds)
            self._active += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                sys.setswitchinterval(self._saved)


_SWITCH_SOONER = _SwitchSooner(SYNC_SWITCH_INTERVAL_SECONDS)


class Replica:
    """Active rules in dictionaries, kept in step with a ``RuleStore``."""

    def __init__(
        self,
        store: RuleStore,
        *,
        clock: Clock,
        max_staleness_seconds: float = DEFAULT_MAX_STALENESS_SECONDS,
        fail_open: bool = False,
        poll_interval_seconds: float = 0.5,
        push: bool = True,
        push_poll_interval_seconds: float | None = None,
        before_sync: Callable[[], None] | None = None,
        compact_above: int = COMPACT_ABOVE,
        index_snapshot_seconds: float = 0.0,
    ) -> None:
        """``push_poll_interval_seconds`` defaults to ``poll_interval_seconds``, raised to
        5 s but kept to a third of ``max_staleness_seconds``, so a healthy replica stays fresh.
        ``before_sync`` runs before every sync; when it raises, the sync fails (the registry
        uses it to agree on the token lifetime with the store before it serves any rule).
        ``index_snapshot_seconds`` > 0 saves the compact index that often (module docstring)."""
        self._store = store
        # A store whose seqs are per reader (sharded DynamoDB) gives each replica a reader of
        # its own; others are their own reader.
        reader = getattr(type(store), "reader", None)  # the class's: a stand-in's is no reader
        self._log: Any = reader(store) if callable(reader) else store
        self._before_sync = before_sync
        self._clock = clock
        self._max_staleness_seconds = max_staleness_seconds
        self._fail_open = fail_open
        self._poll_interval_seconds = poll_interval_seconds
        self._push = push
        if push_poll_interval_seconds is None:
            slow = min(_PUSH_POLL_SECONDS, max_staleness_seconds / 3)
            push_poll_interval_seconds = max(poll_interval_seconds, slow)
        self._push_poll_interval_seconds = push_poll_interval_seconds
        self._subscription: Subscription | None = None
        self._listeners: tuple[ChangeListener, ...] = ()
        self._observers: tuple[PropagationObserver, ...] = ()
        self._local_ids: dict[str, None] = {}  # insertion-ordered: the oldest is dropped first
        # What match reads; swapped whole on reload. Empty until the first write or sync.
        self._rules: CompactIndex | DictIndex | EmptyIndex = EmptyIndex()
        self._compact_above = compact_above
        self._index_snapshot_seconds = index_snapshot_seconds
        self._next_save_check: float | None = None  # set at the first look, with jitter
        self._saver: threading.Thread | None = None
        self._skip_saved = False  # the saved index failed here: read the rules instead
        self._replace_saved = False  # the saved index was ignored: save one soon, whatever its age
        self._seq = -1  # never synced: the first sync takes a snapshot
        self._tip: tuple[int, str, str] | None = None  # the last change applied: seq, op, id
        self._last_sync_at: float | None = None
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._hurry_lock = threading.Lock()
        self._hurried = False  # a push cut the switch interval until the poll thread syncs

    # -- the hot path -------------------------------------------------------

    def match(self, claims: Mapping[str, Any], header: Mapping[str, Any], raw: str) -> Rule | None:
        """The first active rule that revokes this token, checking key, token, family,
        session, subject, email, client, then issuer rules; None when nothing does."""
        return self._rules.match(claims, header, raw)

    # -- keeping in step ----------------------------------------------------

    def sync(self) -> None:
        """Catch up with the store; a ``StoreError`` leaves the replica as it was."""
        self._sync("poll")

    def _sync(self, path: PropagationPath) -> None:
        with _SWITCH_SOONER:
            self._sync_now(path)

    def _sync_now(self, path: PropagationPath) -> None:
        applied: list[Change] = []
        delays: list[float] = []
        if self._before_sync is not None:
            self._before_sync()
        with self._write_lock:
            now = self._clock()
            timed = delays
            restored = self._restore_saved(now) if self._seq < 0 else None
            if restored is not None:
                applied = restored
                timed = []  # what the log brings after a saved index is catch-up, not propagation
            if self._seq < 0:
                applied = self._reload(now)
            else:
                try:
                    batches = _MAX_BATCHES if restored is None else _MAX_BATCHES_AFTER_SAVED
                    applied += self._catch_up(now, timed, batches)
                except Exception as exc:
                    if restored is not None and not isinstance(exc, StoreError):
                        # A saved index that loaded but cannot take its own log (a writer's
                        # bug): forget it, and read the rules at the next sync.
                        self._rules, self._seq, self._skip_saved = EmptyIndex(), -1, True
                    raise
            self._rules.sweep(now)
            self._last_sync_at = now
        if applied and self._listeners:
            self._tell_listeners(applied)
        if delays:
            self._tell_observers(path, delays)

    def _catch_up(self, now: float, timed: list[float], batches: int) -> list[Change]:
        """Follow the change log from ``_seq``, up to ``batches`` pages of it (a reload when
        it no longer reaches back, or is longer)."""
        applied: list[Change] = []
        for _ in range(batches):
            changes = self._log.changes_since(self._seq, limit=_BATCH)
            if changes is None:
                return self._reload(now)
            self._apply(changes, now, timed)
            applied.extend(changes)
            if len(changes) < _BATCH:
                return applied
        return self._reload(now)

    def sync_if_older(self, max_age_seconds: float) -> bool:
        """Sync when the last good sync is older than ``max_age_seconds`` (a Lambda's bound)."""
        last = self._last_sync_at
        if last is not None and self._clock() - last <= max_age_seconds:
            return False
        self.sync()
        return True

    def add_rule(self, rule: Rule) -> None:
        """Apply a rule this process just stored, before the change log brings it back."""
        with self._write_lock:
            self._writable().insert(entry_of(rule), self._clock())
            if self._observers:
                local = self._local_ids
                local[rule.id] = None
                if len(local) > _LOCAL_IDS:
                    del local[next(iter(local))]

    def remove_rule(self, rule_id: str, rule: Rule | None = None) -> None:
        """Drop a rule this process just lifted, before the change log says so; with the
        ``Rule`` the store handed back, one look-up by its value (by id alone, the compact
        index scans every id: tens of ms at 10M)."""
        with self._write_lock:
            self._rules.remove(rule_id, rule)

    def notify(self) -> None:
        """Wake the poll thread to sync now."""
        self._wake.set()

    def _pushed(self) -> None:
        """A store's push (or its link lost): wake the poll thread, with the switch interval
        cut until its sync ends, so it takes the GIL from a busy event loop at once."""
        with self._hurry_lock:
            if not self._hurried and self._thread is not None and not self._stopping.is_set():
                _SWITCH_SOONER.__enter__()
                self._hurried = True
        self._wake.set()

    def _unhurry(self) -> None:
        with self._hurry_lock:
            if self._hurried:
                self._hurried = False
                _SWITCH_SOONER.__exit__()

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(changes)`` after each sync that applied changes (a reload reports
        its difference as changes); it runs on the syncing thread and must be quick."""
        with self._write_lock:
            self._listeners = (*self._listeners, listener)

    def remove_change_listener(self, listener: ChangeListener) -> None:
        with self._write_lock:
            self._listeners = tuple(known for known in self._listeners if known is not listener)

    def add_propagation_observer(self, observer: PropagationObserver) -> None:
        """Call ``observer(path, seconds)`` after each sync that applied rules from the change
        log (see the module docstring); it runs on the syncing thread and must be quick."""
        with self._write_lock:
            self._observers = (*self._observers, observer)

    def remove_propagation_observer(self, observer: PropagationObserver) -> None:
        with self._write_lock:
            # ==, not is: a bound method is a new object at each attribute access.
            self._observers = tuple(known for known in self._observers if known != observer)

    def start(self) -> None:
        """Sync once, subscribe to the store's push if it has one, then keep syncing on a
        daemon thread (every poll interval, at once on a push)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._sync_logged("poll")
        if self._push and isinstance(self._store, PushSource):
            try:
                self._subscription = self._store.subscribe(self._pushed)
            except Exception as exc:  # noqa: BLE001 -- without push the poll still keeps us in step
                logger.warning("revocation registry cannot subscribe to its store: %s", exc)
        self._thread = threading.Thread(target=self._run, name="revoker-replica", daemon=True)
        self._thread.start()

    def stop(self, timeout_seconds: float = 5.0) -> None:
        """Close the push subscription, stop the poll thread and wait for it (bounded)."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.close()
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout_seconds)

    # -- freshness and counts -----------------------------------------------

    def check_fresh(self) -> None:
        """Raise ``RegistryStale`` if the last good sync is too old (unless failing open)."""
        if self._fail_open:
            return
        last = self._last_sync_at
        if last is None:
            raise RegistryStale("the revocation registry has not synced with its store yet")
        age = self._clock() - last
        if age > self._max_staleness_seconds:
            raise RegistryStale(
                f"the revocation registry last synced {age:.1f}s ago"
                f" (max_staleness_seconds={self._max_staleness_seconds:g})"
            )

    @property
    def is_fresh(self) -> bool:
        """Whether the last good sync is within ``max_staleness_seconds`` (ignores fail_open)."""
        return self.lag_seconds <= self._max_staleness_seconds

    @property
    def lag_seconds(self) -> float:
        """Seconds since the last good sync; infinite before the first."""
        last = self._last_sync_at
        return math.inf if last is None else max(0.0, self._clock() - last)

    @property
    def push_healthy(self) -> bool:
        """Whether a push subscription is up (False for stores that only poll)."""
        subscription = self._subscription
        return subscription is not None and subscription.healthy

    @property
    def seq(self) -> int:
        """The store seq this replica has caught up to (-1 before the first sync)."""
        return self._seq

    @property
    def rule_count(self) -> int:
        return self._rules.rule_count

    def counts_by_kind(self) -> dict[RuleKind, int]:
        """Active rules per kind, every kind present."""
        return self._rules.counts_by_kind()

    # -- internals (callers hold _write_lock) ---------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            # A push that goes down calls notify, so a long slow wait ends at once; after a
            # failed sync we are behind, push or not: retry at the fast interval.
            slow = self.push_healthy and not self._failing
            self._wake.wait(
                self._push_poll_interval_seconds if slow else self._poll_interval_seconds
            )
            self._wake.clear()  # before syncing: a notify from now on means another round
            if self._stopping.is_set():
                break
            self._sync_logged("push" if self._hurried else "poll")
            self._unhurry()
            try:
                self._maybe_save_index()
            except Exception as exc:  # noqa: BLE001 -- the poll thread must outlive a failed save
                logger.warning("revocation registry cannot save its index: %r", exc)
        self._unhurry()

    def _sync_logged(self, path: PropagationPath) -> None:
        try:
            self._sync(path)
        except Exception as exc:  # noqa: BLE001 -- the poll thread must outlive any store failure
            if not self._failing:
                logger.warning("revocation registry cannot sync: %s", " ".join(str(exc).split()))
            self._failing = True
            return
        if self._failing:
            logger.info("revocation registry syncs again (seq %d)", self._seq)
        self._failing = False

    def save_index(self) -> int | None:
        """Save the compact index to the store now; its seq, or None when there is nothing
        to save (a dictionary index, or a store that keeps no saved indexes)."""
        save: Callable[..., None] | None = getattr(self._store, "save_index", None)
        with self._write_lock:
            rules, seq, last = self._rules, self._seq, self._tip
            freeze = getattr(rules, "freeze", None)
            if save is None or freeze is None or seq < 0:
                return None
            frozen = freeze()
        from revoker.core.registry.index_snapshot import dump_index  # noqa: PLC0415 -- numpy

        # The change the index was taken after, as this replica applied it (not read again:
        # the store's own reader state, such as Redis's remembered tip, belongs to the poll).
        tip = (last[1], last[2]) if last is not None and last[0] == seq else None
        started = self._clock()
        data = dump_index(frozen, seq=seq, tip=tip)
        del frozen
        save(seq, data, written_at=self._clock())
        logger.info("revocation registry saved its index at seq %d (%d rules, %.0f MB, %.1f s)",
                    seq, rules.rule_count, len(data) / 1e6, self._clock() - started)  # fmt: skip
        return seq

    def _maybe_save_index(self) -> None:
        """Start a save on a thread of its own when the store's newest saved index is older
        than ``index_snapshot_seconds`` (asked at most every tenth of it)."""
        every = self._index_snapshot_seconds
        now = self._clock()
        if every <= 0 or not hasattr(self._rules, "freeze"):
            return
        if self._next_save_check is None:
            # Workers started together (revoker serve --workers) would all find no saved
            # index at once and all save one: the first look waits a random tenth.
            self._next_save_check = now + random.uniform(0, every / 10)  # noqa: S311 -- jitter
        if now < self._next_save_check:
            return
        if self._saver is not None and self._saver.is_alive():
            return
        self._next_save_check = now + every / 10
        info: Callable[[], tuple[int, float] | None] | None = getattr(
            self._store, "saved_index_info", None
        )
        if info is None:
            return
        try:
            newest = info()
        except (StoreError, ValueError) as exc:
            logger.warning("revocation registry cannot read its saved index: %s", exc)
            return
        fresh_enough = newest is not None and (now - newest[1] < every or newest[0] >= self._seq)
        if fresh_enough and not self._replace_saved:
            return
        self._replace_saved = False
        self._saver = threading.Thread(target=self._save_logged, name="revoker-index-saver",
                                       daemon=True)  # fmt: skip
        self._saver.start()

    def _save_logged(self) -> None:
        try:
            self.save_index()
        except Exception as exc:  # noqa: BLE001 -- a failed save costs the next start time only
            logger.warning("revocation registry cannot save its index: %s", exc)

    def _change_at(self, seq: int) -> tuple[str, str] | None:
        """The store's change at ``seq`` as (op, rule id); None when the log has it no more
        or cannot be read now (a saved index is then written without it)."""
        try:
            changes = self._log.changes_since(seq - 1, limit=1)
        except StoreError:
            return None
        if not changes or changes[0].seq != seq:
            return None
        return changes[0].op, changes[0].rule.id

    def _restore_saved(self, now: float) -> list[Change] | None:
        """Load the store's newest saved index (a first sync); the changes to report, or None
        when there is none to load or it does not read back (then the rules are read)."""
        saved_index: Callable[[], SavedIndex | None] | None = getattr(
            self._store, "saved_index", None
        )
        if saved_index is None or self._skip_saved:
            return None
        try:
            saved = saved_index()
            if saved is None:
                return None
            from revoker.core.registry.index_snapshot import (  # noqa: PLC0415 -- numpy
                index_tip,
                load_index,
            )

            tip = index_tip(saved.data)
            # The log may no longer hold that change (a quiet store, pruned): the catch-up
            # then decides, as it reloads when the log does not reach back to the seq.
            now_there = None if tip is None else self._change_at(saved.seq)
            if now_there is not None and now_there != tip:
                # A failover that lost the changes it was saved after gave the seq to another.
                logger.warning(
                    "revocation registry ignores its saved index: the store's change at seq %d"
                    " is not the one it was saved after",
                    saved.seq,
                )
                self._replace_saved = True
                return None
            seq, fresh = load_index(saved.data, now)
        except Exception as exc:  # noqa: BLE001 -- a saved index only saves time: never fail on it
            logger.warning("revocation registry ignores its saved index: %s", exc)
            self._replace_saved = True
            return None
        old = self._rules
        self._rules, self._seq = fresh, seq
        self._tip = None if tip is None else (seq, *tip)
        return self._difference(old, fresh, seq)

    def _writable(self) -> CompactIndex | DictIndex:
        rules = self._rules
        if isinstance(rules, EmptyIndex):
            rules = self._rules = DictIndex()
        elif isinstance(rules, DictIndex) and rules.rule_count >= self._compact_above:
            # Grown past the bound: the same rules in the compact index from now on.
            from revoker.core.registry.compact import CompactIndex  # noqa: PLC0415 -- loads numpy

            rules = self._rules = CompactIndex.from_rows(rules.entries(), self._clock())
        return rules

    def _reload(self, now: float) -> list[Change]:
        """Replace everything with a snapshot; the difference as changes, if anyone listens."""
        # Columns (SQLite, PostgreSQL, Redis) are converted in bulk; plain rows skip building
        # a Rule per rule; a store with neither hands out Rules.
        snapshot_columns: SnapshotColumns | None = getattr(self._store, "snapshot_columns", None)
        snapshot_rows: SnapshotRows | None = getattr(self._store, "snapshot_rows", None)
        large = self._rules.rule_count >= self._compact_above // 2
        if not large and self._seq < 0 and snapshot_columns is not None:
            # A first load: the store says whether it is large (columns build the compact
            # index about twice as fast as rows); one cheap count, never on a catch-up.
            hint: Callable[[], int] | None = getattr(self._store, "rule_count_hint", None)
            large = hint is not None and hint() >= self._compact_above
        fresh: CompactIndex | DictIndex
        try:
            if snapshot_columns is not None and (large or snapshot_rows is None):
                seq, columns = snapshot_columns(now)
                fresh = self._compact(columns, now)
                del columns
            else:
                if snapshot_rows is not None:
                    seq, rows = snapshot_rows(now)
                    listed = list(rows)
                else:
                    seq, rules = self._log.snapshot(now)
                    listed = [row_of(rule) for rule in rules]
                if len(listed) < self._compact_above:
                    fresh = DictIndex.from_rows(listed, now)
                else:
                    from revoker.core.registry.columns import Columns  # noqa: PLC0415 -- numpy

                    fresh = self._compact(Columns.from_rows(listed), now)
                del listed
        except (KeyError, ValueError, TypeError) as exc:
            raise StoreError(f"the store holds a malformed rule: {exc!r}") from exc
        old = self._rules
        # Built aside, then published with one assignment: readers never see it half-full.
        self._rules, self._seq = fresh, seq
        # A snapshot's seq names a change this replica did not apply: ask for it, for an index
        # that may be saved (the compact one), so a saved index always carries its tip.
        tip = self._change_at(seq) if hasattr(fresh, "freeze") and seq > 0 else None
        self._tip = None if tip is None else (seq, *tip)
        return self._difference(old, fresh, seq)

    def _difference(
        self, old: CompactIndex | DictIndex | EmptyIndex, fresh: CompactIndex | DictIndex, seq: int
    ) -> list[Change]:
        """What a reload changed, as changes, if anyone listens."""
        if not self._listeners:
            return []
        before = {rule.id: rule for rule in old.rules()}
        after = {rule.id: rule for rule in fresh.rules()}
        added = [
            Change(seq, "add", rule) for rule_id, rule in after.items() if rule_id not in before
        ]
        lifted = [
            Change(seq, "lift", rule) for rule_id, rule in before.items() if rule_id not in after
        ]
        return added + lifted

    @staticmethod
    def _compact(columns: Columns, now: float) -> CompactIndex:
        from revoker.core.registry.compact import CompactIndex  # noqa: PLC0415 -- loads numpy

        return CompactIndex.from_columns(columns, now)

    def _tell_listeners(self, changes: Sequence[Change]) -> None:
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception:
                logger.exception("a revocation registry change listener failed")

    def _tell_observers(self, path: PropagationPath, delays: Sequence[float]) -> None:
        for observer in self._observers:
            try:
                observer(path, delays)
            except Exception:
                logger.exception("a revocation registry propagation observer failed")

    def _apply(self, changes: list[Change], now: float, delays: list[float]) -> None:
        """Apply ``changes``; with observers, append each new rule's commit -> apply delay."""
        for change in changes:
            if change.op == "add":
                self._writable().insert(entry_of(change.rule), now)
            else:
                self._rules.remove(change.rule.id, change.rule)
            self._seq = change.seq
            self._tip = (change.seq, change.op, change.rule.id)
        if not self._observers:
            return
        applied_at = self._clock()  # after the index took them: what match sees from now on
        local = self._local_ids
        for change in changes:
            if change.op != "add":
                continue
            if local and change.rule.id in local:
                del local[change.rule.id]  # this process applied it already (add_rule)
                continue
            delays.append(max(0.0, applied_at - change.rule.created_at))
