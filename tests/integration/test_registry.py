"""The live instance registry with a running worker: instances added, retuned and removed
without a restart (docs/contract.md "Instance registry")."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from examples import CHAT
from wawp_gateway.cli.instances import list_instances, put_instance, remove_instance
from wawp_gateway.core.config import RegistryClientSettings
from wawp_gateway.core.contracts import SessionRecord
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.instances import InstancesConfig
from wawp_gateway.core.kafka import create_topics
from wawp_gateway.core.registry import InstanceRegistry
from wawp_gateway.sandbox import Sandbox
from wawp_gateway.worker.app import build_worker

from .harness import DEADLINE_S, PARTITIONS, TEST_TOKEN, Gateway, command, gateway_settings

REPETITIONS = 100


def _registry(gateway: Gateway) -> InstanceRegistry:
    return gateway.app.worker.engine.registry


async def _until(registry: InstanceRegistry, predicate: Callable[[], bool]) -> None:
    """Wait until the worker's registry, changed by the records it reads, satisfies
    ``predicate``."""
    changed = asyncio.Event()
    registry.on_change(lambda _: changed.set())
    async with asyncio.timeout(DEADLINE_S):
        while not predicate():
            await changed.wait()
            changed.clear()


def _send(instance_id: str, n: int = 0) -> dict[str, Any]:
    return command(instance_id, "sendText", {"chatId": CHAT, "message": f"m{n}"})


async def test_a_command_published_as_put_returns_is_never_unknown(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    """Read-your-writes, 100 times: ``put NEW``, then at once a command for NEW; every one
    succeeds, none is rejected unknown_instance."""
    kafka, topic = gateway.settings.kafka, gateway.settings.topics.instances
    commands = []
    for n in range(REPETITIONS):
        instance_id = f"NEW{uuid.uuid4().hex[:12].upper()}"
        sandbox.add_instance(instance_id, TEST_TOKEN)
        await put_instance(kafka, topic, instance_id, rate_per_minute=6000, burst=10)
        cmd = _send(instance_id, n)
        await gateway.publish(cmd, topic=gateway.settings.topics.send)  # the moment put returned
        commands.append(cmd)

    results = [await gateway.outputs.result(cmd["id"]) for cmd in commands]

    codes = [(r["status"], (r.get("error") or {}).get("code")) for r in results]
    assert codes == [("succeeded", None)] * REPETITIONS


async def test_an_instance_with_its_own_token_uses_it(gateway: Gateway, sandbox: Sandbox) -> None:
    """A record's token (not the default) authenticates its calls, and no log line shows it."""
    instance_id = f"OWN{uuid.uuid4().hex[:12].upper()}"
    own_token = f"own-{uuid.uuid4().hex}"
    sandbox.add_instance(instance_id, own_token)
    cmd = _send(instance_id)
    with capture_logs() as logs:
        await put_instance(
            gateway.settings.kafka,
            gateway.settings.topics.instances,
            instance_id,
            access_token=SecretStr(own_token),
        )
        await gateway.publish(cmd, topic=gateway.settings.topics.send)
        result = await gateway.outputs.result(cmd["id"])

    assert result["status"] == "succeeded"
    assert own_token not in repr(logs)
    assert own_token not in repr(_registry(gateway).entry(instance_id))


async def test_a_lower_rate_applies_to_the_live_bucket(gateway: Gateway, sandbox: Sandbox) -> None:
    """Commands waiting behind an instance's rate go at the new, lower rate once the worker
    has the change: no fresh burst (the new burst is larger), the window bound of the new rate
    holds for every call after it."""
    settings = gateway.settings
    instance_id = f"RATE{uuid.uuid4().hex[:12].upper()}"
    sandbox.add_instance(instance_id, TEST_TOKEN)
    await put_instance(
        settings.kafka, settings.topics.instances, instance_id, rate_per_minute=600, burst=2
    )
    changed_at: list[float] = []
    registry = _registry(gateway)
    registry.on_change(
        lambda i: (
            changed_at.append(time.time())
            if registry.limits_for(instance_id) == (120, 10)
            else None
        )
    )
    # Given: 12 commands at 10/s, the bucket drained by the first ones.
    commands = [_send(instance_id, n) for n in range(12)]
    for cmd in commands:
        await gateway.publish(cmd, topic=settings.topics.send)
    await gateway.outputs.result(commands[3]["id"])

    # When: the rate drops to 2/s, with a burst of 10.
    await put_instance(
        settings.kafka,
        settings.topics.instances,
        instance_id,
        rate_per_minute=120,
        burst=10,
    )
    await _until(registry, lambda: registry.limits_for(instance_id) == (120, 10))
    results = [await gateway.outputs.result(cmd["id"]) for cmd in commands]

    # Then: from the change on, the calls keep the new rate from the old bucket's level (at
    # most its burst of 2; +1 for a call granted just before the change and sent after it):
    # the n-th call at time t has n <= 3 + 2 * (t - change). A fresh burst would break it at
    # once. And any window T holds at most the new bucket's 10 + 2 * T.
    assert {r["status"] for r in results} == {"succeeded"}
    change = changed_at[0]
    after = [r.at for r in sandbox.requests(instance_id) if r.at > change]
    assert len(after) >= 4
    for n, at in enumerate(after, start=1):
        assert n <= 3 + 2 * (at - change) + 0.2, (n, at - change)
    for i, start in enumerate(after):
        for j in range(i, len(after)):
            assert j - i + 1 <= 10 + 2 * (after[j] - start) + 0.2, (i, j)


