"""The producer SDK without a broker: typed builders for every action, validation, ids and keys,
topic routing, result de-duplication, the waiter and the FastStream publisher (in memory)."""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import keyword
import re
import typing
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker

import wawp_gateway.sdk as sdk
from strategies import catalog_rows, example_params
from wawp_gateway.core.contracts import WebhookEnvelope
from wawp_gateway.core.partitioning import partition_for
from wawp_gateway.sdk import (
    METHODS,
    Actions,
    Command,
    DeliveryRecord,
    GatewayClient,
    InvalidCommand,
    LatestResults,
    MediaFile,
    Result,
    ResultStatus,
    TopicsSettings,
    command,
    encode_command,
    has_reached,
    topic_for,
)
from wawp_gateway.sdk.codegen import render_actions
from wawp_gateway.sdk.commands import OPTION_NAMES
from wawp_gateway.sdk.events import EventIds, WawpEvent
from wawp_gateway.sdk.faststream import publisher, results_subscriber
from wawp_gateway.sdk.routing import key_for, reply_topic_problem
from wawp_gateway.sdk.subscription import Subscription
from wawp_gateway.sdk.waiter import ResultWaiter
from wawp_gateway.wawp.catalog import ACTIONS, MESSAGE_CREATING_ACTIONS
from wawp_gateway.wawp.params import params_model, validate_params
from wawp_gateway.worker.intake import Envelope, OutboundCommand, decode
from wawp_gateway.worker.outputs import reply_to_problem

INSTANCE = "ABC123DEF456"
CHAT = "447441429009@c.us"
IMAGE: MediaFile = {
    "url": "https://example.com/a.png",
    "mimetype": "image/png",
    "filename": "a.png",
}
AUTH = ("instance_id", "access_token")
ACTIONS_PY = Path(__file__).parents[2] / "service" / "wawp_gateway" / "sdk" / "actions.py"


@dataclass(frozen=True)
class Expected:
    """A builder argument as the raw catalog row describes it (a second, independent reading)."""

    wire: str
    required: bool
    type: str


def _keyword(wire: str) -> str:
    name = re.sub(r"\W", "_", wire)
    return name + "_" if keyword.iskeyword(name) else name


def _expected(action: str) -> dict[str, Expected]:
    found: dict[str, Expected] = {}
    for param in catalog_rows()[action]["params"]:
        if param["name"] in AUTH:
            continue
        top = param["name"].split("[", 1)[0]
        kind = "object" if "[" in param["name"] else param["type"].replace("|null", "")
        before = found.get(_keyword(top))
        required = param["required"] or (before is not None and before.required)
        found[_keyword(top)] = Expected(top, required, kind)
    return found


def _builder(action: str) -> Any:
    return getattr(Actions(INSTANCE), METHODS[action])


def _kwargs(action: str, params: dict[str, Any]) -> dict[str, Any]:
    return {_keyword(name): value for name, value in params.items()}


_HINTS = {
    "string": {"str"},
    "integer": {"int"},
    "boolean": {"bool"},
    "array": {"Sequence[JsonValue]"},
    "object": {"Mapping[str, JsonValue]", "MediaFile", "Poll"},
}


# -- one typed builder per action ------------------------------------------------------------


