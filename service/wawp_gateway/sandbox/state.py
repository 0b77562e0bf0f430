"""What the simulated Wawp knows: instances, their sessions and the messages it accepted."""

from __future__ import annotations

import hashlib
import random
import string
import time
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ENGINES",
    "SESSION_STATUSES",
    "Engine",
    "Instance",
    "SandboxState",
    "SessionStatus",
    "StoredMessage",
]

SessionStatus = Literal["STOPPED", "STARTING", "SCAN_QR_CODE", "WORKING", "FAILED"]
SESSION_STATUSES: tuple[SessionStatus, ...] = (
    "STOPPED",
    "STARTING",
    "SCAN_QR_CODE",
    "WORKING",
    "FAILED",
)
# WEBJS_DATA is WEBJS answering with the `{_data: {id: ...}}` shape some Wawp servers return.
Engine = Literal["WEBJS", "WEBJS_DATA", "GOWS"]
ENGINES: tuple[Engine, ...] = ("WEBJS", "WEBJS_DATA", "GOWS")
STATUS_CHAT = "status@broadcast"
_INSTANCE_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(slots=True)
class StoredMessage:
    """A message the sandbox accepted (and, as far as the client knows, WhatsApp sent)."""

    serialized_id: str  # what clients pass back as messageId
    short_id: str  # the engine's own id ("3EB0...")
    chat_id: str
    action: str
    type: str
    body: str
    timestamp: int
    sender: str
    seq: int  # store order across chats
    ack: int = 1


@dataclass(slots=True)
class Instance:
    """One WhatsApp number (a Wawp instance) and its session."""

    instance_id: str
    token: str
    status: SessionStatus = "WORKING"
    engine: Engine = "WEBJS"
    # Last message.ack level posted for this instance's messages: 1..3 stop at SERVER, DEVICE
    # or READ; 0 posts no ack; -1 posts a single ERROR ack (a send WhatsApp later refused).
    final_ack: int = 3
    name: str = ""
    chats: dict[str, list[StoredMessage]] = field(default_factory=dict)

    me: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        # A stable fake account for the instance (derived from its id, never a real number).
        digest = int(hashlib.sha256(self.instance_id.encode()).hexdigest(), 16)
        self.me = {
            "id": f"4470{digest % 10**8:08d}@c.us",
            "pushName": f"Sandbox {self.instance_id}",
        }

    def session_info(self) -> dict[str, object]:
        return {
            "name": self.name or self.instance_id,
            "status": self.status,
            "config": {"webhooks": [], "proxy": None},
            "me": self.me if self.status == "WORKING" else None,
            "engine": {"engine": "GOWS" if self.engine == "GOWS" else "WEBJS"},
        }


class SandboxState:
    """Instances by id plus lookups by message id; mutated only from the event loop."""

    def __init__(self, rng: random.Random) -> None:
        self.instances: dict[str, Instance] = {}
        self._rng = rng
        self._stored = 0

    def new_instance_id(self) -> str:
        while True:
            candidate = "".join(self._rng.choices(_INSTANCE_ALPHABET, k=12))
            if candidate not in self.instances:
                return candidate

    def new_message_id(self) -> str:
        return f"3EB0{self._rng.getrandbits(64):016X}"

    def store(
        self, instance: Instance, *, chat_id: str, action: str, type_: str, body: str
    ) -> StoredMessage:
        short_id = self.new_message_id()
        serialized = short_id if instance.engine == "GOWS" else f"true_{chat_id}_{short_id}"
        message = StoredMessage(
            serialized_id=serialized,
            short_id=short_id,
            chat_id=chat_id,
            action=action,
            type=type_,
            body=body,
            timestamp=int(time.time()),
            sender=instance.me["id"],
            seq=self._stored,
        )
        self._stored += 1
        instance.chats.setdefault(chat_id, []).append(message)
        return message

    @staticmethod
    def find(instance: Instance, chat_id: str, message_id: str) -> StoredMessage | None:
        for message in instance.chats.get(chat_id, ()):
            if message_id in (message.serialized_id, message.short_id):
                return message
        return None

    @staticmethod
    def remove(instance: Instance, message: StoredMessage) -> None:
        instance.chats[message.chat_id].remove(message)
