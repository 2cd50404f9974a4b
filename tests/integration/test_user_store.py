"""The user-store contract on each bus and database: embedded, mixed, and production."""

from __future__ import annotations

from tests.integration.user_store_contract import UserStoreContract


class TestMemoryBusSqlite(UserStoreContract):
    """The embedded pairing (`roster dev`)."""

    bus_kind = "memory"
    db_kind = "sqlite"


class TestMemoryBusPostgres(UserStoreContract):
    """PostgreSQL with the in-process bus: database behaviour without Kafka's timing."""

    bus_kind = "memory"
    db_kind = "postgres"


class TestKafkaPostgres(UserStoreContract):
    """The production pairing: real Kafka and real PostgreSQL."""

    bus_kind = "kafka"
    db_kind = "postgres"
