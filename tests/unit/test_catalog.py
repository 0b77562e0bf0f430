"""The action catalog: the package's Wawp data, and what each row says."""

from __future__ import annotations

import pytest

from wawp_gateway.wawp.catalog import (
    ACTIONS,
    AUTH_PARAMS,
    EXCLUDED_ACTIONS,
    MESSAGE_CREATING_ACTIONS,
    load_catalog,
)


def test_catalog_has_115_actions() -> None:
    """116 catalog rows minus getScreenshot, which has no known path."""
    assert len(ACTIONS) == 115
    assert "getScreenshot" not in ACTIONS
    assert set(EXCLUDED_ACTIONS) == {"getScreenshot"}


def test_load_catalog_is_stable() -> None:
    """Loading the catalog twice gives the same rows."""
    assert dict(load_catalog()) == dict(ACTIONS)


def test_message_creating_actions_are_the_documented_thirteen() -> None:
    """The sends and status posts of docs/contract.md carry a message id."""
    assert {
        "sendText",
        "sendImage",
        "sendFile",
        "sendVoice",
        "sendVideo",
        "sendLinkPreview",
        "sendLocation",
        "sendPoll",
        "sendContactVcard",
        "statusText",
        "statusImage",
        "statusVoice",
        "statusVideo",
    } == MESSAGE_CREATING_ACTIONS
    assert set(ACTIONS) >= MESSAGE_CREATING_ACTIONS
    assert {a for a, s in ACTIONS.items() if s.creates_message} == MESSAGE_CREATING_ACTIONS


@pytest.mark.parametrize(
    ("action", "topic"),
    [
        ("sendText", "send"),
        ("sendSeen", "send"),
        ("statusImage", "send"),
        ("startSession", "command"),
        ("getQrRaw", "command"),
        ("groupCreate", "command"),
        ("chatMessages", "command"),
        ("statusDelete", "command"),
    ],
)
def test_input_topic_puts_sends_on_the_send_topic(action: str, topic: str) -> None:
    """Message sends (and the send group) go to wawp.send, everything else to wawp.command."""
    assert ACTIONS[action].input_topic == topic


def test_every_message_creating_action_belongs_on_the_send_topic() -> None:
    """A flood of sends never lands on the admin topic by default."""
    for name in MESSAGE_CREATING_ACTIONS:
        assert ACTIONS[name].input_topic == "send"


@pytest.mark.parametrize(
    ("action", "idempotent"),
    [
        ("getSessionInfo", True),  # GET
        ("reaction", True),  # PUT
        ("deleteSession", True),  # DELETE
        ("sendText", False),  # POST
        ("createSession", False),
    ],
)
def test_is_idempotent_method_is_get_put_delete(action: str, idempotent: bool) -> None:
    """Only GET/PUT/DELETE may be retried after a maybe-processed answer."""
    assert ACTIONS[action].is_idempotent_method is idempotent


def test_idempotence_follows_the_method_for_every_action() -> None:
    """The flag is the method, nothing else."""
    for spec in ACTIONS.values():
        assert spec.is_idempotent_method == (spec.method in ("GET", "PUT", "DELETE"))
        assert spec.method in ("GET", "POST", "PUT", "DELETE", "PATCH")


def test_auth_params_are_not_action_params() -> None:
    """instance_id and access_token are added by the client, never validated as params."""
    for spec in ACTIONS.values():
        assert not AUTH_PARAMS & {p.name for p in spec.params}


def test_only_create_session_works_without_an_instance() -> None:
    """createSession is account-level: its call needs only the token."""
    assert {a for a, s in ACTIONS.items() if not s.needs_instance} == {"createSession"}


def test_bracket_params_split_into_top_level_and_subkey() -> None:
    """file[url] is the `url` field of the `file` param."""
    file_url = next(p for p in ACTIONS["sendImage"].params if p.name == "file[url]")
    assert (file_url.top_level, file_url.subkey) == ("file", "url")
    chat = next(p for p in ACTIONS["sendImage"].params if p.name == "chatId")
    assert (chat.top_level, chat.subkey) == ("chatId", None)


def test_session_and_auth_actions_bypass_the_circuit() -> None:
    """Actions that repair a session are never held behind its circuit."""
    assert ACTIONS["startSession"].bypasses_circuit
    assert ACTIONS["getQrRaw"].bypasses_circuit
    assert not ACTIONS["sendText"].bypasses_circuit
