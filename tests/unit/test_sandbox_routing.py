"""The sandbox routes every catalog action on v1 and v2, straight from endpoints.json."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio

from fakes import fresh_sandbox
from wawp_gateway.sandbox import Sandbox, SandboxConfig, running_sandbox
from wawp_gateway.sandbox.params import parse_php_query

INSTANCE = "ABC123DEF456"
TOKEN = "tok-routing-secret"
CATALOG: list[dict[str, Any]] = json.loads(
    resources.files("wawp_gateway").joinpath("wawp", "endpoints.json").read_text("utf-8")
)
PATH_VALUES = {
    "chatId": "447441429009@c.us",
    "id": "120363012345678901@g.us",
    "labelId": "7",
    "contactId": "447441429009@c.us",
}
# Shared routes: the param that selects the action.
FIXED = {"getQrRaw": {"format": "raw"}, "channelsSearchByView": {"view": "RECOMMENDED"}}


def _routes() -> list[Any]:
    cases = []
    for entry in CATALOG:
        if entry["v1_path"]:
            cases.append(
                pytest.param(
                    entry, "/wp-json/awp/v1" + entry["v1_path"], id=f"v1-{entry['action']}"
                )
            )
        if entry["v2_path"]:
            cases.append(pytest.param(entry, entry["v2_path"], id=f"v2-{entry['action']}"))
    return cases


def _example(param: dict[str, Any]) -> Any:
    kind = param["type"].split("|")[0]
    name = param["name"]
    if kind == "integer":
        return "5"
    if kind == "boolean":
        return "true"
    if kind == "array":
        return ["447441429009@c.us"]
    if kind == "object":
        return (
            {"name": "Poll", "options": ["a", "b"]}
            if name == "poll"
            else {"url": "https://x/a.png"}
        )
    if name == "file[mimetype]":
        return "image/png"
    if name == "phone":
        return "447441429009"
    return PATH_VALUES.get(name, "value")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server() -> AsyncIterator[tuple[Sandbox, httpx.AsyncClient]]:
    box = Sandbox(SandboxConfig(instances={INSTANCE: TOKEN}))
    async with running_sandbox(box) as url, httpx.AsyncClient(base_url=url) as client:
        yield box, client


@pytest.fixture
def sandbox(server: tuple[Sandbox, httpx.AsyncClient]) -> tuple[Sandbox, httpx.AsyncClient]:
    """One server for the module; each test gets a fresh instance and an empty request log."""
    fresh_sandbox(server[0], INSTANCE, TOKEN)
    return server


def _build(
    entry: dict[str, Any], template: str, message_id: str
) -> tuple[str, list[tuple[str, str]], dict[str, Any]]:
    path = template
    query: list[tuple[str, str]] = [("instance_id", INSTANCE), ("access_token", TOKEN)]
    body: dict[str, Any] = {}
    for param in entry["params"]:
        name = param["name"]
        if name in ("instance_id", "access_token") or not param["required"]:
            continue
        value = message_id if name == "messageId" else _example(param)
        if "{" + name + "}" in path:
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        elif isinstance(value, (list, dict)):
            body[name] = value
        else:
            query.append((name, value))
    query.extend(FIXED.get(entry["action"], {}).items())
    return path, query, body


@pytest.mark.parametrize(("entry", "template"), _routes())
async def test_every_catalog_route_reaches_its_action(
    sandbox: tuple[Sandbox, httpx.AsyncClient], entry: dict[str, Any], template: str
) -> None:
    """Each v1 and v2 path (percent-encoded params, shared routes) runs the catalog's action."""
    box, client = sandbox
    stored = box.state.store(
        box.instance(INSTANCE),  # type: ignore[arg-type]
        chat_id=PATH_VALUES["chatId"],
        action="sendText",
        type_="chat",
        body="seed",
    )
    path, query, body = _build(entry, template, stored.serialized_id)

    response = await client.request(entry["method"], path, params=query, json=body or None)

    assert response.status_code in (200, 201), response.text
    (record,) = box.requests()
    assert record.action == entry["action"]
    assert record.path == path


