"""What each catalog action does to the sandbox's state and answers: a table, not 100 handlers.

Actions with behaviour (sessions, sends, the stored-message actions) have a handler; every
other action answers a canned body chosen by its kind (a list, an object or a mutation ack).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .messages import (
    MESSAGE_ACTIONS,
    listed_message,
    message_body,
    message_chat,
    message_object,
    message_type,
)
from .params import get_param
from .replies import Reply, error_reply
from .sandbox import Sandbox
from .state import Instance

__all__ = ["Call", "execute"]


@dataclass(frozen=True, slots=True)
class Call:
    """An authenticated, validated request for one action."""

    action: str
    method: str
    token: str
    instance: Instance | None  # None only for createSession
    params: Mapping[str, Any]


Handler = Callable[[Sandbox, Call], Reply]


def _instance(call: Call) -> Instance:
    if call.instance is None:
        raise ValueError(f"{call.action} needs an instance")
    return call.instance


def _create_session(sandbox: Sandbox, call: Call) -> Reply:
    instance_id = sandbox.state.new_instance_id()
    instance = sandbox.add_instance(instance_id, call.token, status="STOPPED")
    name = call.params.get("name")
    instance.name = name if isinstance(name, str) and name else instance_id
    sandbox.change_status(instance, "STOPPED", new=True)  # a new session is a status change
    body = {"instance_id": instance_id, "session_name": instance.name, "server_name": "sandbox-1"}
    return Reply(200, body)


def _session_move(*statuses: Any) -> Handler:
    def handle(sandbox: Sandbox, call: Call) -> Reply:
        instance = _instance(call)
        sandbox.change_status(instance, *statuses)
        return Reply(200, instance.session_info())

    return handle


def _delete_session(sandbox: Sandbox, call: Call) -> Reply:
    sandbox.delete_instance(_instance(call).instance_id)
    return Reply(200, {"success": True})


def _session_info(sandbox: Sandbox, call: Call) -> Reply:
    return Reply(200, _instance(call).session_info())


def _session_me(sandbox: Sandbox, call: Call) -> Reply:
    return Reply(200, _instance(call).me)


def _instance_status(sandbox: Sandbox, call: Call) -> Reply:
    instance = _instance(call)
    return Reply(200, {"status": "Online", "session_status": instance.status})


def _send(sandbox: Sandbox, call: Call) -> Reply:
    instance = _instance(call)
    if instance.status != "WORKING":
        return error_reply(
            422,
            "session_not_working",
            "Session status is not as expected",
            session_status=instance.status,
        )
    message = sandbox.state.store(
        instance,
        chat_id=message_chat(call.action, call.params),
        action=call.action,
        type_=message_type(call.action),
        body=message_body(call.params),
    )
    sandbox.announce(instance, message)
    return Reply(201, message_object(message, instance.engine))


def _int_param(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    return int(value) if value not in (None, "") else default


def _chat_messages(sandbox: Sandbox, call: Call) -> Reply:
    chat = _instance(call).chats.get(str(get_param(call.params, "chatId")), [])
    limit = _int_param(call.params, "limit", 100)
    offset = _int_param(call.params, "offset", 0)
    newest_first = chat[::-1][offset : offset + limit]
    return Reply(200, [listed_message(m) for m in newest_first])


def _message_not_found() -> Reply:
    return error_reply(404, "message_not_found", "Message not found.")


def _stored_message_action(kind: str) -> Handler:
    def handle(sandbox: Sandbox, call: Call) -> Reply:
        instance = _instance(call)
        chat_id = str(get_param(call.params, "chatId"))
        message = sandbox.state.find(instance, chat_id, str(get_param(call.params, "messageId")))
        if message is None:
            return _message_not_found()
        if kind == "get":
            return Reply(200, listed_message(message))
        if kind == "edit":
            message.body = str(call.params.get("text", message.body))
            return Reply(200, {"success": True, "message": "Message edited."})
        sandbox.state.remove(instance, message)
        return Reply(200, {"success": True, "message": "Message deleted."})

    return handle


def _chats_list(sandbox: Sandbox, call: Call) -> Reply:
    instance = _instance(call)
    chats = [
        {"id": chat_id, "name": None, "timestamp": messages[-1].timestamp if messages else 0}
        for chat_id, messages in instance.chats.items()
    ]
    return Reply(200, chats)


def _canned(body: Any) -> Handler:
    def handle(sandbox: Sandbox, call: Call) -> Reply:
        return Reply(200, body)

    return handle


def _check_exists(sandbox: Sandbox, call: Call) -> Reply:
    phone = "".join(ch for ch in str(call.params.get("phone", "")) if ch.isdigit())
    return Reply(200, {"numberExists": True, "chatId": f"{phone}@c.us"})


_HANDLERS: dict[str, Handler] = {
    "createSession": _create_session,
    "startSession": _session_move("STARTING", "WORKING"),
    "restartSession": _session_move("STARTING", "WORKING"),
    "stopSession": _session_move("STOPPED"),
    "logoutSession": _session_move("SCAN_QR_CODE"),
    "deleteSession": _delete_session,
    "getSessionInfo": _session_info,
    "getSessionMe": _session_me,
    "getProfile": _session_me,
    "getInstanceStatus": _instance_status,
    "chatMessages": _chat_messages,
    "chatMessageGet": _stored_message_action("get"),
    "chatMessageEdit": _stored_message_action("edit"),
    "chatMessageDelete": _stored_message_action("delete"),
    "chatsList": _chats_list,
    "chatsOverview": _chats_list,
    "contactCheckExists": _check_exists,
    "getQrRaw": _canned({"value": "2@sandbox-qr-value"}),
    "getQrImage": _canned({"mimetype": "image/png", "data": "iVBORw0KGgo="}),
    "requestCode": _canned({"code": "SAND-BOX1"}),
    "groupsCount": _canned({"count": 0}),
    "lidsCount": _canned({"count": 0}),
    "getSessionRateLimit": _canned({"policy_slug": "standard_policy", "policies": []}),
    "sessionTempLink": _canned({"url": "https://sandbox.invalid/temp-link"}),
}
_HANDLERS.update(dict.fromkeys(MESSAGE_ACTIONS, _send))

# Read actions whose answer is a collection.
_LIST_ACTIONS = frozenset(
    {
        "channelsList",
        "channelsPreviewMessages",
        "channelsSearchByView",
        "channelsSearchByText",
        "channelsSearchViews",
        "channelsSearchCountries",
        "channelsSearchCategories",
        "contactsAll",
        "lidsList",
        "groupsList",
        "groupParticipantsGet",
        "labelsList",
        "labelsForChatGet",
        "chatsWithLabel",
    }
)
_LIST = _canned([])
_MUTATION = _canned({"success": True})


def _default_handler(call: Call) -> Handler:
    if call.action in _LIST_ACTIONS:
        return _LIST
    if call.method == "GET":
        return _read_object
    return _MUTATION


def _read_object(sandbox: Sandbox, call: Call) -> Reply:
    # A plausible object for a read: echo the identifiers it was asked about.
    keys = ("id", "chatId", "contactId", "labelId", "code")
    body = {k: call.params[k] for k in keys if isinstance(call.params.get(k), str)}
    return Reply(200, body or {"success": True})


def execute(sandbox: Sandbox, call: Call) -> Reply:
    """Run the action on the sandbox's state and build its answer."""
    handler = _HANDLERS.get(call.action) or _default_handler(call)
    return handler(sandbox, call)
