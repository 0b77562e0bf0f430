"""WawpClient: what each Wawp answer means (docs/contract.md "Outcomes" and the error model)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from fakes import FakeTransport
from strategies import json_values
from wawp_gateway.core.errors import (
    WawpAuthError,
    WawpError,
    WawpMaybeProcessed,
    WawpNotProcessed,
    WawpQuotaExceeded,
    WawpRateLimited,
    WawpRejected,
    WawpServerError,
    WawpUnavailable,
)
from wawp_gateway.core.sections import WawpSettings
from wawp_gateway.wawp.catalog import ACTIONS
from wawp_gateway.wawp.client import WawpClient, classify_response
from wawp_gateway.wawp.transports.base import HttpResponse

SEND = ACTIONS["sendText"]
QUERY = ACTIONS["getSessionInfo"]
MID = "true_447441429009@c.us_3EB0C767D26A1D5E3E4F"
TOKEN = "tok-SECRET-abcdef0123456789"
QUOTA = "The number of messages you have sent per month has exceeded the maximum limit"


def _response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> HttpResponse:
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return HttpResponse(status, headers or {}, raw)


def _raises(cls: type[WawpError], status: int, body: Any = None, **kw: Any) -> WawpError:
    with pytest.raises(cls) as caught:
        classify_response(kw.pop("spec", SEND), _response(status, body, **kw), secret=TOKEN)
    assert caught.value.http_status == status
    return caught.value


@pytest.mark.parametrize(
    "body",
    [
        {"id": {"fromMe": True, "remote": "447441429009@c.us", "id": "3EB0", "_serialized": MID}},
        {"_data": {"id": {"_serialized": MID}}, "ack": 0},
        {"id": "ignored-shape", "_data": {"Info": {"ID": MID}}},
        {"_data": {"Info": {"ID": MID, "IsFromMe": True}}},
        {"id": MID},
    ],
    ids=["webjs-id", "webjs-_data", "gows-plain-id", "gows-info", "plain-string"],
)
def test_2xx_send_yields_the_message_id_of_every_engine_shape(body: dict[str, Any]) -> None:
    """WEBJS id._serialized, _data.id._serialized, GOWS _data.Info.ID and a plain id string."""
    reply = classify_response(SEND, _response(201, body))
    expected = "ignored-shape" if body.get("id") == "ignored-shape" else MID
    assert reply.message_id == expected
    assert reply.http_status == 201
    assert reply.body == body


@pytest.mark.parametrize("status", [200, 201])
def test_2xx_quota_text_is_quota_exceeded(status: int) -> None:
    """Wawp's monthly quota arrives as a 2xx text: failed, code quota_exceeded, not retried."""
    error = _raises(WawpQuotaExceeded, status, {"status": "success", "message": QUOTA})
    assert error.code == "quota_exceeded"
    assert not error.retryable
    assert error.dlq_reason == "permanent"


def test_2xx_plain_text_quota_is_quota_exceeded() -> None:
    """The quota text may come as a bare string body."""
    _raises(WawpQuotaExceeded, 200, QUOTA.encode())


def test_queued_send_succeeds_without_a_message_id() -> None:
    """Wawp's queued form {"sent": true} is a success with message_id None."""
    reply = classify_response(SEND, _response(200, {"sent": True, "upstream_status": 201}))
    assert reply.message_id is None
    assert reply.body == {"sent": True, "upstream_status": 201}


@pytest.mark.parametrize(
    "body", [{"status": "success", "message": QUOTA}, {"id": "x"}, [1, 2], "plain text", None]
)
def test_non_message_actions_succeed_on_any_2xx(body: Any) -> None:
    """Queries and admin actions succeed on any 2xx, even the quota text, with no message id."""
    reply = classify_response(QUERY, _response(200, body))
    assert reply.message_id is None
    assert reply.body == body


def test_429_with_retry_after_seconds() -> None:
    """429 is not processed; Retry-After in seconds is kept."""
    error = _raises(WawpRateLimited, 429, {"message": "slow down"}, headers={"retry-after": "7"})
    assert isinstance(error, WawpRateLimited)
    assert error.retry_after_s == 7.0
    assert error.retryable
    assert not error.maybe_processed
    assert error.code == "http_429"


def test_429_with_retry_after_http_date() -> None:
    """An HTTP-date Retry-After becomes the seconds until then."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    error = _raises(WawpRateLimited, 429, None, headers={"retry-after": when})
    assert isinstance(error, WawpRateLimited)
    assert error.retry_after_s is not None
    assert 100 <= error.retry_after_s <= 121


def test_429_retry_after_date_without_zone_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """A "-0000" HTTP-date is UTC, not the host's local time."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=120)).replace("+0000", "-0000")
        error = _raises(WawpRateLimited, 429, None, headers={"retry-after": when})
    finally:
        monkeypatch.undo()
        time.tzset()
    assert isinstance(error, WawpRateLimited)
    assert error.retry_after_s is not None
    assert 100 <= error.retry_after_s <= 121


