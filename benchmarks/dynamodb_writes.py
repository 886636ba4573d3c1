"""Writers racing for the DynamoDB store's head items: one log shard against sixteen.

Each writer is a store of its own (a container: its own locks), adding rules in a thread
of its own, all on one moto table (in-process). Each write reads its shard's head and
then moves it in a transaction conditional on the head it read; a writer that another
moved the head past meanwhile reads again and retries (a "head race"). On a one-shard
table every writer races every other; on sixteen shards only writers whose rules hash
to the same shard do. In the same run, for each layout:

  writes/s        rules added per second, all writers together
  attempts/write  transactions sent per rule written (1.0: no race lost)
  races           transactions refused because the head had moved

moto is not thread-safe (its transactions' condition checks race its writes), so calls
take turns on one lock, as if DynamoDB took requests one at a time; each call also
waits ``--round-trip`` (2 ms) outside the lock, a stand-in for DynamoDB's network round
trip, during which other writers come between a head read and its transaction. moto
answers in about 20 ms what DynamoDB answers in a few, so writes/s here are far below
DynamoDB's; the ratio and the races are what the layout changes. DynamoDB's own limit,
on paper: one item takes 1,000 write units a second, a transactional write 2 per item,
so each head item caps its shard at 500 writes a second: 500 for a one-shard table,
8,000 for sixteen shards, 32,000 for 64 (docs/performance.md, "DynamoDB at scale").

Run: ``python benchmarks/dynamodb_writes.py`` (about a minute; ``--writers``,
``--writes`` per writer, ``--shards`` for the sharded layout).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto import mock_aws

from revoker.core.registry import RegistryLimits
from revoker.core.registry.rules import new_rule
from revoker.core.registry.stores.dynamodb import DynamoDBStore, create_table, dynamodb_client

T0 = 1_700_000_000.0


class TakingTurns:
    """A client whose calls take turns on one lock, each after a simulated round trip."""

    def __init__(self, inner: Any, lock: threading.Lock, round_trip: float) -> None:
        self._inner, self._lock, self._round_trip = inner, lock, round_trip
        self.transactions = 0
        self.races = 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            time.sleep(self._round_trip)
            with self._lock:
                if name == "transact_write_items":
                    self.transactions += 1
                try:
                    return found(*args, **kwargs)
                except self._inner.exceptions.TransactionCanceledException:
                    self.races += 1
                    raise

        return call


@dataclass(frozen=True)
class Run:
    shards: int
    writes: int
    seconds: float
    transactions: int
    races: int

    @property
    def per_second(self) -> float:
        return self.writes / self.seconds

    def row(self) -> str:
        attempts = self.transactions / self.writes
        return (
            f"| {self.shards} | {self.writes} | {self.per_second:.0f} | {attempts:.2f} "
            f"| {self.races} |"
        )


def run(shards: int, writers: int, writes: int, round_trip: float) -> Run:
    with mock_aws():
        raw = dynamodb_client(region="us-east-1")
        table = f"revoker-writes-{shards}"
        create_table(raw, table)
        client = TakingTurns(raw, threading.Lock(), round_trip)
        # More attempts than the default 8: a one-shard table's writers lose many races in a row.
        stores = [
            DynamoDBStore(client, table, log_shards=shards, max_write_attempts=64)
            for _ in range(writers)
        ]
        stores[0].add(rule("warm-up"))  # records the layout before the clock starts
        client.transactions = client.races = 0
        failures: list[Exception] = []

        def writer(store: DynamoDBStore, n: int) -> Callable[[], None]:
            def write() -> None:
                try:
                    for i in range(writes):
                        store.add(rule(f"s-{n}-{i}"))
                except Exception as exc:  # noqa: BLE001 - reported below, not lost in a thread
                    failures.append(exc)

            return write

        threads = [threading.Thread(target=writer(s, n)) for n, s in enumerate(stores)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        if failures:
            raise SystemExit(f"{shards} shard(s): a writer failed: {failures[0]!r}")
        follower = DynamoDBStore(raw, table, log_shards=shards)
        seen, since = 0, 0
        while changes := follower.changes_since(since, limit=1000):
            seen, since = seen + len(changes), changes[-1].seq
        if seen != writers * writes + 1:
            wanted = writers * writes + 1
            raise SystemExit(f"{shards} shard(s): {seen} changes in the log, not {wanted}")
        return Run(shards, writers * writes, seconds, client.transactions, client.races)


def rule(value: str) -> Any:
    return new_rule("session", value, now=T0, limits=RegistryLimits(), actor="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--writes", type=int, default=15, help="rules per writer")
    parser.add_argument("--shards", type=int, default=16, help="the sharded layout's count")
    parser.add_argument("--round-trip", type=float, default=0.002, help="seconds per call")
    args = parser.parse_args()
    one = run(1, args.writers, args.writes, args.round_trip)
    many = run(args.shards, args.writers, args.writes, args.round_trip)
    print(f"{args.writers} writers x {args.writes} rules, {args.round_trip * 1000:.0f} ms a call")
    print("| log shards | rules written | writes/s | attempts/write | head races |")
    print("|---|---|---|---|---|")
    print(one.row())
    print(many.row())
    print(f"writes/s, {args.shards} shards / 1 shard: {many.per_second / one.per_second:.2f}x")
    ceiling = 1000 // 2
    print(f"DynamoDB on paper: {ceiling} writes/s per shard (1,000 WRU/s per item, 2 WRU per")
    print(
        f"transactional write): {ceiling} for 1 shard, {ceiling * args.shards:,} for {args.shards}"
    )


if __name__ == "__main__":
    main()
