"""Topic names and how each topic is created (docs/design.md, "Events and topics")."""

from __future__ import annotations

from dataclasses import dataclass, field

INGEST = "roster.ingest"
LIFECYCLE = "roster.lifecycle"
USERS = "roster.users"
REPLIES = "roster.replies"
INGEST_DLQ = "roster.ingest.dlq"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic and the broker configuration it needs."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def roster_topics(partitions: int = 12, *, prefix: str = "") -> tuple[TopicSpec, ...]:
    """Every topic Roster uses.

    ``roster.ingest`` and ``roster.lifecycle`` are keyed by tenant id, so ``partitions`` bounds
    how many user-store instances share the ingest work. ``roster.users`` is compacted: it keeps
    the latest snapshot per ``tenant:user`` key for consumers that bootstrap from it. Replies are
    only useful while someone waits, so they expire after an hour.

    ``prefix`` is put before every name (tests give each run its own topics).
    """
    return (
        TopicSpec(prefix + INGEST, partitions),
        TopicSpec(prefix + LIFECYCLE, partitions),
        TopicSpec(
            prefix + USERS,
            partitions,
            {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
        ),
        TopicSpec(prefix + REPLIES, partitions, {"retention.ms": str(3_600_000)}),
        TopicSpec(
            prefix + INGEST_DLQ, max(1, partitions // 4), {"retention.ms": str(30 * 86_400_000)}
        ),
    )


@dataclass(frozen=True, slots=True)
class Topics:
    """Roster's topic names under an optional prefix.

    A prefix lets several Roster installations (staging and production, or the tests) share one
    Kafka cluster without reading each other's events (``ROSTER_TOPIC_PREFIX``).
    """

    prefix: str = ""

    @property
    def ingest(self) -> str:
        """``roster.ingest``: what sources observed."""
        return self.prefix + INGEST

    @property
    def lifecycle(self) -> str:
        """``roster.lifecycle``: canonical changes for downstream apps."""
        return self.prefix + LIFECYCLE

    @property
    def users(self) -> str:
        """``roster.users``: compacted latest user snapshots."""
        return self.prefix + USERS

    @property
    def replies(self) -> str:
        """``roster.replies``: outcomes for waiting requesters."""
        return self.prefix + REPLIES

    @property
    def dlq(self) -> str:
        """``roster.ingest.dlq``: events that could not be applied."""
        return self.prefix + INGEST_DLQ

    def specs(self, partitions: int = 12) -> tuple[TopicSpec, ...]:
        """Every topic with its configuration, under this prefix."""
        return roster_topics(partitions, prefix=self.prefix)
