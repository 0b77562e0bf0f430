"""The commands of a scenario: deterministic, so every system gets exactly the same ones.

Command ``i`` of a workload goes to instance ``i mod instances`` (so every instance gets a
share) and to one of that instance's ``chats`` chats. Its id is ``<prefix>-<i>`` and its text
names the id, so the sandbox's request log (which has no command id) can be matched back to
the command: the text is unique per command within a run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

__all__ = ["TOKEN", "Command", "Workload", "instance_id", "parse_seq"]

TOKEN = "bench-token-0000"


def instance_id(index: int) -> str:
    # Wawp instance ids are 12 characters.
    return f"BENCH{index:07d}"


def chat_id(instance: int, chat: int) -> str:
    # 12 digits: a plausible E.164 number, unique per (instance, chat).
    return f"44{7000000000 + instance * 100 + chat}@c.us"


def parse_seq(command_id: str) -> int:
    return int(command_id.rsplit("-", 1)[1])


@dataclass(frozen=True, slots=True)
class Command:
    seq: int
    id: str
    instance_id: str
    chat_id: str
    text: str

    def to_json(self, created_at: float) -> bytes:
        stamp = datetime.fromtimestamp(created_at, UTC).isoformat()
        return json.dumps(
            {
                "schema": "wawp.command.v1",
                "id": self.id,
                "instance_id": self.instance_id,
                "action": "sendText",
                "params": {"chatId": self.chat_id, "message": self.text},
                "created_at": stamp,
            },
            separators=(",", ":"),
        ).encode()


@dataclass(frozen=True, slots=True)
class Workload:
    """``count`` commands over ``instances`` free instances; with ``hot_count`` > 0, that many
    more go to the hot instance (index ``instances``), spread evenly among the others."""

    prefix: str
    count: int
    instances: int = 1000
    chats: int = 5
    first_instance: int = 0
    hot_count: int = 0

    @property
    def hot_instance(self) -> str | None:
        return instance_id(self.first_instance + self.instances) if self.hot_count else None

    @property
    def total(self) -> int:
        return self.count + self.hot_count

    def commands(self) -> Iterator[Command]:
        every = self.count // self.hot_count if self.hot_count else 0
        seq = 0
        hot_left = self.hot_count
        for i in range(self.count):
            if every and i % every == 0 and hot_left:
                yield self._command(seq, self.instances, i)
                seq += 1
                hot_left -= 1
            yield self._command(seq, i % self.instances, i // self.instances)
            seq += 1
        for _ in range(hot_left):
            yield self._command(seq, self.instances, seq)
            seq += 1

    def _command(self, seq: int, index: int, turn: int) -> Command:
        number = self.first_instance + index
        command_id = f"{self.prefix}-{seq}"
        return Command(
            seq=seq,
            id=command_id,
            instance_id=instance_id(number),
            chat_id=chat_id(number, turn % self.chats),
            text=f"bench {command_id}",
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Workload:
        return cls(**json.loads(raw))
