"""The buses the contract suites run on, configured once for both suites (bus, ingest client)."""

from __future__ import annotations

from roster_shared.bus import KafkaBus, MemoryBus


def contract_kafka_bus(
    bootstrap: str, client_id: str, retry_backoff: tuple[float, float] = (0.05, 1.0)
) -> KafkaBus:
    """A Kafka bus tuned for tests that watch members join and leave."""
    return KafkaBus(
        bootstrap,
        client_id=client_id,
        send_timeout=20.0,
        # The broker's minimum session timeout is 6 s; heartbeats this often make a rebalance
        # (a member joining) reach the others quickly.
        session_timeout_ms=6_000,
        heartbeat_interval_ms=200,
        max_poll_interval_ms=60_000,
        start_timeout=30.0,
        retry_backoff=retry_backoff,
    )


def contract_memory_bus() -> MemoryBus:
    """The in-process bus, retrying a failed batch quickly."""
    return MemoryBus(retry_backoff=0.05)
