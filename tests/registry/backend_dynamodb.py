"""The DynamoDB store joins the store contract on moto's in-process DynamoDB, twice: a
table of one log shard (the whole contract) and one of sixteen, whose seqs are ids per
reader (``stores/_dynamodb_shards.py``): the tests marked ``global_order`` are not run on it,
``tests/aws/test_dynamodb_shards.py`` holds what it promises instead.

moto is the only DynamoDB here. Each opener starts a ``mock_aws`` (moto sets
fake credentials while it runs) without wiping moto's data, and the store's
``close`` stops it again, so a durable store reopened in the same test finds
its table. Each test gets its own table, named after its ``tmp_path``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from moto import mock_aws

from moto_support import OneCallAtATime
from revoker.core.registry.stores.dynamodb import DynamoDBStore, create_table, dynamodb_client

REGION = "us-east-1"


class MotoDynamoDBStore(DynamoDBStore):
    """A DynamoDB store that stops its moto mock when closed."""

    def __init__(self, client: Any, table: str, mock: Any, log_shards: int) -> None:
        # Calls take turns: the contract's threads test the store, not moto's thread safety.
        serial = OneCallAtATime(client)
        super().__init__(serial, table, sleep=lambda _seconds: None, log_shards=log_shards)
        self._mock: Any = mock

    def close(self) -> None:
        super().close()
        mock, self._mock = self._mock, None
        if mock is not None:
            mock.stop(remove_data=False)


def open_moto_store(tmp_path: Path, log_shards: int = 1) -> DynamoDBStore:
    mock = mock_aws()
    mock.start(reset=False)
    try:
        table = "revoker-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:16]
        client = dynamodb_client(region=REGION)
        create_table(client, table)
    except BaseException:
        mock.stop(remove_data=False)
        raise
    return MotoDynamoDBStore(client, table, mock, log_shards)


def open_sharded_moto_store(tmp_path: Path) -> DynamoDBStore:
    return open_moto_store(tmp_path, log_shards=16)


BACKENDS = [
    ("dynamodb", open_moto_store, True),
    ("dynamodb-sharded", open_sharded_moto_store, True),
]
