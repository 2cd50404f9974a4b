"""Per-test topic prefixes, and deleting a test's topics when it ends.

Every test that touches Kafka isolates itself under a random topic prefix. Left behind, those
topics pile up on a shared broker (``$ROSTER_TEST_KAFKA``, ``python -m roster_testing up``): a
day of test runs leaves thousands of partitions, each holding open segment and index files,
until the broker dies of "Too many open files". :func:`topic_prefix` remembers each prefix it
hands out, and the plugin's autouse fixture deletes the topics under them after the test.
"""

from __future__ import annotations

import uuid

_handed_out: list[str] = []


def topic_prefix(tag: str) -> str:
    """A fresh ``<tag><10 hex>.`` prefix whose topics are deleted when the current test ends."""
    prefix = f"{tag}{uuid.uuid4().hex[:10]}."
    _handed_out.append(prefix)
    return prefix


def take_prefixes() -> list[str]:
    """The prefixes handed out since the last call (the plugin calls it after each test)."""
    taken = list(_handed_out)
    _handed_out.clear()
    return taken


async def delete_topics_under(bootstrap: str, prefixes: list[str]) -> list[str]:
    """Delete every topic whose name starts with one of ``prefixes``; return their names.

    Only those names: other runs share the broker, and their topics are theirs.
    """
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(tuple(prefixes))]
        if doomed:
            await admin.delete_topics(doomed, timeout_ms=5000)
        return doomed
    finally:
        await admin.close()
