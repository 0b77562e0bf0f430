"""aiokafka clients built from settings, topic administration and the start-up partition check.

Every Kafka client of every process is built here, with the security settings of
``GATEWAY_KAFKA__*`` (``connection_options``), and started through ``start_client``, which turns
a refused TLS session or SASL login into ``KafkaTlsFailed`` / ``KafkaAuthFailed``
(core/kafkaauth.py) so the process can stop at once and say why (docs/security.md).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaConnectionError, KafkaError

from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.kafkaauth import diagnose_refusal
from wawp_gateway.core.partitioning import cached_default_partitioner
from wawp_gateway.core.sections import IdempotencySettings, KafkaSettings, TopicsSettings

__all__ = [
    "build_consumer",
    "build_follower",
    "build_producer",
    "build_reader",
    "check_partitions",
    "connection_options",
    "create_gateway_topics",
    "create_topics",
    "ssl_context",
    "start_client",
    "start_secured",
    "topic_configs",
    "topic_partitions",
]

# aiokafka has no type hints: the union documents what is meant.
_KafkaClient: TypeAlias = "AIOKafkaProducer | AIOKafkaConsumer | AIOKafkaAdminClient"


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """The TLS context of every broker connection: the given CA (or the system's), the host
    name check, the client certificate for mutual TLS. A file that is not usable PEM is a
    configuration error naming its variable."""
    try:
        context = ssl.create_default_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None
        )
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            "GATEWAY_KAFKA__SSL_CAFILE", f"not a usable PEM CA bundle: {exc}"
        ) from None
    context.check_hostname = kafka.ssl_check_hostname
    if kafka.ssl_certfile is not None and kafka.ssl_keyfile is not None:
        try:
            context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                "GATEWAY_KAFKA__SSL_CERTFILE",
                f"the client certificate and key do not load as a PEM pair: {exc}",
            ) from None
    return context


def connection_options(kafka: KafkaSettings) -> dict[str, Any]:
    """The aiokafka arguments that secure a connection, the same for every client."""
    options: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.uses_tls:
        options["ssl_context"] = ssl_context(kafka)
    if kafka.uses_sasl:
        assert kafka.sasl_password is not None  # the settings' validator made sure
        options.update(
            sasl_mechanism=kafka.sasl_mechanism,
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=kafka.sasl_password.get_secret_value(),
        )
    return options


async def start_client(client: _KafkaClient, kafka: KafkaSettings) -> None:
    """``client.start()``; when the brokers refused the TLS session or the login, stop the
    client and raise ``KafkaTlsFailed`` / ``KafkaAuthFailed`` instead of aiokafka's "Unable to
    bootstrap", which does not say why."""
    try:
        await client.start()
    except KafkaConnectionError:
        await _raise_refusal(client, kafka.bootstrap_servers, connection_options(kafka))
        raise


async def start_secured(
    client: _KafkaClient, bootstrap_servers: str, options: Mapping[str, Any]
) -> None:
    """``start_client`` for a client built from aiokafka ``options`` (the SDK's)."""
    try:
        await client.start()
    except KafkaConnectionError:
        await _raise_refusal(client, bootstrap_servers, options)
        raise


async def _raise_refusal(
    client: _KafkaClient, bootstrap_servers: str, options: Mapping[str, Any]
) -> None:
    refusal = await diagnose_refusal(bootstrap_servers, options)
    if refusal is None:
        return
    await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
    raise refusal from None


_TOPIC_ALREADY_EXISTS = 36


def build_producer(kafka: KafkaSettings, *, linger_ms: int | None = None) -> AIOKafkaProducer:
    # acks=all: a result counts as published only once the broker has it durably. No idempotent
    # producer: the embedded broker cannot do it, and correctness must not depend on it.
    return AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        **connection_options(kafka),
        client_id=kafka.client_id,
        acks="all",
        linger_ms=kafka.linger_ms if linger_ms is None else linger_ms,
        max_batch_size=kafka.max_batch_bytes,
        request_timeout_ms=kafka.request_timeout_ms,
        enable_idempotence=False,
        partitioner=cached_default_partitioner,
    )


def build_reader(kafka: KafkaSettings) -> AIOKafkaConsumer:
    """A consumer outside any group, for reading assigned partitions (the state restore)."""
    return AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        **connection_options(kafka),
        client_id=kafka.client_id,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        # Big fetches: a restore reads a whole partition as fast as it can.
        max_partition_fetch_bytes=4 * 1024 * 1024,
        request_timeout_ms=kafka.request_timeout_ms,
    )


def build_follower(kafka: KafkaSettings, *, client_id: str) -> AIOKafkaConsumer:
    """A consumer outside any group that reads a keyed topic from its beginning and follows it
    (core/follower.py). An offset gone to retention restarts it at the earliest one."""
    return AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        **connection_options(kafka),
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        request_timeout_ms=kafka.request_timeout_ms,
    )


