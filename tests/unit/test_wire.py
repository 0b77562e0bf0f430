"""Contract test: every action's HTTP request matches an independent reading of the catalog.

The expectation is computed here from ``endpoints.json`` (read with ``json`` by
``strategies.catalog_rows``), not from ``wawp_gateway.wawp.catalog``: method, v1/v2 root, path
params URL-encoded, query params with PHP bracket names, body params as JSON, auth in the query.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from fakes import FakeTransport
from strategies import catalog_rows, example_params
from wawp_gateway.core.sections import WawpSettings
from wawp_gateway.wawp.catalog import ACTIONS, EXCLUDED_ACTIONS
from wawp_gateway.wawp.client import WawpClient
from wawp_gateway.wawp.params import validate_params
from wawp_gateway.wawp.transports.base import HttpRequest

V1 = "https://v1.wawp.test/wp-json/awp/v1"
V2 = "https://v2.wawp.test"
TOKEN = "tok-SECRET-0123456789"
INSTANCE = "ABC123DEF456"
AUTH = ("instance_id", "access_token")


def _client() -> WawpClient:
    settings = WawpSettings(base_url=V1 + "/", v2_base_url=V2, timeout_s=12.5)
    return WawpClient(settings, FakeTransport(), lambda _instance: SecretStr(TOKEN))


def _build(action: str, params: dict[str, Any]) -> HttpRequest:
    return _client().build_request(
        ACTIONS[action], params, instance_id=INSTANCE, token=SecretStr(TOKEN)
    )


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _expected_query(name: str, value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _expected_query(f"{name}[{k}]", v)]
    if isinstance(value, list):
        return [(f"{name}[]", _text(item)) for item in value]
    return [(name, _text(value))]


def _expected(action: str, params: dict[str, Any]) -> dict[str, Any]:
    """The request the catalog describes for ``params``, derived from the raw catalog row."""
    row = catalog_rows()[action]
    root, path = (V1, row["v1_path"]) if row["v1_path"] else (V2, row["v2_path"])
    where: dict[str, str] = {}
    for param in row["params"]:
        if param["name"] not in AUTH:
            where[param["name"].split("[", 1)[0]] = param["in"]
    query: list[tuple[str, str]] = []
    body: dict[str, Any] = {}
    for name, value in params.items():
        if where[name] == "path":
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        elif where[name] == "query":
            query.extend(_expected_query(name, value))
        elif value is not None:
            body[name] = value
    return {
        "method": row["method"].upper(),
        "url": root + path,
        "query": query,
        "body": body or None,
        "needs_instance": any(p["name"] == "instance_id" for p in row["params"]),
    }


ALL = sorted(ACTIONS)


def test_catalog_has_every_row_but_the_excluded_one() -> None:
    """Every catalog row is an action except getScreenshot, which has no known path."""
    assert set(catalog_rows()) - set(ACTIONS) == {"getScreenshot"}
    assert set(EXCLUDED_ACTIONS) == {"getScreenshot"}


@pytest.mark.parametrize("action", ALL)
def test_request_matches_the_catalog(action: str) -> None:
    """Method, root and path, query pairs and JSON body are where the catalog puts them."""
    params = validate_params(ACTIONS[action], example_params(action))
    request = _build(action, params)
    expected = _expected(action, params)

    assert request.method == expected["method"]
    assert request.url == expected["url"]
    assert "{" not in request.url
    query = [pair for pair in request.query if pair[0] not in AUTH]
    fixed = [("format", "raw")] if action == "getQrRaw" else []  # selects the shared route
    assert sorted(query) == sorted(expected["query"] + fixed)
    body = json.loads(request.body) if request.body is not None else None
    assert body == expected["body"]
    assert request.timeout_s == 12.5


@pytest.mark.parametrize("action", ALL)
def test_auth_always_travels_in_the_query(action: str) -> None:
    """access_token always, instance_id for every action but createSession; never in the body."""
    params = validate_params(ACTIONS[action], example_params(action))
    request = _build(action, params)
    keys = [key for key, _ in request.query]
    assert keys.count("access_token") == 1
    assert ("access_token", TOKEN) in request.query
    if action == "createSession":
        assert "instance_id" not in keys
    else:
        assert ("instance_id", INSTANCE) in request.query
        assert keys.count("instance_id") == 1
    if request.body is not None:
        assert TOKEN not in request.body.decode()
        assert not set(AUTH) & set(json.loads(request.body))
    assert TOKEN not in request.url
    assert TOKEN not in repr(request)


@pytest.mark.parametrize("action", ALL)
def test_v1_path_unless_only_v2_exists(action: str) -> None:
    """The v1 root is used whenever the catalog has a v1 path."""
    row = catalog_rows()[action]
    request = _build(action, validate_params(ACTIONS[action], example_params(action)))
    if row["v1_path"]:
        assert request.url.startswith(V1 + "/")
    else:
        assert request.url.startswith(V2 + "/v2/")


def test_path_params_are_url_encoded() -> None:
    """@ becomes %40 and / is encoded too, so an id cannot change the route."""
    request = _build(
        "chatMessageGet",
        {"chatId": "447441429009@c.us", "messageId": "true_447441429009@c.us_AB/../C D?x#y"},
    )
    assert request.url == (
        V1 + "/chats/447441429009%40c.us/messages/true_447441429009%40c.us_AB%2F..%2FC%20D%3Fx%23y"
    )


def test_v2_only_path_params_are_encoded_under_the_v2_root() -> None:
    """labelLinkChat has only a v2 path; its params are encoded there."""
    request = _build("labelLinkChat", {"id": "1", "chatId": "201234567890@c.us"})
    assert request.url == V2 + "/v2/labels/1/chats/201234567890%40c.us"


def test_bracket_params_use_bracket_names_in_the_query() -> None:
    """file[url], file[filename], file[mimetype] are separate query keys."""
    params = validate_params(ACTIONS["sendImage"], example_params("sendImage"))
    query = dict(_build("sendImage", params).query)
    assert query["file[url]"] == "https://wawp.net/samples/cat.jpg"
    assert query["file[mimetype]"] == "image/jpeg"
    assert "file" not in query


def test_list_query_params_repeat_with_brackets() -> None:
    """A list in the query is name[] repeated, once per item."""
    ids = ["447441429009@c.us", "120363012345678901@g.us"]
    request = _build("chatsOverview", {"ids": ids})
    assert [pair for pair in request.query if pair[0] == "ids[]"] == [("ids[]", i) for i in ids]


def test_body_params_stay_out_of_the_query() -> None:
    """sendPoll posts its params as JSON and puts only auth in the query."""
    params = validate_params(ACTIONS["sendPoll"], example_params("sendPoll"))
    request = _build("sendPoll", params)
    assert {key for key, _ in request.query} == {"instance_id", "access_token"}
    assert json.loads(request.body or b"") == params


def test_get_qr_raw_sends_format_raw_and_qr_image_does_not() -> None:
    """Two actions share /getQr; the fixed format param tells them apart."""
    raw = _build("getQrRaw", {})
    image = _build("getQrImage", {})
    assert raw.url == image.url == V1 + "/getQr"
    assert ("format", "raw") in raw.query
    assert all(key != "format" for key, _ in image.query)


def test_null_optional_params_are_left_out() -> None:
    """An optional param given as null is not sent at all."""
    request = _build("sendText", {"chatId": "447441429009@c.us", "message": "hi", "reply_to": None})
    assert all(key != "reply_to" for key, _ in request.query)


def test_booleans_and_integers_are_written_as_wawp_expects() -> None:
    """true/false and decimal integers in the query."""
    request = _build("chatsList", {"limit": 20, "offset": 0})
    assert ("limit", "20") in request.query
    request = _build("star", {"chatId": "447441429009@c.us", "messageId": "m", "star": False})
    assert ("star", "false") in request.query


def test_full_url_encodes_brackets_and_keeps_the_path() -> None:
    """The URL sent puts bracket names percent-encoded in the query string."""
    params = validate_params(ACTIONS["sendImage"], example_params("sendImage"))
    url = _build("sendImage", params).full_url()
    assert url.startswith(V1 + "/sendImage?")
    assert re.search(r"[?&]file%5Burl%5D=https%3A%2F%2Fwawp\.net%2Fsamples%2Fcat\.jpg(&|$)", url)


@settings(max_examples=200, deadline=None)
@given(message_id=st.text(min_size=1, max_size=40))
def test_any_path_value_stays_in_its_segment(message_id: str) -> None:
    """Whatever a path param holds, it is one encoded segment that decodes back to the value."""
    request = _build("chatMessageGet", {"chatId": "447441429009@c.us", "messageId": message_id})
    prefix = V1 + "/chats/447441429009%40c.us/messages/"
    assert request.url.startswith(prefix)
    segment = request.url[len(prefix) :]
    assert "/" not in segment
    assert "?" not in segment
    assert "#" not in segment
    assert unquote(segment) == message_id
