"""The producer's key partitioner puts every key where aiokafka's default (and so the Java
client's) does: producers of one topic must agree, or a tenant's events would lose their order."""

from __future__ import annotations

import random
import uuid

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2
from roster_shared.bus.kafka.partitioner import KeyPartitioner, murmur2
from roster_shared.events.envelope import new_id


def test_murmur2_matches_the_reference_for_every_length_and_tail() -> None:
    rng = random.Random(10)
    for length in range(0, 300):
        for _ in range(8):
            data = bytes(rng.randrange(256) for _ in range(length))
            assert murmur2(data) & 0x7FFFFFFF == reference_murmur2(data) & 0x7FFFFFFF, data


def test_partitions_match_the_default_partitioner_cached_or_not() -> None:
    ours, theirs = KeyPartitioner(), DefaultPartitioner()
    keys = [new_id().encode() for _ in range(500)] + [f"t-{i}:u".encode() for i in range(50)]
    for count in (1, 3, 12, 50):
        partitions = list(range(count))
        for key in keys + keys:  # the second time from the cache
            assert ours(key, partitions, partitions) == theirs(key, partitions, partitions)


def test_new_id_is_a_canonical_uuid4() -> None:
    for _ in range(1000):
        text = new_id()
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
