"""Where and how a command goes on the wire: its topic, key and value bytes.

The same rule as ``wawp-gateway send``: message sends go to the send topic, everything else to
the command topic (both accept any action; two topics keep a flood of sends from starving an
admin command). Keyed by ``instance_id`` with Kafka's default partitioner, so every command of an
instance lands in one partition (docs/contract.md "Topics").
"""

from __future__ import annotations

from dataclasses import dataclass

from wawp_gateway.core.contracts import Command
from wawp_gateway.core.sections import TopicsSettings
from wawp_gateway.sdk.commands import is_legal_topic
from wawp_gateway.wawp.catalog import ACTIONS

__all__ = ["Published", "encode_command", "key_for", "reply_topic_problem", "topic_for"]


@dataclass(frozen=True, slots=True)
class Published:
    """Where a command went."""

    command_id: str
    topic: str
    partition: int
    offset: int


def topic_for(command: Command, topics: TopicsSettings) -> str:
    spec = ACTIONS.get(command.action)
    kind = spec.input_topic if spec is not None else "command"
    return topics.send if kind == "send" else topics.command


def key_for(command: Command) -> bytes:
    return command.instance_id.encode()


def encode_command(command: Command) -> bytes:
    """The record value: the command's JSON with ``schema`` by its wire name, unset fields left
    out."""
    return command.model_dump_json(by_alias=True, exclude_none=True).encode()


def reply_topic_problem(topic: str, topics: TopicsSettings) -> str | None:
    """Why the gateway would not answer on ``topic`` (it would use the results topic instead),
    or None when it would."""
    if not is_legal_topic(topic):
        return "reply_to is not a legal Kafka topic name"
    if topic in topics.all():
        return "reply_to names one of the gateway's own topics"
    return None
