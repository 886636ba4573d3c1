"""The Redis store's columnar snapshot: bucket records taken apart by numpy, in seq order.

A record (``_redis_bulk.snapshot_record``, with the script's seq in front) is
six fields joined by ``\\x1f``: a 65-character header (16 digits of seq, then
cutoff, expires_at and created_at as 16 hex digits of their IEEE 754 bits, NaN
for None, then the kind as a digit), id, value, issuer ('' for None), reason,
actor. A rule whose texts hold a ``\\x1f`` is recorded as its JSON instead
(the seq, then the JSON): a bucket holding one is decoded record by record.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from revoker.core.registry.columns import KIND_CODES, Columns

__all__ = ["bucket_columns"]

_HEADER = 65
_FIELDS = 6


def bucket_columns(pages: Sequence[Sequence[str]], now: float) -> Columns:
    """The active rules of every bucket's records (expired ones left out), in seq order."""
    headers: list[str] = []
    ids: list[str] = []
    values: list[str] = []
    issuers: list[str] = []
    reasons: list[str] = []
    actors: list[str] = []
    for records in pages:
        if not records:
            continue
        fields = "\x1f".join(records).split("\x1f")
        if len(fields) != _FIELDS * len(records):  # a JSON record among them
            fields = [part for record in records for part in _fields(record)]
        headers += fields[0::6]
        ids += fields[1::6]
        values += fields[2::6]
        issuers += fields[3::6]
        reasons += fields[4::6]
        actors += fields[5::6]
    count = len(ids)
    if not count:
        return Columns.empty()
    chars = np.frombuffer("".join(headers).encode("ascii"), np.uint8).reshape(count, _HEADER)
    seqs = np.zeros(count, np.int64)
    for column in range(16):
        seqs = seqs * 10 + (chars[:, column].astype(np.int64) - 48)
    times = []
    for start in (16, 32, 48):
        hexes = chars[:, start : start + 16]
        nibbles = np.where(hexes >= 97, hexes - 87, hexes - 48).astype(np.uint8)
        raw = (nibbles[:, 0::2] << 4 | nibbles[:, 1::2]).astype(np.uint8)
        times.append(raw.view(">f8").ravel().astype(np.float64))
    cutoff, expires, created = times
    kinds = chars[:, 64] - np.uint8(48)
    if kinds.max() >= len(KIND_CODES):
        raise ValueError("a rule of unknown kind")
    order = np.argsort(seqs, kind="stable")
    order = order[~(expires[order] <= now)]
    picked = order.tolist()
    triples = list(zip(issuers, reasons, actors, strict=True))
    table = {triple: number for number, triple in enumerate(dict.fromkeys(triples))}
    scopes = np.fromiter(map(table.__getitem__, triples), np.int64, count)
    return Columns(
        ids=[ids[i] for i in picked],
        kinds=kinds[order],
        values=[values[i] for i in picked],
        scopes=scopes[order],
        triples=[(issuer or None, reason, actor) for issuer, reason, actor in table],
        cutoff=cutoff[order],
        expires=expires[order],
        created=created[order],
    )


def _fields(record: str) -> list[str]:
    if record[16:17] != "{":
        parts = record.split("\x1f")
        if len(parts) != _FIELDS:
            raise ValueError("a snapshot record of the wrong shape")
        return parts
    rule: dict[str, Any] = json.loads(record[16:])
    times = "".join(
        "7ff8000000000000" if x is None else struct.pack(">d", x).hex()
        for x in (rule["cutoff"], rule["expires_at"], rule["created_at"])
    )
    kind = str(KIND_CODES[rule["kind"]])
    header = record[:16] + times + kind
    return [header, rule["id"], rule["value"], rule["issuer"] or "", rule["reason"], rule["actor"]]
