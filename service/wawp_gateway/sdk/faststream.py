"""The SDK on FastStream: command publishers and typed subscribers on a user's ``KafkaBroker``.

    broker = KafkaBroker("127.0.0.1:9092")  # or broker_from_settings(): GATEWAY_KAFKA__*, secured
    commands = publisher(broker)            # registers publishers for wawp.send and wawp.command

    @results_subscriber(broker, group_id="orders")
    async def on_result(result: Result) -> None: ...

    await commands.publish(Actions("ABC123DEF456").send_text(chatId=..., message=...))

Values are published as the command's JSON bytes (FastStream would serialize a pydantic model
without its field aliases, and the wire name of ``schema_`` is ``schema``). Subscribers get
typed models: FastStream validates the JSON against the handler's annotation (``Result``,
``DeliveryRecord``, ``WebhookEnvelope``). Results are at-least-once: filter them with
``LatestResults`` when a repeat matters.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.publisher import DefaultPublisher
from faststream.kafka.subscriber.usecase import DefaultSubscriber
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)
from opentelemetry.propagate import inject

from wawp_gateway.core.config import ClientSettings, load_client_settings
from wawp_gateway.core.contracts import Command
from wawp_gateway.core.kafka import ssl_context
from wawp_gateway.core.sections import KafkaSettings, TopicsSettings
from wawp_gateway.sdk.errors import InvalidCommand
from wawp_gateway.sdk.routing import encode_command, key_for, reply_topic_problem, topic_for

__all__ = [
    "CommandPublisher",
    "broker_from_settings",
    "broker_security",
    "deliveries_subscriber",
    "events_subscriber",
    "publisher",
    "results_subscriber",
]

_JSON = {"content-type": "application/json"}
_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


def broker_security(kafka: KafkaSettings) -> BaseSecurity | None:
    """FastStream's ``security=`` object for the gateway's Kafka settings (TLS, SASL), so a
    service's broker connects the way the gateway's own clients do (docs/security.md)."""
    context = ssl_context(kafka) if kafka.uses_tls else None
    if kafka.uses_sasl:
        assert kafka.sasl_username is not None
        assert kafka.sasl_password is not None
        return _SASL[kafka.sasl_mechanism](
            kafka.sasl_username,
            kafka.sasl_password.get_secret_value(),
            ssl_context=context,
            use_ssl=kafka.uses_tls,
        )
    if kafka.uses_tls:
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return None


def broker_from_settings(settings: ClientSettings | None = None, **options: Any) -> KafkaBroker:
    """A ``KafkaBroker`` on ``GATEWAY_KAFKA__*`` (read from the environment when no settings
    are given): bootstrap servers, client id and security. ``options`` go to ``KafkaBroker``."""
    kafka = (settings or load_client_settings()).kafka
    options.setdefault("client_id", kafka.client_id)
    return KafkaBroker(kafka.bootstrap_servers, security=broker_security(kafka), **options)


class CommandPublisher:
    """FastStream publishers of the two command topics; ``publish`` picks the action's topic and
    keys by instance (docs/contract.md "Topics")."""

    def __init__(self, broker: KafkaBroker, topics: TopicsSettings | None = None) -> None:
        self.topics = topics or TopicsSettings()
        self.send: DefaultPublisher = broker.publisher(
            self.topics.send,
            title=f"{self.topics.send}:publish",
            description="Message sends to the Wawp gateway, keyed by instance_id.",
            schema=Command,
        )
        self.command: DefaultPublisher = broker.publisher(
            self.topics.command,
            title=f"{self.topics.command}:publish",
            description="Other Wawp gateway commands, keyed by instance_id.",
            schema=Command,
        )

    async def publish(self, command: Command) -> None:
        """Publish and wait for the broker's acknowledgement."""
        if command.reply_to is not None:
            problem = reply_topic_problem(command.reply_to, self.topics)
            if problem is not None:
                raise InvalidCommand("invalid_command", problem)
        topic = topic_for(command, self.topics)
        target = self.send if topic == self.topics.send else self.command
        headers = dict(_JSON)
        inject(headers)  # the caller's trace context, when it has one (docs/tracing.md)
        await target.publish(
            encode_command(command),
            key=key_for(command),
            headers=headers,
            correlation_id=command.correlation_id,
        )


def publisher(broker: KafkaBroker, topics: TopicsSettings | None = None) -> CommandPublisher:
    return CommandPublisher(broker, topics)


def results_subscriber(
    broker: KafkaBroker,
    topics: TopicsSettings | None = None,
    *,
    group_id: str | None = None,
    **options: Any,
) -> DefaultSubscriber:
    """A subscriber of the results topic; decorate a handler taking a ``Result``. Pass the
    ``reply_to`` topic's name in ``topics.results`` to read that one instead."""
    topic = (topics or TopicsSettings()).results
    subscriber: DefaultSubscriber = broker.subscriber(topic, group_id=group_id, **options)
    return subscriber


def deliveries_subscriber(
    broker: KafkaBroker,
    topics: TopicsSettings | None = None,
    *,
    group_id: str | None = None,
    **options: Any,
) -> DefaultSubscriber:
    """A subscriber of the delivery topic; decorate a handler taking a ``DeliveryRecord``."""
    topic = (topics or TopicsSettings()).delivery
    subscriber: DefaultSubscriber = broker.subscriber(topic, group_id=group_id, **options)
    return subscriber


def events_subscriber(
    broker: KafkaBroker,
    topics: TopicsSettings | None = None,
    *,
    group_id: str | None = None,
    **options: Any,
) -> DefaultSubscriber:
    """A subscriber of the events topic; decorate a handler taking a ``WebhookEnvelope``. Events are
    at-least-once: de-duplicate on the ``wawp-event-id`` header."""
    topic = (topics or TopicsSettings()).events
    subscriber: DefaultSubscriber = broker.subscriber(topic, group_id=group_id, **options)
    return subscriber