@pytest.mark.parametrize("value", ["soon", "", "-5", "\u00b2", "1.5e400", "Wed, 99 Foo 2026"])
def test_429_with_an_unusable_retry_after_has_none(value: str) -> None:
    """A Retry-After that is neither seconds nor a date is ignored, never a crash."""
    error = _raises(WawpRateLimited, 429, None, headers={"retry-after": value})
    assert isinstance(error, WawpRateLimited)
    assert error.retry_after_s is None


def test_429_without_retry_after() -> None:
    """No Retry-After: retry_after_s is None and the backoff decides."""
    error = _raises(WawpRateLimited, 429)
    assert isinstance(error, WawpRateLimited)
    assert error.retry_after_s is None


def test_503_is_unavailable_and_not_processed() -> None:
    """503: Wawp did not act, safe to retry."""
    error = _raises(WawpUnavailable, 503, {"message": "maintenance"})
    assert isinstance(error, WawpNotProcessed)
    assert error.code == "http_503"


@pytest.mark.parametrize("status", [200, 201, 400, 500, 502, 504])
def test_proxy_error_code_is_not_processed_whatever_the_status(status: int) -> None:
    """Wawp's proxy_error (engine unreachable) wins over the status: retry, nothing was sent."""
    error = _raises(WawpUnavailable, status, {"code": "proxy_error", "message": "no engine"})
    assert error.code == "proxy_error"
    assert not error.maybe_processed


@pytest.mark.parametrize("code", ["wawp_upstream_error", "server_not_found"])
@pytest.mark.parametrize("status", [200, 400, 404, 500, 503])
def test_upstream_codes_are_maybe_processed_whatever_the_status(code: str, status: int) -> None:
    """wawp_upstream_error and server_not_found: Wawp may have acted."""
    error = _raises(WawpServerError, status, {"code": code, "message": "engine failed"})
    assert isinstance(error, WawpMaybeProcessed)
    assert error.code == code


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"code": "rest_missing_callback_param", "message": "Missing chatId"}, None),
        (404, {"code": "invalid_instance", "message": "Instance not found"}, None),
        (403, {"code": "quota_reached", "message": "Plan limit"}, None),
        (403, {"message": "Monthly quota reached"}, "http_403"),
        (400, b"Bad Request", "http_400"),
        (404, None, "http_404"),
        (409, {"status": "error", "message": "conflict"}, "http_409"),
        (422, {"error": "Unprocessable Entity"}, "http_422"),
    ],
)
def test_4xx_is_rejected_with_wawps_code(status: int, body: Any, code: str | None) -> None:
    """400/403/404 and other 4xx fail at once with Wawp's code, else http_<status>."""
    error = _raises(WawpRejected, status, body)
    assert type(error) is WawpRejected
    assert error.code == (code or body["code"])
    assert not error.retryable
    assert error.dlq_reason == "permanent"


@pytest.mark.parametrize(
    "body",
    [{"code": "invalid_access_token", "message": "Invalid access token"}, None, b"Unauthorized"],
)
def test_401_is_an_auth_error(body: Any) -> None:
    """401 fails with invalid_access_token and dlq reason auth."""
    error = _raises(WawpAuthError, 401, body)
    assert error.code == "invalid_access_token"
    assert error.dlq_reason == "auth"
    assert not error.retryable


@pytest.mark.parametrize("status", [500, 502, 504, 507, 599, 301, 302, 304])
def test_5xx_and_3xx_are_maybe_processed(status: int) -> None:
    """500/502/504, other 5xx and 3xx: Wawp may have acted."""
    error = _raises(WawpServerError, status, {"message": "boom"})
    assert error.maybe_processed
    assert error.code == f"http_{status}"


def test_v2_error_envelope_gives_the_code_and_message() -> None:
    """v2's {status: "error", message, error} carries the code in `error`."""
    error = _raises(
        WawpRejected,
        404,
        {"status": "error", "message": "Instance not found", "error": "invalid_instance"},
    )
    assert error.code == "invalid_instance"
    assert error.message == "Instance not found"


def test_non_json_error_body_becomes_the_message() -> None:
    """Wawp v2 may answer errors as text or XML."""
    error = _raises(WawpServerError, 500, b"<html><body>Internal error</body></html>")
    assert error.code == "http_500"
    assert "Internal error" in error.message


def test_invalid_utf8_body_does_not_break_classification() -> None:
    """Bytes that are not UTF-8 still yield an error, not a crash."""
    _raises(WawpServerError, 502, b"\xff\xfe\x00garbage")


