"""Auth, params, the session state machine, engine shapes and the request log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from fakes import fresh_sandbox
from wawp_gateway.sandbox import Sandbox, SandboxConfig, running_sandbox

INSTANCE = "ABC123DEF456"
TOKEN = "tok-api-very-secret"
OTHER_INSTANCE = "OTHER0000001"
OTHER_TOKEN = "tok-other-very-secret"
AUTH = {"instance_id": INSTANCE, "access_token": TOKEN}
CHAT = "447441429009@c.us"
V1 = "/wp-json/awp/v1"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server() -> AsyncIterator[tuple[Sandbox, httpx.AsyncClient]]:
    config = SandboxConfig(
        instances={INSTANCE: TOKEN, OTHER_INSTANCE: OTHER_TOKEN},
        account_tokens=["tok-account-only"],
    )
    box = Sandbox(config)
    async with running_sandbox(box) as url, httpx.AsyncClient(base_url=url) as client:
        yield box, client


@pytest.fixture
def sandbox(server: tuple[Sandbox, httpx.AsyncClient]) -> tuple[Sandbox, httpx.AsyncClient]:
    fresh_sandbox(server[0], INSTANCE, TOKEN)
    return server


def _send_params(**extra: str) -> dict[str, str]:
    return {**AUTH, "chatId": CHAT, "message": "hello", **extra}


# -- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"instance_id": INSTANCE, "chatId": CHAT, "message": "x"},
        {"instance_id": INSTANCE, "access_token": "nope", "chatId": CHAT, "message": "x"},
        {"instance_id": INSTANCE, "access_token": "", "chatId": CHAT, "message": "x"},
    ],
)
async def test_missing_or_unknown_token_is_401(
    sandbox: tuple[Sandbox, httpx.AsyncClient], params: dict[str, str]
) -> None:
    box, client = sandbox
    response = await client.post(f"{V1}/send", params=params)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_access_token"
    assert box.messages(INSTANCE) == []


@pytest.mark.parametrize("instance_id", ["UNKNOWN00000", OTHER_INSTANCE])
async def test_unknown_or_foreign_instance_is_404(
    sandbox: tuple[Sandbox, httpx.AsyncClient], instance_id: str
) -> None:
    _, client = sandbox
    response = await client.post(
        f"{V1}/send", params={**_send_params(), "instance_id": instance_id}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "invalid_instance"


async def test_credentials_may_travel_in_the_json_body(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    response = await client.post(f"{V1}/send", json=_send_params())
    assert response.status_code == 201
    (record,) = box.requests()
    assert (record.token_in, record.token_valid) == ("body", True)
    assert record.body["access_token"] == "***"


async def test_missing_instance_id_is_a_missing_param(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    _, client = sandbox
    response = await client.post(
        f"{V1}/send", params={"access_token": TOKEN, "chatId": CHAT, "message": "x"}
    )
    assert response.status_code == 400
    assert response.json()["data"]["params"] == ["instance_id"]


# -- params ----------------------------------------------------------------------------------


async def test_missing_required_param_is_400(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    _, client = sandbox
    response = await client.post(f"{V1}/send", params={**AUTH, "message": "x"})
    assert response.status_code == 400
    assert response.json() == {
        "code": "rest_missing_callback_param",
        "message": "Missing parameter(s): chatId",
        "data": {"status": 400, "params": ["chatId"]},
    }


async def test_a_param_may_come_from_query_or_body(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    _, client = sandbox
    response = await client.post(f"{V1}/send", params=AUTH, json={"chatId": CHAT, "message": "hi"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("path", "method", "bad"),
    [
        ("/chats", "GET", {"limit": "ten"}),
        ("/star", "PUT", {"chatId": CHAT, "messageId": "m", "star": "maybe"}),
        ("/chats/x%40c.us/messages/m/pin", "POST", {"duration": "1.5"}),
    ],
)
async def test_light_type_checks_answer_rest_invalid_param(
    sandbox: tuple[Sandbox, httpx.AsyncClient], path: str, method: str, bad: dict[str, str]
) -> None:
    _, client = sandbox
    response = await client.request(method, V1 + path, params={**AUTH, **bad})
    assert response.status_code == 400
    assert response.json()["code"] == "rest_invalid_param"


def _image(mimetype: str) -> dict[str, str]:
    return {"file[url]": "https://x/a", "file[filename]": "a", "file[mimetype]": mimetype}


@pytest.mark.parametrize(
    ("mimetype", "status"),
    [("image/png", 201), ("image/jpeg", 201), ("image/gif", 400), ("application/pdf", 400)],
)
@pytest.mark.parametrize("path", ["/sendImage", "/status/image"])
async def test_images_must_be_png_or_jpeg(
    sandbox: tuple[Sandbox, httpx.AsyncClient], path: str, mimetype: str, status: int
) -> None:
    _, client = sandbox
    response = await client.post(V1 + path, params={**AUTH, "chatId": CHAT, **_image(mimetype)})
    assert response.status_code == status
    if status == 400:
        assert response.json()["code"] == "rest_invalid_param"


async def test_nested_file_object_in_the_body_counts(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    _, client = sandbox
    file = {"url": "https://x/a.png", "filename": "a.png", "mimetype": "image/png"}
    response = await client.post(
        f"{V1}/sendImage", params=AUTH, json={"chatId": CHAT, "file": file}
    )
    assert response.status_code == 201


async def test_invalid_json_body_is_400(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    _, client = sandbox
    response = await client.post(
        f"{V1}/send",
        params=_send_params(),
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "rest_invalid_json"


# -- sessions --------------------------------------------------------------------------------


async def test_session_state_machine(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    """createSession -> STOPPED; sends need WORKING; start/stop/logout/restart/delete move it."""
    _box, client = sandbox
    created = await client.post(
        f"{V1}/createSession", params={"access_token": "tok-account-only", "name": "shop"}
    )
    assert created.status_code == 200
    body = created.json()
    new_id = body["instance_id"]
    assert len(new_id) == 12
    assert new_id.isalnum()
    assert new_id.upper() == new_id
    assert body["session_name"] == "shop"
    assert body["server_name"]
    auth = {"instance_id": new_id, "access_token": "tok-account-only"}

    async def status() -> str:
        info = await client.get(f"{V1}/session/info", params=auth)
        return str(info.json()["status"])

    assert await status() == "STOPPED"
    refused = await client.post(f"{V1}/send", params={**auth, "chatId": CHAT, "message": "x"})
    assert refused.status_code == 422
    assert refused.json() == {
        "code": "session_not_working",
        "message": "Session status is not as expected",
        "data": {"status": 422, "session_status": "STOPPED"},
    }
    for path, expected in [
        ("/session/start", "WORKING"),
        ("/session/stop", "STOPPED"),
        ("/session/logout", "SCAN_QR_CODE"),
        ("/session/restart", "WORKING"),
    ]:
        moved = await client.post(V1 + path, params=auth)
        assert moved.json()["status"] == expected
        assert await status() == expected
    sent = await client.post("/v2/send/text", params={**auth, "chatId": CHAT, "message": "x"})
    assert sent.status_code == 201

    deleted = await client.delete(f"{V1}/session/delete", params=auth)
    assert deleted.status_code == 200
    gone = await client.get(f"{V1}/session/info", params=auth)
    assert gone.status_code == 404
    assert gone.json()["code"] == "invalid_instance"


async def test_set_session_status_blocks_sends(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    box, client = sandbox
    box.set_session_status(INSTANCE, "FAILED")
    response = await client.post("/v2/status/text", params={**AUTH, "text": "x"})
    assert response.status_code == 422
    assert response.json()["data"]["session_status"] == "FAILED"


# -- engines and stored messages -------------------------------------------------------------


async def test_webjs_message_object(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    box, client = sandbox
    body = (await client.post(f"{V1}/send", params=_send_params())).json()
    short = body["id"]["id"]
    assert short.startswith("3EB0")
    assert body["id"] == {
        "fromMe": True,
        "remote": CHAT,
        "id": short,
        "_serialized": f"true_{CHAT}_{short}",
    }
    assert (body["ack"], body["type"], body["to"], body["body"]) == (1, "chat", CHAT, "hello")
    assert body["from"].endswith("@c.us")
    assert isinstance(body["timestamp"], int)
    assert box.messages(INSTANCE, CHAT)[0].serialized_id == body["id"]["_serialized"]


async def test_webjs_data_message_object(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    box, client = sandbox
    box.add_instance(INSTANCE, TOKEN, engine="WEBJS_DATA")
    body = (await client.post(f"{V1}/send", params=_send_params())).json()
    assert set(body) == {"_data"}
    assert body["_data"]["id"]["_serialized"] == box.messages(INSTANCE)[0].serialized_id


async def test_gows_message_object(sandbox: tuple[Sandbox, httpx.AsyncClient]) -> None:
    box, client = sandbox
    box.add_instance(INSTANCE, TOKEN, engine="GOWS")
    body = (await client.post(f"{V1}/send", params=_send_params())).json()
    info = body["_data"]["Info"]
    assert body["id"] == info["ID"]
    assert info["IsFromMe"] is True
    assert info["Sender"].endswith("@c.us")
    assert box.messages(INSTANCE)[0].serialized_id == body["id"]


async def test_status_posts_go_to_status_broadcast(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    response = await client.post(f"{V1}/status/text", params={**AUTH, "text": "story"})
    assert response.json()["to"] == "status@broadcast"
    assert [m.body for m in box.messages(INSTANCE, "status@broadcast")] == ["story"]


async def test_chat_messages_newest_first_with_limit_and_offset(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    _, client = sandbox
    for i in range(5):
        await client.post("/v2/send/text", params=_send_params(message=f"m{i}"))
    page = await client.get(
        "/v2/chats/messages", params={**AUTH, "chatId": CHAT, "limit": "2", "offset": "1"}
    )
    items = page.json()
    assert [m["body"] for m in items] == ["m3", "m2"]
    assert all(m["fromMe"] is True and m["id"]["_serialized"] and m["timestamp"] for m in items)


async def test_edit_and_delete_act_on_stored_messages(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    message_id = (await client.post(f"{V1}/send", params=_send_params())).json()["id"][
        "_serialized"
    ]
    ids = {"chatId": CHAT, "messageId": message_id}

    edited = await client.put("/v2/messages/edit", params=AUTH, json={**ids, "text": "changed"})
    assert edited.json()["success"] is True
    assert box.messages(INSTANCE)[0].body == "changed"
    deleted = await client.delete("/v2/messages/delete", params={**AUTH, **ids})
    assert deleted.status_code == 200
    assert box.messages(INSTANCE) == []
    again = await client.delete("/v2/messages/delete", params={**AUTH, **ids})
    assert again.status_code == 404


# -- request log -----------------------------------------------------------------------------


async def test_request_log_keeps_every_request_in_order(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    """Identical requests are separate records; 404s and 401s are recorded too."""
    box, client = sandbox
    await client.post(f"{V1}/send", params=_send_params())
    await client.post(f"{V1}/send", params=_send_params())
    await client.post(f"{V1}/send", params={**_send_params(), "access_token": "wrong"})
    await client.get("/nowhere", params=AUTH)

    records = box.requests()
    assert [(r.action, r.status) for r in records] == [
        ("sendText", 201),
        ("sendText", 201),
        ("sendText", 401),
        (None, 404),
    ]
    assert [r.seq for r in records] == sorted({r.seq for r in records})
    assert records[0].query[:2] == [("instance_id", INSTANCE), ("access_token", "***")]
    assert records[0].token_in == "query"
    assert records[2].token_valid is False
    assert len(box.requests(instance_id=INSTANCE, action="sendText")) == 3


async def test_tokens_never_reach_the_log_or_answers(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    answers: list[str] = []
    for params, body in [
        (_send_params(), None),
        (AUTH, {"chatId": CHAT, "message": "x", "access_token": TOKEN}),
        ({**AUTH, "access_token": "tok-wrong-secret"}, None),
    ]:
        answers.append((await client.post(f"{V1}/send", params=params, json=body)).text)
    answers.append((await client.get("/_sandbox/requests")).text)
    answers.append((await client.get(f"/_sandbox/instances/{INSTANCE}")).text)
    dumped = json.dumps([r.to_json() for r in box.requests()])
    for text in [*answers, dumped]:
        assert TOKEN not in text
        assert "tok-wrong-secret" not in text


async def test_admin_requests_filter_by_since_seq(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    await client.post(f"{V1}/send", params=_send_params())
    first = box.requests()[-1].seq
    await client.get(f"{V1}/session/info", params=AUTH)
    newer: list[dict[str, Any]] = (
        await client.get("/_sandbox/requests", params={"since_seq": first})
    ).json()
    assert [r["action"] for r in newer] == ["getSessionInfo"]
    by_action = (await client.get("/_sandbox/requests", params={"action": "sendText"})).json()
    assert [r["seq"] for r in by_action] == [first]
    assert (await client.delete("/_sandbox/requests")).status_code == 200
    assert box.requests() == []