def build_consumer(kafka: KafkaSettings, *, group_id: str | None = None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        **connection_options(kafka),
        client_id=kafka.client_id,
        group_id=group_id or kafka.group_id,
        group_instance_id=kafka.group_instance_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Range gives partition N of every input topic to the same member when counts are equal:
        # one process owns all of an instance's traffic (co-partitioning, docs/contract.md).
        partition_assignment_strategy=(RangePartitionAssignor,),
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        rebalance_timeout_ms=kafka.rebalance_timeout_ms,
        max_poll_interval_ms=max(300_000, kafka.rebalance_timeout_ms),
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        request_timeout_ms=max(kafka.request_timeout_ms, kafka.session_timeout_ms + 5_000),
    )


async def _admin(kafka: KafkaSettings) -> AIOKafkaAdminClient:
    options = connection_options(kafka)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id=kafka.client_id,
        request_timeout_ms=kafka.request_timeout_ms,
        **options,
    )
    await start_secured(admin, kafka.bootstrap_servers, options)
    return admin


def topic_configs(
    topics: TopicsSettings, idempotency: IdempotencySettings
) -> dict[str, dict[str, str]]:
    """Configs a topic gets when ``topics create`` makes it. ``wawp.state`` keeps records for
    twice the idempotency retention, then deletes them (time-based: a restore reads the whole
    partition, and records past the retention are skipped anyway). Never compaction: the
    gateway's correctness must not depend on it, and the embedded broker has none."""
    retention_ms = int(idempotency.retention_s * 2 * 1000)
    configs = {topics.state: {"cleanup.policy": "delete", "retention.ms": str(retention_ms)}}
    # The registry and the session status keep the last record per key. Compaction only bounds
    # their size: readers apply every record in order, so a broker without it is still correct.
    for name in topics.compacted():
        configs[name] = {"cleanup.policy": "compact"}
    return configs


async def create_gateway_topics(
    kafka: KafkaSettings,
    topics: TopicsSettings,
    idempotency: IdempotencySettings,
    *,
    partitions: int | None = None,
) -> list[str]:
    """Create every gateway topic (``topics create``): the partitioned ones with ``partitions``
    (default ``GATEWAY_KAFKA__PARTITIONS``), the compacted ones with one partition."""
    configs = topic_configs(topics, idempotency)
    created = await create_topics(
        kafka, topics.partitioned(), partitions=partitions, configs=configs
    )
    created += await create_topics(kafka, topics.compacted(), partitions=1, configs=configs)
    return created


async def create_topics(
    kafka: KafkaSettings,
    topics: Iterable[str],
    *,
    partitions: int | None = None,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Create ``topics`` (all with the same partition count); return those that were new."""
    admin = await _admin(kafka)
    count = partitions or kafka.partitions
    try:
        names = list(dict.fromkeys(topics))
        response = await admin.create_topics(
            [
                NewTopic(
                    n,
                    num_partitions=count,
                    replication_factor=kafka.replication_factor,
                    topic_configs=dict((configs or {}).get(n, {})),
                )
                for n in names
            ]
        )
        created, failed = [], []
        for name, code, *_ in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != _TOPIC_ALREADY_EXISTS:
                failed.append(f"{name} (error {code})")
        if failed:
            raise KafkaError(f"could not create topics: {', '.join(failed)}")
        return created
    finally:
        await admin.close()


async def topic_partitions(kafka: KafkaSettings, topics: Iterable[str]) -> dict[str, int]:
    """Partition count of each topic that exists (missing topics are left out)."""
    admin = await _admin(kafka)
    try:
        # Describing a missing topic auto-creates it on brokers that allow that: list first.
        existing = set(await admin.list_topics())
        wanted = [name for name in topics if name in existing]
        described = await admin.describe_topics(wanted) if wanted else []
    finally:
        await admin.close()
    counts: dict[str, int] = {}
    for entry in described:
        if entry.get("error_code", 0) == 0 and entry.get("partitions"):
            counts[str(entry["topic"])] = len(entry["partitions"])
    return counts


async def check_partitions(kafka: KafkaSettings, topics: TopicsSettings) -> int:
    """The shared partition count of the input and state topics; refuse to start otherwise."""
    needed = {
        "GATEWAY_TOPICS__SEND": topics.send,
        "GATEWAY_TOPICS__COMMAND": topics.command,
        "GATEWAY_TOPICS__STATE": topics.state,
    }
    counts = await topic_partitions(kafka, needed.values())
    for setting, name in needed.items():
        if name not in counts:
            raise ConfigError(
                setting, f"topic {name!r} does not exist: run `wawp-gateway topics create`"
            )
    distinct = {counts[name] for name in needed.values()}
    if len(distinct) != 1:
        listing = ", ".join(f"{name}={counts[name]}" for name in needed.values())
        raise ConfigError(
            "GATEWAY_TOPICS__SEND",
            "input and state topics must have the same partition count "
            f"(co-partitioning): {listing}",
        )
    return distinct.pop()
