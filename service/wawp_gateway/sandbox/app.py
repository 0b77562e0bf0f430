"""The ASGI app: Wawp's v1 and v2 routes from the catalog, plus the `/_sandbox/` admin API.

Order of checks for a Wawp route, as a WordPress plugin in front of an engine would do them:
route (404) -> token (401) -> instance (400 missing / 404 unknown) -> params (400) -> fault
rule and latency -> the action (422 when a send meets a session that is not WORKING).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal
from urllib.parse import parse_qsl

import structlog

from .actions import Call, execute
from .admin import handle_admin
from .asgi import (
    RECEIVED_AT_KEY,
    TRANSPORT_KEY,
    ASGIApp,
    Receive,
    Scope,
    Send,
    read_body,
    send_reply,
)
from .faults import FaultRule, fault_reply
from .inflight import Exchange
from .params import ParamError, merge_params, parse_body, parse_php_query, validate_params
from .replies import Reply, error_reply, no_route
from .requestlog import redact, redact_headers, redact_query
from .sandbox import Sandbox
from .state import Instance

__all__ = ["create_app"]

log = structlog.get_logger(__name__)

ADMIN_PREFIX = "/_sandbox/"
_HANG_BOUND_S = 3600.0
_NO_INSTANCE = frozenset({"createSession"})


def _token(query: dict[str, Any], body: Any) -> tuple[str | None, Literal["query", "body"] | None]:
    value = query.get("access_token")
    if isinstance(value, str) and value:
        return value, "query"
    value = body.get("access_token") if isinstance(body, dict) else None
    if isinstance(value, str) and value:
        return value, "body"
    return None, None


class _WawpHandler:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_body, gone = await read_body(receive)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        client = scope.get("client")
        exchange = self.sandbox.inflight.open(
            at=scope.get("extensions", {}).get(RECEIVED_AT_KEY) or time.time(),
            method=scope["method"],
            path=raw_path.decode("latin-1"),
            query=redact_query(pairs),
            client=(str(client[0]), int(client[1])) if client else None,
            headers=redact_headers(scope["headers"]),
        )
        try:
            reply = await self._reply(scope, receive, exchange, raw_body, pairs)
            if reply is None:  # hang or disconnect: answered (not) already
                return
            self._record(exchange, reply.status)
            if not gone:
                # A client that left meanwhile is no error: the server drops the answer.
                await send_reply(send, reply)
        finally:
            self.sandbox.inflight.close(exchange)

    async def _reply(
        self,
        scope: Scope,
        receive: Receive,
        exchange: Exchange,
        raw_body: bytes,
        pairs: list[tuple[str, str]],
    ) -> Reply | None:
        try:
            return await self._handle(scope, receive, exchange, raw_body, pairs)
        except ParamError as exc:
            return Reply(400, exc.body())
        except ConnectionAbortedError:
            raise  # the disconnect fault outside our server: the client must see no answer
        except Exception:  # the request boundary: a sandbox bug must answer, not kill the server
            log.exception("request.failed", action=exchange.action)
            return error_reply(500, "sandbox_internal_error", "The sandbox failed.")

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        exchange: Exchange,
        raw_body: bytes,
        pairs: list[tuple[str, str]],
    ) -> Reply | None:
        sandbox = self.sandbox
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        body = parse_body(raw_body, content_type) if raw_body else None
        exchange.body = redact(body) if body is not None else None
        query = parse_php_query(pairs)
        token, exchange.token_in = _token(query, body)
        exchange.token_valid = token is not None and sandbox.is_valid_token(token)
        instance_value = (body if isinstance(body, dict) else {}).get("instance_id") or query.get(
            "instance_id"
        )
        exchange.instance_id = instance_value if isinstance(instance_value, str) else None

        match = sandbox.catalog.match(scope["method"], exchange.path)
        if match is None:
            return no_route()
        params = merge_params(query, body, match.path_params)
        action_name = match.pick(params)
        exchange.action = action_name
        if token is None or not exchange.token_valid:
            return error_reply(401, "invalid_access_token", "Invalid or missing access token.")
        instance: Instance | None = None
        if action_name not in _NO_INSTANCE:
            if exchange.instance_id is None:
                raise ParamError(
                    "rest_missing_callback_param",
                    "Missing parameter(s): instance_id",
                    ("instance_id",),
                )
            instance = sandbox.instance(exchange.instance_id)
            if instance is None or instance.token != token:
                return error_reply(404, "invalid_instance", "Invalid instance ID.")
        action = sandbox.catalog.actions[action_name]
        validate_params(action, params)

        rule = sandbox.faults.take(exchange.instance_id, action_name)
        delay_ms = sandbox.draw_latency_ms() + (rule.latency_ms if rule else 0.0)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        call = Call(action_name, action.method, token, instance, params)
        if rule is None or rule.kind == "latency":
            return execute(sandbox, call)
        if rule.acts_first:
            execute(sandbox, call)
        return await self._fault(rule, scope, receive, exchange)

    async def _fault(
        self, rule: FaultRule, scope: Scope, receive: Receive, exchange: Exchange
    ) -> Reply | None:
        if rule.kind == "hang":
            self._record(exchange, None)
            await self._hang(receive)
            return None
        if rule.kind == "disconnect":
            self._record(exchange, None)
            await _drop_connection(scope, receive)
            return None
        status, body, headers = fault_reply(rule)
        return Reply(status, body, headers)

    async def _hang(self, receive: Receive) -> None:
        # Held until the client gives up, the sandbox shuts down, or an hour passes.
        disconnected = asyncio.ensure_future(receive())
        closing = asyncio.ensure_future(self.sandbox.closing.wait())
        try:
            await asyncio.wait(
                {disconnected, closing}, timeout=_HANG_BOUND_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            disconnected.cancel()
            closing.cancel()

    def _record(self, exchange: Exchange, status: int | None) -> None:
        self.sandbox.log.append(
            arrival=exchange.arrival,
            at=exchange.at,
            method=exchange.method,
            path=exchange.path,
            action=exchange.action,
            instance_id=exchange.instance_id,
            query=exchange.query,
            body=exchange.body,
            status=status,
            token_in=exchange.token_in,
            token_valid=exchange.token_valid,
            client=exchange.client,
            headers=exchange.headers,
        )


async def _drop_connection(scope: Scope, receive: Receive) -> None:
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
    if transport is None:
        # Not under the sandbox's server: an exception is the closest thing to "no answer".
        raise ConnectionAbortedError("disconnect fault: no transport to drop")
    transport.abort()
    # Let the server see the connection is lost so it does not try to answer with a 500.
    await receive()


def create_app(sandbox: Sandbox) -> ASGIApp:
    """The sandbox as an ASGI 3 app; serve it with `serve()` for the disconnect fault to work."""
    wawp = _WawpHandler(sandbox)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(sandbox, receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"].startswith(ADMIN_PREFIX):
            await handle_admin(sandbox, scope, receive, send)
            return
        await wawp(scope, receive, send)

    return app


async def _lifespan(sandbox: Sandbox, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await sandbox.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