def test_every_catalog_action_has_a_builder() -> None:
    """METHODS covers the catalog exactly, each with a method named in snake_case."""
    assert set(METHODS) == set(catalog_rows()) - {"getScreenshot"} == set(ACTIONS)
    for action, name in METHODS.items():
        assert name == re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
        assert callable(getattr(Actions, name))
    assert len(set(METHODS.values())) == len(METHODS)
    assert {"send_image", "send_text", "start_session", "chat_messages"} <= set(METHODS.values())


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_builder_signature_matches_the_params_model(action: str) -> None:
    """Keyword-only params named after the wire names, required exactly where the catalog and
    the worker's params model require them, typed by the catalog type; then the options."""
    signature = inspect.signature(getattr(Actions, METHODS[action]))
    parameters = dict(signature.parameters)
    assert next(iter(parameters)) == "self"
    del parameters["self"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    assert list(parameters)[-len(OPTION_NAMES) :] == list(OPTION_NAMES)
    for option in OPTION_NAMES:
        assert parameters.pop(option).default is None
    expected = _expected(action)
    assert set(parameters) == set(expected)
    model = params_model(ACTIONS[action]).model_fields
    assert {e.wire for e in expected.values()} == set(model)
    for name, parameter in parameters.items():
        want = expected[name]
        assert (parameter.default is inspect.Parameter.empty) == want.required, name
        assert model[want.wire].is_required() == want.required, name
        hint = str(parameter.annotation).removesuffix(" | None")
        if want.wire in ("latitude", "longitude"):
            assert hint == "str | float"
        else:
            assert hint in _HINTS[want.type], (name, hint)
    # Every annotation resolves at run time (editors and get_type_hints see real types).
    hints = typing.get_type_hints(getattr(Actions, METHODS[action]))
    assert hints["return"] is Command


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_builder_makes_the_command_the_worker_accepts(action: str) -> None:
    """The catalog's example params through the typed builder: the command carries the params
    normalized as the worker would, and the worker's decoder accepts its bytes."""
    example = example_params(action)
    cmd = _builder(action)(**_kwargs(action, example))
    assert cmd.action == action
    assert cmd.instance_id == INSTANCE
    assert cmd.params == validate_params(ACTIONS[action], example)
    decoded = decode(
        Envelope("wawp.command", 0, 0, key_for(cmd), encode_command(cmd)),
        is_known_instance=lambda _: True,
    )
    assert isinstance(decoded, OutboundCommand)
    assert decoded.id == cmd.id
    assert dict(decoded.params) == cmd.params


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_generic_command_equals_the_typed_builder(action: str) -> None:
    """`command(action, params)` and the typed method build the same command."""
    example = example_params(action)
    typed = _builder(action)(**_kwargs(action, example), command_id="c-1")
    generic = command(action, example, instance_id=INSTANCE, command_id="c-1")
    bound = Actions(INSTANCE).command(action, example, command_id="c-1")
    for other in (generic, bound):
        assert other.model_dump(exclude={"created_at"}) == typed.model_dump(exclude={"created_at"})


def test_checked_in_builders_are_fresh() -> None:
    """sdk/actions.py is what the generator renders from the catalog."""
    assert ACTIONS_PY.read_text("utf-8") == render_actions(), (
        "sdk/actions.py is stale: run `make generate` (wawp-gateway generate)"
    )


def test_none_leaves_an_optional_param_out() -> None:
    cmd = Actions(INSTANCE).send_image(chatId=CHAT, file=IMAGE, caption=None, reply_to=None)
    assert set(cmd.params) == {"chatId", "file"}


def test_names_that_are_not_identifiers_get_keywords() -> None:
    """`filter.fromMe` is `filter_fromMe`, and goes out under its wire name."""
    cmd = Actions(INSTANCE).chat_messages(chatId=CHAT, filter_fromMe=True, filter_ack="READ")
    assert cmd.params == {"chatId": CHAT, "filter.fromMe": True, "filter.ack": "READ"}


def test_sequences_and_mappings_of_any_kind_are_accepted() -> None:
    """Tuples and read-only mappings work: the strict params models see lists and dicts."""
    cmd = Actions(INSTANCE).group_create(name="Team", participants=("447441429009", "447441429010"))
    assert cmd.params["participants"] == [CHAT, "447441429010@c.us"]


# -- validation ------------------------------------------------------------------------------


def _invalid(call: Any, code: str = "invalid_params") -> str:
    with pytest.raises(InvalidCommand) as caught:
        call()
    assert caught.value.code == code
    assert isinstance(caught.value, ValueError)
    return str(caught.value)


def test_a_gif_image_fails_in_the_producer_naming_the_param() -> None:
    gif: MediaFile = {**IMAGE, "mimetype": "image/gif"}
    message = _invalid(lambda: Actions(INSTANCE).send_image(chatId=CHAT, file=gif))
    assert message.startswith("sendImage: file.mimetype: must be one of image/jpeg, image/png")


def test_a_bad_chat_id_fails_without_repeating_it() -> None:
    message = _invalid(lambda: Actions(INSTANCE).send_text(chatId="not-a-chat-123", message="x"))
    assert "chatId" in message
    assert "not-a-chat-123" not in message


def test_a_missing_required_param_fails_in_the_generic_builder() -> None:
    message = _invalid(lambda: command("sendText", {"chatId": CHAT}, instance_id=INSTANCE))
    assert "message" in message


def test_an_unknown_param_fails() -> None:
    params = {"chatId": CHAT, "message": "x", "colour": "red"}
    assert "colour" in _invalid(lambda: command("sendText", params, instance_id=INSTANCE))


def test_credentials_in_params_fail() -> None:
    params = {"chatId": CHAT, "message": "x", "access_token": "secret-token"}
    message = _invalid(lambda: command("sendText", params, instance_id=INSTANCE))
    assert "access_token" in message
    assert "secret-token" not in message


def test_a_wrong_type_fails_even_without_a_type_checker() -> None:
    text: Any = "5"
    number: Any = 5
    assert "limit" in _invalid(lambda: Actions(INSTANCE).chat_messages(chatId=CHAT, limit=text))
    assert "message" in _invalid(lambda: Actions(INSTANCE).send_text(chatId=CHAT, message=number))


def test_unknown_and_excluded_actions_fail() -> None:
    _invalid(lambda: command("sendFax", {}, instance_id=INSTANCE), "unknown_action")
    message = _invalid(lambda: command("getScreenshot", {}, instance_id=INSTANCE), "unknown_action")
    assert "guess" in message


def test_an_unknown_keyword_is_a_type_error() -> None:
    builder: Any = Actions(INSTANCE).send_text
    with pytest.raises(TypeError):
        builder(chatId=CHAT, message="x", colour="red")


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"command_id": ""}, "command_id"),
        ({"command_id": "x" * 129}, "command_id"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
        ({"correlation_id": "c" * 256}, "correlation_id"),
        ({"not_after": datetime(2026, 11, 24, 12, 0)}, "not_after"),
        ({"reply_to_topic": "orders results"}, "reply_to_topic"),
        ({"reply_to_topic": ".."}, "reply_to_topic"),
    ],
)
def test_bad_envelope_options_fail_naming_the_option(options: dict[str, Any], named: str) -> None:
    message = _invalid(
        lambda: Actions(INSTANCE).send_text(chatId=CHAT, message="x", **options), "invalid_command"
    )
    assert message.startswith(named)


