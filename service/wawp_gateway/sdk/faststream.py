"""The SDK on FastStream: command publishers and typed subscribers on a user's ``KafkaBroker``.

    broker = KafkaBroker("127.0.0.1:9092")
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
from opentelemetry.propagate import inject

from wawp_gateway.core.contracts import Command
from wawp_gateway.core.sections import TopicsSettings
from wawp_gateway.sdk.errors import InvalidCommand
from wawp_gateway.sdk.routing import encode_command, key_for, reply_topic_problem, topic_for

__all__ = [
    "CommandPublisher",
    "deliveries_subscriber",
    "events_subscriber",
    "publisher",
    "results_subscriber",
]

_JSON = {"content-type": "application/json"}


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
