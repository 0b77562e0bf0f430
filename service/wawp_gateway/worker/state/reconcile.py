"""Reconciliation: was a maybe-sent message sent after all? Look it up in its chat.

Only where ``GATEWAY_RECONCILE__ENABLED``. The rule works against real Wawp, which has no
idempotency key to ask about: in the same chat, a message from this account (``fromMe``) with the
same text or caption, stamped within the window after the first attempt. Exactly one such
message: it was sent (``succeeded`` with its id). None by the end of the window: still
``outcome_unknown``. More than one: they cannot be told apart, so still ``outcome_unknown``.
Lookups are not attempts, but each takes a rate token like any call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog

from wawp_gateway.core.contracts import ErrorInfo, ResultStatus
from wawp_gateway.core.errors import WawpError
from wawp_gateway.wawp.catalog import ACTIONS
from wawp_gateway.worker.intake import OutboundCommand
from wawp_gateway.worker.pipeline import Clock, Outcome, WawpPort

__all__ = ["Lookup", "ReconcileRule", "matching_text", "reconcile"]

log = structlog.get_logger(__name__)

# Where each action keeps the text WhatsApp shows as the message body (its caption for media).
_TEXT_PARAM = {
    "sendText": "message",
    "sendLinkPreview": "text",
    "sendImage": "caption",
    "sendFile": "caption",
    "sendVideo": "caption",
}
_LOOKUP = ACTIONS["chatMessages"]
# Wawp stamps messages in whole seconds, and its clock is not ours.
_CLOCK_SLACK_S = 5.0


@dataclass(frozen=True, slots=True)
class ReconcileRule:
    window_s: float
    interval_s: float
    limit: int


def matching_text(command: OutboundCommand) -> tuple[str, str] | None:
    """(chat, text) to look for, or None when the command cannot be recognized in a chat."""
    param = _TEXT_PARAM.get(command.action)
    chat = command.params.get("chatId")
    text = command.params.get(param) if param else None
    if not isinstance(chat, str) or not isinstance(text, str) or not text:
        return None
    return chat, text


def _message_id(message: Mapping[str, Any]) -> str | None:
    ident = message.get("id")
    if isinstance(ident, Mapping):
        ident = ident.get("_serialized") or ident.get("id")
    return ident if isinstance(ident, str) and ident else None


def _candidates(body: Any, text: str, since: float, until: float) -> list[str]:
    if isinstance(body, Mapping):
        body = body.get("messages") or body.get("data") or []
    if not isinstance(body, list):
        return []
    found = []
    for message in body:
        if not isinstance(message, Mapping) or message.get("fromMe") is not True:
            continue
        stamp = message.get("timestamp")
        if not isinstance(stamp, int | float) or not since <= stamp <= until:
            continue
        if message.get("body") != text:
            continue
        ident = _message_id(message)
        if ident is not None:
            found.append(ident)
    return sorted(set(found))


Lookup = Callable[[float], Awaitable[bool]]  # wait for a rate turn until a monotonic deadline


async def reconcile(
    command: OutboundCommand,
    unknown: Outcome,
    *,
    first_attempt_at: float,
    wawp: WawpPort,
    clock: Clock,
    rule: ReconcileRule,
    turn: Lookup,
) -> Outcome:
    """``unknown`` resolved by looking in the chat, or ``unknown`` itself (its message says why).

    ``first_attempt_at`` is Unix seconds; ``turn`` waits for the instance's rate token."""
    wanted = matching_text(command)
    if wanted is None:
        return unknown
    chat, text = wanted
    since, until = first_attempt_at - _CLOCK_SLACK_S, first_attempt_at + rule.window_s
    params = {
        "chatId": chat,
        "limit": rule.limit,
        "filter.fromMe": True,
        "filter.timestamp.gte": int(since),
    }
    lookups = 0
    while True:
        left = until - clock.time()
        # A lookup may wait an interval for its turn, also the first (however late it starts)
        # and the last (the one at the end of the window).
        if not await turn(clock.monotonic() + max(left, rule.interval_s)):
            return _still_unknown(unknown, "no rate turn for a lookup within the window")
        lookups += 1
        try:
            reply = await wawp.call(_LOOKUP, params, instance_id=command.instance_id)
        except WawpError as error:
            log.info("reconcile.lookup_failed", code=error.code, lookups=lookups)
        else:
            found = _candidates(reply.body, text, since, until + _CLOCK_SLACK_S)
            if len(found) == 1:
                log.info("reconcile.found", command_id=command.id, lookups=lookups)
                return replace(
                    unknown,
                    status=ResultStatus.SUCCEEDED,
                    message_id=found[0],
                    error=None,
                    dlq_reason=None,
                )
            if len(found) > 1:
                return _still_unknown(
                    unknown, f"{len(found)} matching messages in the chat: cannot tell which"
                )
        left = until - clock.time()
        if left <= 0:
            return _still_unknown(unknown, f"not found in the chat within {rule.window_s:g} s")
        await clock.sleep(min(rule.interval_s, left))


def _still_unknown(unknown: Outcome, why: str) -> Outcome:
    error = unknown.error or ErrorInfo(code="maybe_sent", message="", retryable=False)
    message = f"{error.message}; reconciliation: {why}" if error.message else why
    return replace(unknown, error=error.model_copy(update={"message": message}))
