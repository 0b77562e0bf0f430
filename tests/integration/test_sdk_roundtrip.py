"""The producer SDK against a running gateway on a real broker.

The producer side of each test imports only ``wawp_gateway.sdk``; the rest (worker, sandbox,
webhook receiver, tracker) is the gateway it talks to, wired as in ``test_tracker``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from wawp_gateway.core.kafka import create_topics
from wawp_gateway.core.sections import KafkaSettings
from wawp_gateway.sdk import (
    Actions,
    DeliveryRecord,
    GatewayClient,
    InvalidCommand,
    LatestResults,
    MediaFile,
    RequestTimeout,
    Result,
    ResultStatus,
    TopicsSettings,
    UnknownTopic,
)
from wawp_gateway.sdk.faststream import publisher, results_subscriber

from .harness import PARTITIONS, Gateway, running_delivery_stack, topics_for

INSTANCE = "SDKINST00001"
PHONE = "447441429009"
RECEIPT: MediaFile = {
    "url": "https://example.com/receipt.png",
    "mimetype": "image/png",
    "filename": "r.png",
}


async def test_an_image_sent_with_the_sdk_is_answered_and_tracked_to_read(
    kafka_bootstrap: str,
) -> None:
    """The acceptance round trip: `send_image` through `request` -> a succeeded result; then its
    delivery records SERVER, DEVICE, READ through the SDK's deliveries consumer."""
    async with running_delivery_stack(
        kafka_bootstrap, f"sdk-{uuid.uuid4().hex[:8]}", INSTANCE
    ) as stack:
        await _produce_with_the_sdk(kafka_bootstrap, stack.settings.topics)


async def _produce_with_the_sdk(bootstrap: str, topics: TopicsSettings) -> None:
    """A producer that knows the broker, the topic names and the SDK, nothing else."""
    async with GatewayClient(bootstrap, topics=topics) as gw:
        # Given a typed, validated image command
        cmd = Actions(INSTANCE).send_image(
            chatId=PHONE,
            file=RECEIPT,
            caption="Your receipt",
            correlation_id="checkout-9",
            idempotency_key=f"order-{uuid.uuid4().hex[:6]}-receipt",
        )
        # When it is requested
        result = await gw.request(cmd, timeout_s=20)
        # Then the gateway sent it once and answered
        assert isinstance(result, Result)
        assert result.status is ResultStatus.SUCCEEDED, result
        assert result.command_id == cmd.id
        assert result.idempotency_key == cmd.idempotency_key
        assert result.correlation_id == "checkout-9"
        assert result.action == "sendImage"
        assert result.instance_id == INSTANCE
        assert result.message_id
        assert result.attempts == 1
        assert result.replay_count == 0

        # And its delivery records arrive, in order, through the deliveries consumer
        records: list[DeliveryRecord] = []
        async with asyncio.timeout(20), gw.deliveries(command_id=cmd.id) as deliveries:
            async for record in deliveries:
                records.append(record)
                if record.ack_name == "READ":
                    break
        assert [r.ack_name for r in records] == ["SERVER", "DEVICE", "READ"]
        assert [r.ack for r in records] == [1, 2, 3]
        for record in records:
            assert record.command_id == cmd.id
            assert record.message_id == result.message_id
            assert record.correlation_id == "checkout-9"
            assert record.instance_id == INSTANCE
            assert not record.ack_timeout

        # And the convenience call finds the DEVICE record again (deliveries are re-read from
        # shortly before the publish)
        read = await gw.delivery(cmd.id, until="DEVICE", timeout_s=10)
        assert read.ack_name == "DEVICE"
        assert read == records[1]

        # And the webhook events behind them are there, typed and filed under the instance
        acks = []
        async with (
            asyncio.timeout(20),
            gw.events(instance_id=INSTANCE, event="message.ack", start="beginning") as events,
        ):
            async for event in events:
                assert event.instance_id == INSTANCE
                assert event.event == "message.ack"
                assert event.payload is not None
                acks.append(event.payload["ack"])
                if len(acks) == 3:
                    break
        assert sorted(acks) == [1, 2, 3]

        # And the same command again (a new id, the same idempotency key) sends nothing: its
        # result repeats the first. (The same id again is a re-delivery: answered only once.)
        twin = Actions(INSTANCE).send_image(
            chatId=PHONE,
            file=RECEIPT,
            caption="Your receipt",
            correlation_id="checkout-9",
            idempotency_key=cmd.idempotency_key,
        )
        assert twin.id != cmd.id
        again = await gw.request(twin, timeout_s=20)
        assert again.status is ResultStatus.DUPLICATE
        assert again.original_status is ResultStatus.SUCCEEDED
        assert again.message_id == result.message_id