def test_empty_error_body_has_a_fallback_message() -> None:
    """No body: the message states the HTTP status."""
    error = _raises(WawpServerError, 500, None)
    assert "500" in error.message


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"code": "invalid_access_token", "message": f"Token {TOKEN} is not valid"}),
        (400, {"message": f"bad request ?access_token={TOKEN}&instance_id=X"}),
        (500, f"upstream said access_token={TOKEN}".encode()),
        (404, {"status": "error", "message": f"no {TOKEN}", "error": "invalid_instance"}),
        (400, {"code": TOKEN, "message": "echo"}),
        (200, {"status": "success", "message": f"{QUOTA} for {TOKEN}"}),
    ],
)
def test_the_token_never_appears_in_an_error(status: int, body: Any) -> None:
    """Even when Wawp echoes the token, no message, code or repr of the error holds it."""
    with pytest.raises(WawpError) as caught:
        classify_response(SEND, _response(status, body), secret=TOKEN)
    error = caught.value
    for text in (str(error), repr(error), error.message, error.code):
        assert TOKEN not in text


def test_long_error_messages_are_truncated() -> None:
    """A huge error body does not become a huge result."""
    error = _raises(WawpRejected, 400, {"message": "x" * 10_000})
    assert len(error.message) <= 300


# --- WawpClient.call end to end over a fake transport ----------------------------------------


def _client(
    *responses: HttpResponse, token: str | None = TOKEN
) -> tuple[WawpClient, FakeTransport]:
    transport = FakeTransport(responses)
    settings = WawpSettings(
        base_url="https://wawp.test/wp-json/awp/v1", v2_base_url="https://v2.test"
    )
    lookup = {"ABC123DEF456": SecretStr(token)} if token else {}
    return WawpClient(settings, transport, lookup.get), transport


async def test_call_sends_one_request_and_returns_the_message_id() -> None:
    """One call, one HTTP request with auth in the query; the reply carries the message id."""
    client, transport = _client(_response(201, {"id": {"_serialized": MID}}))
    reply = await client.call(
        SEND, {"chatId": "447441429009@c.us", "message": "hi"}, instance_id="ABC123DEF456"
    )
    assert reply.message_id == MID
    assert len(transport.requests) == 1
    request = transport.requests[0]
    assert request.method == "POST"
    assert request.url == "https://wawp.test/wp-json/awp/v1/send"
    assert ("access_token", TOKEN) in request.query
    assert ("instance_id", "ABC123DEF456") in request.query
    assert ("message", "hi") in request.query


async def test_call_maps_errors_and_scrubs_the_token() -> None:
    """An error answer raises the mapped error without the instance's token."""
    client, _ = _client(_response(401, {"code": "invalid_access_token", "message": TOKEN}))
    with pytest.raises(WawpAuthError) as caught:
        await client.call(QUERY, {}, instance_id="ABC123DEF456")
    assert TOKEN not in str(caught.value)


async def test_call_without_a_token_fails_without_any_request() -> None:
    """An instance with no token never reaches Wawp."""
    client, transport = _client(token=None)
    with pytest.raises(WawpAuthError):
        await client.call(QUERY, {}, instance_id="ABC123DEF456")
    assert transport.requests == []


async def test_aclose_closes_the_transport() -> None:
    """The client owns no resources beyond its transport."""
    client, transport = _client()
    await client.aclose()
    assert transport.closed


@settings(max_examples=400, deadline=None)
@given(
    status=st.integers(100, 599),
    body=st.binary(max_size=100) | json_values(10).map(lambda v: json.dumps(v).encode()),
    retry_after=st.none() | st.text(max_size=30),
    action=st.sampled_from(["sendText", "getSessionInfo", "deleteSession"]),
)
def test_any_answer_is_a_reply_or_a_wawp_error(
    status: int, body: bytes, retry_after: str | None, action: str
) -> None:
    """Whatever Wawp answers, the client returns a reply or raises one of our errors."""
    headers = {} if retry_after is None else {"retry-after": retry_after}
    try:
        reply = classify_response(
            ACTIONS[action], HttpResponse(status, headers, body), secret=TOKEN
        )
    except WawpError as exc:
        error: WawpError | None = exc
    else:
        error = None
        assert 200 <= status < 300
        assert reply.http_status == status
    if error is not None:
        assert error.http_status == status
        assert error.code
        assert TOKEN not in error.message


@pytest.mark.parametrize("token", ["tok+with/special=chars", "tok with space"])
def test_url_encoded_token_echoes_are_scrubbed_too(token: str) -> None:
    """A body echoing the request URL holds the token percent-encoded; that is removed too."""
    from urllib.parse import quote, quote_plus

    body = {"message": f"bad url ?access_token={quote(token, safe='')}&x={quote_plus(token)}"}
    with pytest.raises(WawpRejected) as caught:
        classify_response(SEND, _response(400, body), secret=token)
    assert quote(token, safe="") not in caught.value.message
    assert quote_plus(token) not in caught.value.message
