"""The `/_sandbox/` admin API: the Python API over HTTP, for benchmarks and the CLI.

Admin calls are not Wawp traffic, so they never enter the request log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from pydantic import BaseModel, Field, ValidationError

from .asgi import Receive, Scope, Send, read_body, send_reply
from .faults import FaultRule
from .messages import listed_message
from .replies import Reply
from .sandbox import Sandbox
from .state import Engine, Instance, SessionStatus

__all__ = ["InstanceSpec", "StatusSpec", "WebhookSpec", "handle_admin"]

_PREFIX = "/_sandbox/"


class InstanceSpec(BaseModel):
    instance_id: str = Field(min_length=1)
    token: str = Field(min_length=1, repr=False)
    status: SessionStatus = "WORKING"
    engine: Engine = "WEBJS"
    final_ack: int = Field(default=3, ge=-1, le=3)


class WebhookSpec(BaseModel):
    url: str | None = None
    secret: str | None = Field(default=None, repr=False)
    hmac_key: str | None = Field(default=None, repr=False)


class StatusSpec(BaseModel):
    status: SessionStatus


def _instance_view(instance: Instance) -> dict[str, Any]:
    # Never the token.
    return {
        "instance_id": instance.instance_id,
        "status": instance.status,
        "engine": instance.engine,
        "final_ack": instance.final_ack,
        "me": instance.me,
        "messages": sum(len(chat) for chat in instance.chats.values()),
    }


def _bad_request(message: str) -> Reply:
    return Reply(400, {"error": message})


def _not_found() -> Reply:
    return Reply(404, {"error": "not found"})


def _route(sandbox: Sandbox, method: str, path: str, query: Mapping[str, str], body: Any) -> Reply:
    parts = [unquote(p) for p in path[len(_PREFIX) :].strip("/").split("/")]
    head = parts[0]
    if (method, parts) == ("GET", ["healthz"]):
        hooks = sandbox.webhooks.counts()
        return Reply(200, {"status": "ok", "webhooks": hooks})
    if head == "requests" and len(parts) == 1:
        if method == "DELETE":
            sandbox.clear_requests()
            return Reply(200, {"cleared": True})
        if method == "GET":
            since = int(query.get("since_seq") or 0)
            found = sandbox.log.select(query.get("instance_id"), query.get("action"), since)
            return Reply(200, [r.to_json() for r in found])
    if (method, parts) == ("GET", ["held"]):
        held = sandbox.held_requests(query.get("instance_id") or None)
        return Reply(200, [r.to_json() for r in held])
    if head == "faults" and len(parts) == 1:
        if method == "POST":
            rule = FaultRule.model_validate(body)
            sandbox.add_fault(rule)
            return Reply(201, rule.model_dump())
        if method == "GET":
            return Reply(200, [r.model_dump() for r in sandbox.faults.rules()])
        if method == "DELETE":
            sandbox.clear_faults()
            return Reply(200, {"cleared": True})
    if head == "instances":
        return _instances(sandbox, method, parts[1:], body)
    if (method, parts) == ("POST", ["webhook"]):
        hook = WebhookSpec.model_validate(body)
        sandbox.set_webhook(hook.url, hook.secret, hook.hmac_key)
        return Reply(200, {"url": hook.url})
    if (method, parts) == ("GET", ["messages"]):
        instance_id = query.get("instance_id")
        if not instance_id:
            return _bad_request("instance_id is required")
        messages = sandbox.messages(instance_id, query.get("chat_id") or None)
        return Reply(200, [{**listed_message(m), "action": m.action} for m in messages])
    return _not_found()


def _instances(sandbox: Sandbox, method: str, rest: list[str], body: Any) -> Reply:
    if method == "POST" and not rest:
        spec = InstanceSpec.model_validate(body)
        added = sandbox.add_instance(
            spec.instance_id, spec.token, spec.status, spec.engine, final_ack=spec.final_ack
        )
        return Reply(201, _instance_view(added))
    instance = sandbox.instance(rest[0]) if rest else None
    if instance is None:
        return _not_found()
    if method == "GET" and len(rest) == 1:
        return Reply(200, _instance_view(instance))
    if method == "PUT" and rest[1:] == ["status"]:
        sandbox.set_session_status(instance.instance_id, StatusSpec.model_validate(body).status)
        return Reply(200, _instance_view(instance))
    return _not_found()


async def handle_admin(sandbox: Sandbox, scope: Scope, receive: Receive, send: Send) -> None:
    raw, gone = await read_body(receive)
    if gone:
        return
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    try:
        body = json.loads(raw) if raw.strip() else None
        reply = _route(sandbox, scope["method"], scope["path"], query, body)
    except ValidationError as exc:
        details = json.loads(exc.json(include_input=False, include_url=False))
        reply = Reply(400, {"error": "invalid body", "details": details})
    except ValueError as exc:  # bad JSON, non-integer since_seq
        reply = _bad_request(str(exc))
    await send_reply(send, reply)