def test_an_empty_instance_fails() -> None:
    _invalid(lambda: Actions("").send_text(chatId=CHAT, message="x"), "invalid_command")


# -- ids, keys and options -------------------------------------------------------------------


def test_the_id_defaults_to_a_fresh_uuid4_and_the_key_to_the_id() -> None:
    first = Actions(INSTANCE).send_text(chatId=CHAT, message="x")
    second = Actions(INSTANCE).send_text(chatId=CHAT, message="x")
    assert uuid.UUID(first.id).version == 4
    assert first.id != second.id
    assert first.idempotency_key == first.id
    assert second.idempotency_key == second.id


def test_given_ids_keys_and_options_are_kept() -> None:
    deadline = datetime(2026, 11, 24, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    cmd = Actions(INSTANCE).send_text(
        chatId=CHAT,
        message="x",
        reply_to="true_447441429009@c.us_3EB0",
        command_id="01JDX3V1Q8",
        idempotency_key="order-42-confirmation",
        correlation_id="checkout-9",
        reply_to_topic="orders.wawp-results",
        not_after=deadline,
    )
    assert cmd.id == "01JDX3V1Q8"
    assert cmd.idempotency_key == "order-42-confirmation"
    assert cmd.correlation_id == "checkout-9"
    # The command's reply_to is the topic; the param reply_to is Wawp's quoted message.
    assert cmd.reply_to == "orders.wawp-results"
    assert cmd.params["reply_to"] == "true_447441429009@c.us_3EB0"
    wire = json.loads(encode_command(cmd))
    assert wire["schema"] == "wawp.command.v1"
    assert wire["not_after"] == "2026-11-24T12:00:00Z" or wire["not_after"].endswith("+01:00")
    assert datetime.fromisoformat(wire["not_after"]) == deadline
    assert datetime.fromisoformat(wire["created_at"]).tzinfo is not None


def test_unset_options_stay_off_the_wire() -> None:
    wire = json.loads(encode_command(Actions(INSTANCE).start_session()))
    assert set(wire) == {"schema", "id", "idempotency_key", "instance_id", "action", "params"} | {
        "created_at"
    }


def test_the_same_key_makes_the_same_fingerprint() -> None:
    """Two builds with one idempotency key differ only in id and time: the gateway sees one
    command (its fingerprint is instance, action and normalized params)."""
    one = Actions(INSTANCE).send_text(chatId="447441429009", message="x", idempotency_key="k")
    two = Actions(INSTANCE).send_text(chatId=CHAT, message="x", idempotency_key="k")
    keep = {"idempotency_key", "instance_id", "action", "params"}
    assert one.model_dump(include=keep) == two.model_dump(include=keep)


# -- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_sends_go_to_the_send_topic_and_the_rest_to_the_command_topic(action: str) -> None:
    topics = TopicsSettings(send="t.send", command="t.command")
    cmd = _builder(action)(**_kwargs(action, example_params(action)))
    sends = action in MESSAGE_CREATING_ACTIONS or catalog_rows()[action]["group"] == "send"
    assert topic_for(cmd, topics) == ("t.send" if sends else "t.command")


def test_commands_are_keyed_by_instance() -> None:
    cmd = Actions(INSTANCE).send_text(chatId=CHAT, message="x")
    assert key_for(cmd) == INSTANCE.encode()


@pytest.mark.parametrize(
    "topic",
    ["orders.results", "a" * 249, "a" * 250, "orders results", ".", "..", "x/y", "wawp.results"],
)
def test_reply_topic_rule_is_the_workers(topic: str) -> None:
    topics = TopicsSettings()
    assert reply_topic_problem(topic, topics) == reply_to_problem(topic, topics.all())


# -- results, events, acks -------------------------------------------------------------------


def _result(command_id: str = "c-1", **fields: Any) -> Result:
    at = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    values: dict[str, Any] = {"status": ResultStatus.SUCCEEDED, "received_at": at}
    values.update(fields)
    return Result(command_id=command_id, completed_at=at, **values)


def test_the_first_result_of_a_command_is_news() -> None:
    latest = LatestResults()
    assert latest.offer(_result("a"))
    assert latest.offer(_result("b"))
    assert len(latest) == 2


def test_repeats_at_the_same_replay_count_are_ignored() -> None:
    """A re-delivered command's duplicate (or post-crash outcome_unknown) does not replace the
    first result."""
    latest = LatestResults()
    first = _result(status=ResultStatus.SUCCEEDED, message_id="m-1")
    assert latest.offer(first)
    assert not latest.offer(_result(status=ResultStatus.DUPLICATE, message_id="m-1"))
    assert not latest.offer(_result(status=ResultStatus.OUTCOME_UNKNOWN))
    assert latest.get("c-1") == first


def test_a_replay_with_a_higher_count_replaces_the_result() -> None:
    latest = LatestResults()
    assert latest.offer(_result(status=ResultStatus.FAILED))
    replayed = _result(status=ResultStatus.SUCCEEDED, replay_count=1)
    assert latest.offer(replayed)
    assert not latest.offer(_result(status=ResultStatus.FAILED))  # older count, read late
    assert not latest.offer(_result(status=ResultStatus.DUPLICATE, replay_count=1))
    assert latest.get("c-1") == replayed


def test_latest_results_are_bounded() -> None:
    latest = LatestResults(max_commands=2)
    for name in ("a", "b", "c"):
        latest.offer(_result(name))
    assert len(latest) == 2
    assert latest.get("a") is None


def test_event_ids_recognise_redeliveries_per_instance() -> None:
    ids = EventIds(capacity=2)
    assert ids.is_new("A", "evt_1")
    assert not ids.is_new("A", "evt_1")
    assert ids.is_new("B", "evt_1")
    assert ids.is_new("A", "evt_2")
    assert ids.is_new("B", "evt_3")
    assert ids.is_new("A", "evt_1")  # forgotten past the capacity


def test_events_parse_the_webhook_envelope_and_keep_unknown_fields() -> None:
    body = {"event": "message.ack", "id": "evt_1", "payload": {"ack": 2}, "new": 1}
    event = WawpEvent.model_validate(body)
    assert isinstance(event, WebhookEnvelope)
    assert event.payload == {"ack": 2}
    assert event.model_extra == {"new": 1}


def _delivery(ack: int, name: str) -> DeliveryRecord:
    return DeliveryRecord(message_id="m", instance_id=INSTANCE, ack=ack, ack_name=name)


def test_ack_levels_are_reached_by_higher_ones() -> None:
    assert has_reached(_delivery(3, "READ"), "DEVICE")
    assert has_reached(_delivery(4, "PLAYED"), "READ")
    assert not has_reached(_delivery(2, "DEVICE"), "READ")
    assert not has_reached(_delivery(-1, "ERROR"), "PENDING")
    assert has_reached(_delivery(1, "SERVER"), 1)
    with pytest.raises(ValueError, match="ack level"):
        has_reached(_delivery(1, "SERVER"), "DELIVERED")  # type: ignore[arg-type]


# -- waiter and subscription over a fake source ------------------------------------------------


@dataclass
class FakeRecord:
    value: bytes | None
    topic: str = "t"
    partition: int = 0
    offset: int = 0
    timestamp: int = 0
    key: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class FakeSource:
    """Hands out queued batches; an empty queue waits like a fetch that found nothing."""

    def __init__(self) -> None:
        self.batches: asyncio.Queue[list[FakeRecord]] = asyncio.Queue()
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def fetch(self, timeout_ms: int = 500) -> list[Any]:
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                return await self.batches.get()
        except TimeoutError:
            return []

    async def stop(self) -> None:
        self.stopped = True


def _raw(result: Result) -> FakeRecord:
    return FakeRecord(result.to_bytes())


async def test_the_waiter_hands_a_result_to_the_request_waiting_for_it() -> None:
    source = FakeSource()
    waiter = ResultWaiter(source, "t")
    await waiter.start()
    try:
        future = waiter.expect("c-2")
        # Given someone else's result, garbage, and then ours twice
        await source.batches.put(
            [_raw(_result("c-1")), FakeRecord(b"not json"), FakeRecord(None), FakeRecord(b"[1]")]
        )
        ours = _result("c-2", message_id="m-2")
        await source.batches.put([_raw(ours), _raw(_result("c-2", status="duplicate"))])
        # Then the first of ours is the answer
        assert await asyncio.wait_for(future, 2) == ours
    finally:
        await waiter.stop()
    assert source.stopped


async def test_a_stopped_waiter_fails_its_waiting_requests() -> None:
    source = FakeSource()
    waiter = ResultWaiter(source, "t")
    await waiter.start()
    future = waiter.expect("c-1")
    await waiter.stop()
    with pytest.raises(sdk.ClientClosed):
        await future
    with pytest.raises(sdk.ClientClosed):
        waiter.expect("c-2")


async def test_a_forgotten_request_gets_nothing() -> None:
    source = FakeSource()
    waiter = ResultWaiter(source, "t")
    await waiter.start()
    try:
        future = waiter.expect("c-1")
        waiter.forget("c-1", future)
        await source.batches.put([_raw(_result("c-1"))])
        await asyncio.sleep(0)
        assert not future.done()
    finally:
        await waiter.stop()


async def test_a_subscription_decodes_skips_and_closes() -> None:
    source = FakeSource()
    closed: list[object] = []

    def decode(record: Any) -> str | None:
        return record.value.decode() if record.value != b"skip" else None

    async with Subscription(lambda: source, decode, closed.append) as items:
        assert source.started
        await source.batches.put([FakeRecord(b"a"), FakeRecord(b"skip"), FakeRecord(b"b")])
        assert [await anext(items), await anext(items)] == ["a", "b"]
    assert source.stopped
    assert closed == [items]
    with pytest.raises(StopAsyncIteration):
        await anext(items)


# -- FastStream, in memory -------------------------------------------------------------------


async def test_the_faststream_publisher_routes_and_keys_commands() -> None:
    """Sends go to the send topic, other actions to the command topic, keyed by instance, as the
    command's JSON; a typed results subscriber gets `Result`s."""
    topics = TopicsSettings(send="fs.send", command="fs.command", results="fs.results")
    broker = KafkaBroker()
    commands = publisher(broker, topics)
    seen: dict[str, list[tuple[Command, bytes]]] = {"fs.send": [], "fs.command": []}
    results: list[Result] = []

    @broker.subscriber("fs.send")
    async def on_send(cmd: Command, message: KafkaMessage) -> None:
        seen["fs.send"].append((cmd, message.raw_message.key))

    @broker.subscriber("fs.command")
    async def on_command(cmd: Command, message: KafkaMessage) -> None:
        seen["fs.command"].append((cmd, message.raw_message.key))

    @results_subscriber(broker, topics, group_id="orders")
    async def on_result(result: Result) -> None:
        results.append(result)

    wawp = Actions(INSTANCE)
    image = wawp.send_image(chatId=CHAT, file=IMAGE, correlation_id="checkout-9")
    start = wawp.start_session()
    async with TestKafkaBroker(broker, connect_only=False) as test_broker:
        await commands.publish(image)
        await commands.publish(start)
        await test_broker.publish(_result(image.id).to_bytes(), "fs.results")
        commands.send.mock.assert_called_once_with(json.loads(encode_command(image)))
        commands.command.mock.assert_called_once_with(json.loads(encode_command(start)))
    assert seen["fs.send"] == [(image, INSTANCE.encode())]
    assert seen["fs.command"] == [(start, INSTANCE.encode())]
    assert [r.command_id for r in results] == [image.id]


async def test_the_faststream_publisher_refuses_a_reply_topic_of_the_gateway() -> None:
    broker = KafkaBroker()
    commands = publisher(broker)
    cmd = Actions(INSTANCE).send_text(chatId=CHAT, message="x", reply_to_topic="wawp.results")
    async with TestKafkaBroker(broker, connect_only=False):
        with pytest.raises(InvalidCommand, match="gateway's own topics"):
            await commands.publish(cmd)


def test_the_key_is_what_the_default_partitioner_routes_by_instance() -> None:
    cmd = Actions(INSTANCE).send_text(chatId=CHAT, message="x")
    assert partition_for(key_for(cmd), 12) == partition_for(INSTANCE, 12)


# -- the public surface ----------------------------------------------------------------------

GUIDE = Path(__file__).parents[2] / "docs" / "producer-guide.md"


def test_the_guide_examples_compile() -> None:
    """Every Python block of docs/producer-guide.md is valid Python (top-level await allowed)."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text("utf-8"), re.DOTALL)
    assert len(blocks) >= 8
    for block in blocks:
        compile(block, str(GUIDE), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


def test_exported_members() -> None:
    """`wawp_gateway.sdk` exports what a producer needs, and nothing private."""
    exported = set(sdk.__all__)
    assert {
        "Actions",
        "GatewayClient",
        "command",
        "Command",
        "Result",
        "DeliveryRecord",
        "WawpEvent",
        "LatestResults",
        "RequestTimeout",
        "InvalidCommand",
        "TopicsSettings",
    } <= exported
    for name in exported:
        assert not name.startswith("_")
        assert getattr(sdk, name) is not None
    public = {
        n for n in dir(sdk) if not n.startswith("_") and not inspect.ismodule(getattr(sdk, n))
    }
    assert public - {"annotations"} == exported


class _FakeWaiter:
    def __init__(self) -> None:
        self.futures: dict[str, asyncio.Future[Result]] = {}

    def expect(self, command_id: str) -> asyncio.Future[Result]:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.futures[command_id] = future
        return future

    def forget(self, command_id: str, future: asyncio.Future[Result]) -> None:
        self.futures.pop(command_id, None)


async def test_a_request_with_reply_to_also_takes_its_result_from_the_results_topic() -> None:
    """The gateway could not publish to the reply topic: the result comes on the results topic
    with reply_to_error set, and the request returns it instead of timing out."""
    client = GatewayClient("127.0.0.1:1")
    waiters = {"orders.replies": _FakeWaiter(), client.topics.results: _FakeWaiter()}
    command = Actions("ABC123DEF456").send_text(
        chatId="447911123456@c.us", message="hi", reply_to_topic="orders.replies"
    )

    async def waiter(topic: str) -> _FakeWaiter:
        return waiters[topic]

    async def publish(cmd: Any, *, topic: str | None = None) -> None:
        fallback = _result(cmd.id, reply_to_error="unknown topic")
        waiters[client.topics.results].futures[cmd.id].set_result(fallback)

    client._producer = object()  # type: ignore[assignment]
    client._waiter = waiter  # type: ignore[assignment, method-assign]
    client.publish = publish  # type: ignore[assignment, method-assign]

    result = await client.request(command, timeout_s=5)

    assert result.reply_to_error == "unknown topic"
    assert not any(w.futures for w in waiters.values())  # both forgotten