async def test_after_rm_a_command_is_rejected_unknown_instance_and_replays_once_back(
    gateway: Gateway, sandbox: Sandbox, unique: Callable[[str], str]
) -> None:
    """rm, then a command: rejected unknown_instance without a call, dead-lettered; once the
    instance is put back, ``dlq replay`` of that letter succeeds."""
    settings = gateway.settings
    instance_id = f"GONE{uuid.uuid4().hex[:12].upper()}"
    sandbox.add_instance(instance_id, TEST_TOKEN)
    await put_instance(settings.kafka, settings.topics.instances, instance_id)
    assert (await gateway.run(_send(instance_id), topic=settings.topics.send))["status"] == (
        "succeeded"
    )
    calls_before = len(sandbox.requests(instance_id))

    await remove_instance(settings.kafka, settings.topics.instances, instance_id)
    await _until(_registry(gateway), lambda: not _registry(gateway).is_known(instance_id))
    cmd = _send(instance_id, 1)
    result = await gateway.run(cmd, topic=settings.topics.send)
    letter = await gateway.outputs.dlq_for(cmd["id"])

    assert (result["status"], result["error"]["code"]) == ("rejected", "unknown_instance")
    assert dict(letter.headers)["dlq-reason"] == b"unknown_instance"
    assert len(sandbox.requests(instance_id)) == calls_before

    # Back: the letter, copied to a DLQ topic of this test's own, replays to a success.
    dlq_topic = unique("dlq")
    await create_topics(settings.kafka, [dlq_topic], partitions=PARTITIONS)
    await gateway.producer.send_and_wait(
        dlq_topic, letter.value, key=letter.key, headers=list(letter.headers)
    )
    await put_instance(settings.kafka, settings.topics.instances, instance_id)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_KAFKA__BOOTSTRAP_SERVERS"] = settings.kafka.bootstrap_servers
    replay = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wawp_gateway",
        "dlq",
        "replay",
        "--topic",
        dlq_topic,
        "--rate",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(replay.communicate(), DEADLINE_S)
    assert replay.returncode == 0, err
    replayed = await gateway.outputs.wait_for(
        lambda seen: [r for r in seen.results[cmd["id"]] if r["replay_count"] == 1]
    )
    assert replayed[0]["status"] == "succeeded"
    assert len(sandbox.requests(instance_id)) == calls_before + 1


async def test_ls_shows_every_instance_and_no_token(gateway: Gateway, sandbox: Sandbox) -> None:
    """ls: the file's instances and the topic's, their limits, source, token as set/default and
    the last session status."""
    settings = gateway.settings
    instance_id = f"LS{uuid.uuid4().hex[:12].upper()}"
    token = f"ls-{uuid.uuid4().hex}"
    await put_instance(
        settings.kafka,
        settings.topics.instances,
        instance_id,
        rate_per_minute=42,
        burst=3,
        access_token=SecretStr(token),
    )
    session = SessionRecord(instance_id=instance_id, status="STOPPED", at=datetime.now(UTC))
    await gateway.producer.send_and_wait(
        settings.topics.sessions,
        session.to_bytes(),
        key=instance_id.encode(),
    )
    rows = await list_instances(
        RegistryClientSettings(
            kafka=settings.kafka, topics=settings.topics, instances=settings.instances
        )
    )
    by_id = {row.instance: row for row in rows}

    assert by_id[instance_id].rate_per_minute == 42
    assert (by_id[instance_id].burst, by_id[instance_id].source) == (3, "topic")
    assert (by_id[instance_id].token, by_id[instance_id].session) == ("set", "STOPPED")
    listed = next(iter(settings.instances.instances))
    assert (by_id[listed].source, by_id[listed].token) == ("file", "default")
    assert token not in repr(rows)


async def test_a_worker_with_no_instance_anywhere_refuses_to_start(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Callable[[str], str]
) -> None:
    """No instance in the file nor in the registry topic: refused, naming the instances file;
    one ``instances put`` later the same configuration starts."""
    settings = gateway_settings(kafka_bootstrap, sandbox_url[1], unique("empty"), []).model_copy(
        update={"instances": InstancesConfig()}
    )
    await create_topics(settings.kafka, settings.topics.all(), partitions=PARTITIONS)

    with pytest.raises(ConfigError) as refused:
        async with build_worker(settings):
            pass
    await put_instance(settings.kafka, settings.topics.instances, "ONLYINTOPIC")
    async with build_worker(settings) as app:
        known = app.worker.engine.registry.is_known("ONLYINTOPIC")

    assert refused.value.setting == "GATEWAY_INSTANCES_FILE"
    assert known
