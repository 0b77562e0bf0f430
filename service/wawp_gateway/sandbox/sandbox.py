"""`Sandbox`: the simulator's config and state, and the Python API tests drive it with."""

from __future__ import annotations

import asyncio
import functools
import random
from typing import Any

import structlog

from .catalog import Catalog, load_catalog
from .config import SandboxConfig
from .faults import FaultBook, FaultRule
from .inflight import HeldRequest, InFlightRequests
from .requestlog import RequestLog, RequestRecord
from .state import Engine, Instance, SandboxState, SessionStatus, StoredMessage
from .webhooks import (
    EventBuilder,
    RetryPolicy,
    WebhookDispatcher,
    WebhookTarget,
    ack_payload,
    ack_steps,
    envelope,
    message_any_payload,
)

__all__ = ["Sandbox"]

log = structlog.get_logger(__name__)


class Sandbox:
    """Everything one simulated Wawp holds. Use it from the event loop that serves it."""

    def __init__(self, config: SandboxConfig | None = None, catalog: Catalog | None = None) -> None:
        self.config = config or SandboxConfig()
        self.catalog = catalog or load_catalog()
        # Separate streams so that adding a fault rule never changes the ids handed out.
        self.state = SandboxState(random.Random(self.config.seed))
        self.faults = FaultBook(random.Random(self.config.seed + 1))
        self._latency = random.Random(self.config.seed + 2)
        self.log = RequestLog()
        self.inflight = InFlightRequests()
        self.webhooks = WebhookDispatcher(
            RetryPolicy(
                attempts=self.config.webhook_attempts,
                first_delay_s=self.config.webhook_retry_s,
                max_pending=self.config.webhook_max_pending,
            )
        )
        self.ack_delays_ms = self.config.ack_delays_ms
        self._account_tokens = {t.get_secret_value() for t in self.config.account_tokens}
        # Set on shutdown so that "hang" faults let go of their connections.
        self.closing = asyncio.Event()
        for instance_id, token in self.config.instances.items():
            self.add_instance(instance_id, token.get_secret_value())
        if self.config.webhook_url:
            self.set_webhook(
                self.config.webhook_url,
                secret=_reveal(self.config.webhook_secret),
                hmac_key=_reveal(self.config.webhook_hmac_key),
            )

    # -- instances and sessions -------------------------------------------------------------

    def add_instance(
        self,
        instance_id: str,
        token: str,
        status: SessionStatus = "WORKING",
        engine: Engine = "WEBJS",
        *,
        final_ack: int = 3,
    ) -> Instance:
        """Register (or replace) an instance owned by `token`; the token becomes valid."""
        instance = Instance(instance_id, token, status, engine, final_ack=final_ack)
        self.state.instances[instance_id] = instance
        return instance

    def instance(self, instance_id: str) -> Instance | None:
        return self.state.instances.get(instance_id)

    def is_valid_token(self, token: str) -> bool:
        if token in self._account_tokens:
            return True
        return any(i.token == token for i in self.state.instances.values())

    def add_account_token(self, token: str) -> None:
        self._account_tokens.add(token)

    def set_session_status(self, instance_id: str, status: SessionStatus) -> None:
        """Move a session to `status`, posting `session.status` when it changes."""
        instance = self.state.instances[instance_id]
        self.change_status(instance, status)

    def change_status(
        self, instance: Instance, *statuses: SessionStatus, new: bool = False
    ) -> None:
        """Walk through `statuses` in order; each real change is one `session.status` event
        (`new`: the instance was just created, so its first status is a change too)."""
        steps: list[tuple[float, EventBuilder]] = []
        for status in statuses:
            if status == instance.status and not new:
                continue
            new = False
            instance.status = status
            payload = {"name": instance.instance_id, "status": status}
            steps.append((0.0, functools.partial(envelope, instance, "session.status", payload)))
        log.debug(
            "session.status_changed", instance_id=instance.instance_id, status=instance.status
        )
        self.webhooks.emit(steps, lane=f"session:{instance.instance_id}")

    def delete_instance(self, instance_id: str) -> None:
        self.state.instances.pop(instance_id, None)

    # -- messages -----------------------------------------------------------------------------

    def messages(self, instance_id: str, chat_id: str | None = None) -> list[StoredMessage]:
        """Stored messages, oldest first; of one chat, or of all chats in store order."""
        instance = self.state.instances.get(instance_id)
        if instance is None:
            return []
        if chat_id is not None:
            return list(instance.chats.get(chat_id, ()))
        everything = [m for chat in instance.chats.values() for m in chat]
        return sorted(everything, key=lambda m: m.seq)

    def announce(self, instance: Instance, message: StoredMessage) -> None:
        """Post message.any, then the acks, for a message just stored."""
        if self.webhooks.target is None:  # the benchmark path: build nothing
            return
        any_payload = message_any_payload(message)
        steps: list[tuple[float, EventBuilder]] = [
            (0.0, functools.partial(envelope, instance, "message.any", any_payload))
        ]
        for delay_ms, ack in ack_steps(instance.final_ack, self.ack_delays_ms):
            steps.append((delay_ms / 1000, functools.partial(_ack_event, instance, message, ack)))
        self.webhooks.emit(steps)

    # -- faults, requests, webhooks -----------------------------------------------------------

    def add_fault(self, rule: FaultRule) -> None:
        self.faults.add(rule)

    def clear_faults(self) -> None:
        self.faults.clear()

    def requests(
        self, instance_id: str | None = None, action: str | None = None
    ) -> list[RequestRecord]:
        return self.log.select(instance_id, action)

    def clear_requests(self) -> None:
        self.log.clear()

    def held_requests(self, instance_id: str | None = None) -> list[HeldRequest]:
        """Requests received and not yet answered (latency, hang), oldest first."""
        return self.inflight.held(instance_id)

    def draw_latency_ms(self) -> float:
        """This request's latency: `latency_ms` plus a seeded draw in [0, `latency_jitter_ms`]."""
        jitter = self.config.latency_jitter_ms
        extra = self._latency.uniform(0.0, jitter) if jitter > 0 else 0.0
        return self.config.latency_ms + extra

    def set_webhook(
        self, url: str | None, secret: str | None = None, hmac_key: str | None = None
    ) -> None:
        """Post events to `url` (None stops webhooks)."""
        self.webhooks.target = WebhookTarget(url, secret, hmac_key) if url else None

    async def aclose(self) -> None:
        """Release hanging requests and stop posting webhooks."""
        self.closing.set()
        await self.webhooks.aclose()


def _ack_event(instance: Instance, message: StoredMessage, ack: int) -> dict[str, Any]:
    # Built when due, so the stored message shows the ack level its webhook announced.
    message.ack = max(message.ack, ack) if ack > 0 else ack
    return envelope(instance, "message.ack", ack_payload(message, ack))


def _reveal(secret: Any) -> str | None:
    return None if secret is None else str(secret.get_secret_value())
