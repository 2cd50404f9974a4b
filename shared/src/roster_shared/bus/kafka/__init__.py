"""The Kafka bus (aiokafka): :class:`KafkaBus` and the pieces it is made of.

* :mod:`.options` — :class:`KafkaOptions`, every client setting that matters, and the clients;
* :mod:`.producer` — idempotent ``acks=all`` sends, bounded by ``send_timeout``;
* :mod:`.topics` — topic creation and partition lookup;
* :mod:`.subscription` — the lifecycle every subscription shares;
* :mod:`.group` — consumer-group members (commit after the handler, rebalance-safe);
* :mod:`.listener` — groupless readers for request/reply;
* :mod:`.bus` — :class:`KafkaBus`, which composes them, and :func:`kafka_bus_for`.
"""

from roster_shared.bus.kafka.bus import KafkaBus, kafka_bus_for
from roster_shared.bus.kafka.options import KafkaOptions

__all__ = ["KafkaBus", "KafkaOptions", "kafka_bus_for"]