async def test_a_reply_to_topic_gets_the_result(
    gateway: Gateway, instance: str, kafka_bootstrap: str, unique: Any
) -> None:
    """`reply_to_topic` is honoured: the request listens there, and the result comes there."""
    reply_topic = unique("orders.wawp-results")
    await create_topics(
        KafkaSettings(bootstrap_servers=kafka_bootstrap), [reply_topic], partitions=2
    )
    async with GatewayClient(kafka_bootstrap, topics=gateway.settings.topics) as gw:
        cmd = Actions(instance).send_text(
            chatId=PHONE, message="hi", reply_to_topic=reply_topic, correlation_id="c-reply"
        )
        result = await gw.request(cmd, timeout_s=20)
        assert result.status is ResultStatus.SUCCEEDED
        assert result.reply_to_error is None
        assert result.correlation_id == "c-reply"
        # The results stream of that topic starts at its beginning when asked to
        async with asyncio.timeout(10), gw.results(topic=reply_topic, start="beginning") as seen:
            assert (await anext(seen)).command_id == cmd.id


async def test_one_idempotency_key_sends_once_across_commands(
    gateway: Gateway, instance: str, kafka_bootstrap: str
) -> None:
    """Two commands with one idempotency key: the second is a duplicate of the first, and the
    results stream with de-duplication keeps both (they are different commands)."""
    async with GatewayClient(kafka_bootstrap, topics=gateway.settings.topics) as gw:
        wawp = Actions(instance)
        key = f"welcome-{uuid.uuid4().hex[:8]}"
        async with gw.results() as results:
            first = await gw.request(
                wawp.send_text(chatId=PHONE, message="Welcome", idempotency_key=key), timeout_s=20
            )
            second = await gw.request(
                wawp.send_text(chatId=PHONE, message="Welcome", idempotency_key=key), timeout_s=20
            )
            assert first.status is ResultStatus.SUCCEEDED
            assert second.status is ResultStatus.DUPLICATE
            assert second.message_id == first.message_id
            latest = LatestResults()
            mine: list[Result] = []
            async with asyncio.timeout(10):
                async for result in results:
                    if result.command_id in (first.command_id, second.command_id):
                        assert latest.offer(result)
                        mine.append(result)
                    if len(mine) == 2:
                        break
    sent = gateway.sandbox.requests(instance, "sendText")
    assert sum(1 for r in sent if r.status is not None and r.status < 300) == 1


async def test_a_request_nobody_answers_times_out(kafka_bootstrap: str, unique: Any) -> None:
    """No worker on these topics: RequestTimeout names the command, after the timeout."""
    topics = topics_for(unique("sdk-silent"))
    await create_topics(
        KafkaSettings(bootstrap_servers=kafka_bootstrap), topics.all(), partitions=PARTITIONS
    )
    async with GatewayClient(kafka_bootstrap, topics=topics) as gw:
        cmd = Actions("NOBODY000001").start_session()
        with pytest.raises(RequestTimeout) as caught:
            await gw.request(cmd, timeout_s=1.0)
        assert caught.value.command_id == cmd.id
        # The command itself was published, keyed by instance, on the command topic
        published = await gw.publish(Actions("NOBODY000001").start_session())
        assert published.topic == topics.command


async def test_unusable_reply_topics_fail_before_publishing(
    gateway: Gateway, instance: str, kafka_bootstrap: str, unique: Any
) -> None:
    """A reply topic that does not exist, or is the gateway's own, fails in the producer."""
    async with GatewayClient(kafka_bootstrap, topics=gateway.settings.topics) as gw:
        missing = unique("no-such-topic")
        cmd = Actions(instance).send_text(chatId=PHONE, message="x", reply_to_topic=missing)
        with pytest.raises(UnknownTopic):
            await gw.request(cmd, timeout_s=10)
        own = Actions(instance).send_text(
            chatId=PHONE, message="x", reply_to_topic=gateway.settings.topics.delivery
        )
        with pytest.raises(InvalidCommand, match="gateway's own topics"):
            await gw.publish(own)
        with pytest.raises(InvalidCommand, match="gateway's own topics"):
            await gw.request(own, timeout_s=10)
    assert not gateway.sandbox.requests(instance, "sendText")


async def test_a_faststream_publisher_sends_an_image_and_a_subscriber_gets_its_result(
    gateway: Gateway, instance: str, kafka_bootstrap: str, unique: Any
) -> None:
    """The FastStream variant on the real broker: the SDK's publisher on a KafkaBroker sends
    `send_image`, a typed results subscriber receives its `Result`."""
    from faststream.kafka import KafkaBroker

    topics = gateway.settings.topics
    broker = KafkaBroker(kafka_bootstrap)
    commands = publisher(broker, topics)
    cmd = Actions(instance).send_image(chatId=PHONE, file=RECEIPT, caption="fs")
    arrived: asyncio.Future[Result] = asyncio.get_running_loop().create_future()

    @results_subscriber(
        broker,
        topics,
        group_id=unique("sdk-fs"),
        auto_offset_reset="earliest",
        session_timeout_ms=3000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=10,
    )
    async def on_result(result: Result) -> None:
        if result.command_id == cmd.id and not arrived.done():
            arrived.set_result(result)

    await broker.start()
    try:
        await commands.publish(cmd)
        result = await asyncio.wait_for(arrived, 20)
    finally:
        await broker.stop()
    assert result.status is ResultStatus.SUCCEEDED
    assert result.action == "sendImage"
    assert result.message_id
