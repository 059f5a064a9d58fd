"""The producers' partitioner picks exactly the partition aiokafka's default partitioner picks."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner

from shared import kafka
from shared.kafka import partition_of, producer_options
from shared.settings import CommonSettings


def test_every_producer_uses_the_partitioner() -> None:
    assert producer_options(CommonSettings())["partitioner"] is partition_of


def test_a_keyed_record_goes_where_the_default_partitioner_sends_it() -> None:
    default = DefaultPartitioner()
    rng = random.Random(19)
    keys = [rng.randbytes(rng.randrange(0, 48)) for _ in range(3000)]
    keys += [f"bench-{n:05d}".encode() for n in range(500)] + [b""]
    for count in (1, 2, 3, 8, 12, 64):
        partitions = list(range(count))
        available = partitions[: max(1, count - 1)]
        picked = [partition_of(key, partitions, available) for key in keys]
        again = [partition_of(key, partitions, available) for key in keys]  # from the cache

        assert picked == again == [default(key, partitions, available) for key in keys], count


def test_the_cache_of_hashed_keys_stays_within_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka, "_BY_KEY", {})
    monkeypatch.setattr(kafka, "_BY_KEY_LIMIT", 50)
    default = DefaultPartitioner()
    partitions = list(range(12))
    keys = [f"player-{n}".encode() for n in range(400)]

    picked = [partition_of(key, partitions, partitions) for key in keys + keys]

    assert len(kafka._BY_KEY) <= 50
    assert picked == [default(key, partitions, partitions) for key in keys + keys]


def test_a_one_partition_topic_gets_its_partition_without_a_hash() -> None:
    """Every reply topic has one partition, and every reply a key of its own."""
    default = DefaultPartitioner()

    for key in (b"0f3c", None):
        for available in ([7], []):
            assert partition_of(key, [7], available) == default(key, [7], available) == 7