async def test_percent_encoded_path_params_are_decoded(
    sandbox: tuple[Sandbox, httpx.AsyncClient],
) -> None:
    box, client = sandbox
    auth = {"instance_id": INSTANCE, "access_token": TOKEN}
    sent = await client.post(
        "/v2/send/text", params={**auth, "chatId": "447441429009@c.us", "message": "hi"}
    )
    message_id = sent.json()["id"]["_serialized"]

    listed = await client.get("/wp-json/awp/v1/chats/447441429009%40c.us/messages", params=auth)
    one = await client.get(
        f"/wp-json/awp/v1/chats/447441429009%40c.us/messages/{quote(message_id, safe='')}",
        params=auth,
    )

    assert [m["id"]["_serialized"] for m in listed.json()] == [message_id]
    assert one.json()["body"] == "hi"
    assert box.requests()[1].path == "/wp-json/awp/v1/chats/447441429009%40c.us/messages"


@pytest.mark.parametrize(
    ("query", "action"),
    [
        ({"format": "raw"}, "getQrRaw"),
        ({"format": "image"}, "getQrImage"),
        ({}, "getQrImage"),
    ],
)
async def test_get_qr_is_shared_by_raw_and_image(
    sandbox: tuple[Sandbox, httpx.AsyncClient], query: dict[str, str], action: str
) -> None:
    box, client = sandbox
    await client.get(
        "/wp-json/awp/v1/getQr", params={"instance_id": INSTANCE, "access_token": TOKEN, **query}
    )
    assert box.requests()[-1].action == action


@pytest.mark.parametrize(
    ("query", "action"),
    [({"view": "RECOMMENDED"}, "channelsSearchByView"), ({"text": "news"}, "channelsSearchByText")],
)
async def test_channel_search_is_shared_by_view_and_text(
    sandbox: tuple[Sandbox, httpx.AsyncClient], query: dict[str, str], action: str
) -> None:
    box, client = sandbox
    response = await client.get(
        "/wp-json/awp/v1/channels/search",
        params={"instance_id": INSTANCE, "access_token": TOKEN, **query},
    )
    assert response.status_code == 200
    assert box.requests()[-1].action == action


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/wp-json/awp/v1/nope"),
        ("GET", "/wp-json/awp/v1/send"),  # wrong method
        ("POST", "/wp-json/awp/v1/send/"),  # trailing slash
        ("POST", "/send"),  # v1 path without its prefix
        ("GET", "/v2/chats/a/b/c/d/e"),
        ("GET", "/wp-json/awp/v1/screenshot"),  # getScreenshot has no path
    ],
)
async def test_unknown_routes_answer_rest_no_route(
    sandbox: tuple[Sandbox, httpx.AsyncClient], method: str, path: str
) -> None:
    box, client = sandbox
    response = await client.request(
        method, path, params={"instance_id": INSTANCE, "access_token": TOKEN}
    )
    assert response.status_code == 404
    assert response.json() == {
        "code": "rest_no_route",
        "message": "No route was found matching the URL and request method.",
        "data": {"status": 404},
    }
    assert box.requests()[-1].action is None


def test_php_query_rules() -> None:
    """Bracket names nest, `[]` appends, and a repeated plain name keeps the last value."""
    pairs = [
        ("file[url]", "u"),
        ("file[mimetype]", "image/png"),
        ("ids[]", "a"),
        ("ids[]", "b"),
        ("x", "1"),
        ("x", "2"),
        ("m[0]", "p"),
        ("m[1]", "q"),
        ("deep[a][b]", "c"),
        ("filter.timestamp.lte", "9"),
    ]
    assert parse_php_query(pairs) == {
        "file": {"url": "u", "mimetype": "image/png"},
        "ids": ["a", "b"],
        "x": "2",
        "m": ["p", "q"],
        "deep": {"a": {"b": "c"}},
        "filter.timestamp.lte": "9",
    }
