"""Kafka's default key partitioner (murmur2 of the key), at a fraction of aiokafka's cost.

Every record the user-store publishes is keyed, and aiokafka's pure-Python ``murmur2`` masks
each byte and each product separately: it was ~5 % of the user-store's busy time under ingest
(issue 10, ``bench/ingest_throughput.py --profile``). This one reads the key four bytes at a time
with ``struct`` and masks once per step, and remembers the partitions of recent keys (a
tenant's lifecycle events all share its id as key). It picks exactly the partition aiokafka's
``DefaultPartitioner`` picks — and so the Java client — for every key
(``tests/contracts/test_partitioner.py``): producers of one topic must agree on where a key goes,
or a tenant's events would lose their order.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_SEED = 0x9747B28C
_WORDS = [struct.Struct(f"<{n}I") for n in range(64)]
_CACHE_LIMIT = 4096


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of ``data`` (unsigned 32 bits)."""
    length = len(data)
    words = length >> 2
    h = _SEED ^ length
    unpack = _WORDS[words] if words < 64 else struct.Struct(f"<{words}I")
    for k in unpack.unpack_from(data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & ~3
    extra = length & 3
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra:
        h = ((h ^ data[tail]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


class KeyPartitioner:
    """``partitioner=`` for ``AIOKafkaProducer``: the default's choice, computed faster."""

    def __init__(self) -> None:
        self._recent: dict[tuple[bytes, int], int] = {}

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:
            return random.choice(available or all_partitions)  # noqa: S311 - spreading, not secrecy
        count = len(all_partitions)
        index = self._recent.get((key, count))
        if index is None:
            if len(self._recent) >= _CACHE_LIMIT:
                self._recent.clear()
            index = self._recent[(key, count)] = (murmur2(key) & 0x7FFFFFFF) % count
        return all_partitions[index]
