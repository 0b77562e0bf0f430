"""`wawp-gateway dlq ls | show | replay` as an operator runs it (a subprocess) against a worker on
the embedded broker and the Wawp sandbox: counts, pacing, and docs/contract.md "Idempotency and
replay" seen from the sandbox's request log."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from wawp_gateway.core.contracts import DlqReason
from wawp_gateway.core.kafka import build_producer, create_topics
from wawp_gateway.core.partitioning import partition_for
from wawp_gateway.core.sections import KafkaSettings
from wawp_gateway.dlqtool import read_dlq, replay_burst
from wawp_gateway.sandbox import FaultRule, Sandbox
from wawp_gateway.worker.dlq import build_dead_letter
from wawp_gateway.worker.intake import REPLAY_COUNT_HEADER, Envelope

from .harness import PARTITIONS, TEST_TOKEN, Gateway, command, gateway_settings, running_gateway

EXE = [sys.executable, "-m", "wawp_gateway", "dlq"]
DEADLINE_S = 120.0
SYNTHETIC = 10_000
OLD = 2_000  # the first records were dead-lettered hours ago (for --since)
INSTANCES = 8
RATE = 2_500.0


@dataclass(frozen=True)
class Kind:
    """A share of every hundred synthetic dead letters."""

    reason: DlqReason
    share: int
    code: str
    replay_count: int = 0


KINDS = (
    Kind(DlqReason.PERMANENT, 60, "rest_invalid_param"),
    Kind(DlqReason.RETRIES_EXHAUSTED, 20, "http_503"),
    Kind(DlqReason.AUTH, 5, "invalid_access_token"),
    Kind(DlqReason.OUTCOME_UNKNOWN, 5, "maybe_sent"),
    Kind(DlqReason.EXPIRED, 4, "not_after_passed"),
    Kind(DlqReason.VALIDATION, 3, "invalid_params"),
    Kind(DlqReason.UNDECODABLE, 1, "undecodable"),
    Kind(DlqReason.PERMANENT, 2, "rest_invalid_param", replay_count=3),  # past the loop guard
)
assert sum(k.share for k in KINDS) == 100


def kind_of(i: int) -> Kind:
    slot = i % 100
    for kind in KINDS:
        if slot < kind.share:
            return kind
        slot -= kind.share
    raise AssertionError(i)


async def dlq_cli(bootstrap: str, *args: str) -> tuple[int, str, str]:
    """Run ``wawp-gateway dlq ...`` without blocking the worker that runs in this process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
    process = await asyncio.create_subprocess_exec(
        *EXE,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), DEADLINE_S)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def dlq_json(bootstrap: str, *args: str) -> dict[str, Any]:
    code, out, err = await dlq_cli(bootstrap, *args, "--json")
    assert code == 0, err
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def worst_window_excess(stamps_ms: list[int], rate: float) -> float:
    """max over every window [t_i, t_j] of (records in it) - rate * (t_j - t_i), in O(n): the
    bucket promises at most its burst."""
    best_start, worst = float("-inf"), float("-inf")
    for j, t in enumerate(sorted(stamps_ms)):
        best_start = max(best_start, -j + rate * t / 1000)
        worst = max(worst, (j + 1) - rate * t / 1000 + best_start)
    return worst


def sends_by_message(sandbox: Sandbox, instances: list[str]) -> Counter[str]:
    """sendText requests the sandbox received, by their ``message`` (each command's own id)."""
    counts: Counter[str] = Counter()
    for instance in instances:
        for request in sandbox.requests(instance_id=instance, action="sendText"):
            counts[dict(request.query).get("message", "")] += 1
    return counts


async def produce_synthetic(
    bootstrap: str, dlq_topic: str, send_topic: str, instances: list[str]
) -> dict[int, str]:
    """SYNTHETIC dead letters in the worker's own format (dlq.build_dead_letter); returns the
    command id of each index that has one."""
    now = datetime.now(UTC)
    producer = build_producer(KafkaSettings(bootstrap_servers=bootstrap), linger_ms=20)
    await producer.start()
    ids: dict[int, str] = {}
    try:
        acks = []
        for i in range(SYNTHETIC):
            kind, instance = kind_of(i), instances[i % INSTANCES]
            command_id = f"dlq-{i:05d}-{uuid.uuid4().hex[:8]}"
            params = {"chatId": f"44{i:010d}@c.us", "message": command_id}
            extra: dict[str, Any] = {}
            if kind.reason is DlqReason.VALIDATION:
                del params["message"]
            if kind.reason is DlqReason.EXPIRED:
                extra["not_after"] = (now - timedelta(days=1)).isoformat()
            if kind.reason is DlqReason.UNDECODABLE:
                value = f"\x00not a command {i}".encode()
            else:
                ids[i] = command_id
                value = json.dumps(
                    command(instance, "sendText", params, id=command_id, **extra)
                ).encode()
            key = instance.encode()
            letter = build_dead_letter(
                Envelope(send_topic, partition_for(key, PARTITIONS), i, key, value),
                key=key,
                reason=kind.reason,
                error_code=kind.code,
                error_message=f"{kind.code} (synthetic)",
                attempts=1,
                replay_count=kind.replay_count,
                first_attempt_at=now,
                last_attempt_at=now,
            )
            at = now - timedelta(hours=3) if i < OLD else now
            acks.append(
                await producer.send(
                    dlq_topic,
                    letter.value,
                    key=letter.key,
                    headers=letter.headers,
                    timestamp_ms=int(at.timestamp() * 1000),
                )
            )
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return ids


async def _redelivered(gw: Any, count: int) -> None:
    """Until the worker has marked ``count`` re-delivered records done (they publish nothing to
    wait for), within the deadline."""
    registry = gw.app.metrics.registry

    def marked() -> float:
        value = registry.get_sample_value(
            "gateway_idempotency_hits_total", {"verdict": "redelivered"}
        )
        return value or 0.0

    async with asyncio.timeout(DEADLINE_S):
        while marked() < count:  # noqa: ASYNC110 (a counter in the worker: polled)
            await asyncio.sleep(0.05)


async def test_replay_of_ten_thousand_dead_letters_sends_each_failed_command_once(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], unique: Callable[[str], str]
) -> None:
    """10,000 dead letters in the worker's format plus seven the worker wrote itself; dry runs
    with and without filters count exactly; a filtered replay of 8,505 of them at 2,500/s (high
    enough to stay within seconds, far below what one producer can do, so the bucket sets the
    pace) keeps the rate in every window of its own publish timestamps; every replayed failed
    command reaches the sandbox exactly once; replaying the same letters again sends nothing."""
    sandbox, url = sandbox_url
    tag = uuid.uuid4().hex[:6].upper()
    instances = [f"DLQ{tag}{n:03d}" for n in range(INSTANCES)]
    real = f"DLQ{tag}REAL"
    for instance in (*instances, real):
        sandbox.add_instance(instance, TEST_TOKEN)
    settings = gateway_settings(kafka_bootstrap, url, unique("dlq"), [*instances, real])
    topics = settings.topics

    async with running_gateway(settings, sandbox) as gw:
        # Given: dead letters written by the worker itself (5 failed, 1 unknown, 1 undecodable)
        sandbox.add_fault(
            FaultRule(
                instance_id=real, kind="wawp_error", status=400, code="rest_invalid_param", times=5
            )
        )
        real_failed = [
            command(real, "sendText", {"chatId": "447441429009", "message": f"real-{n}-{tag}"})
            for n in range(5)
        ]
        for cmd in real_failed:
            cmd["params"]["message"] = cmd["id"]
            assert (await gw.run(cmd, topic=topics.send))["status"] == "failed"
        sandbox.add_fault(FaultRule(instance_id=real, kind="error_after_store", times=1))
        unknown = command(real, "sendText", {"chatId": "447441429009", "message": "u"})
        assert (await gw.run(unknown, topic=topics.send))["status"] == "outcome_unknown"
        await gw.publish(b"\xff not json", topic=topics.send, key=real.encode())
        await gw.outputs.wait_for(lambda seen: len(seen.dlq) >= 7)
        # ... and 10,000 more in the same format
        synthetic = await produce_synthetic(kafka_bootstrap, topics.dlq, topics.send, instances)
        read = SYNTHETIC + 7

        # When: a dry run of everything with the defaults
        everything = await dlq_json(kafka_bootstrap, "replay", "--topic", topics.dlq, "--dry-run")

        # Then: failed and rejected letters would go; the rest is skipped, each for its reason
        per = SYNTHETIC // 100
        assert everything["read"] == everything["matched"] == read
        assert everything["by_reason"] == {
            "permanent": 60 * per + 5,
            "retries_exhausted": 20 * per,
            "auth": 5 * per,
            "validation": 3 * per,
        }
        assert everything["replay"] == 8_805
        assert everything["skipped"] == {
            "undecodable": 1 * per + 1,
            "superseded": 0,
            "loop_guard": 2 * per,
            "outcome_unknown": 5 * per + 1,
            "deadline": 4 * per,
            "no_topic": 0,
            "limit": 0,
        }

        # When: a dry run narrowed by reason, instance, action and time
        narrow = await dlq_json(
            kafka_bootstrap,
            "replay",
            "--topic",
            topics.dlq,
            "--dry-run",
            "--reason",
            "permanent,outcome_unknown",
            "--reason",
            "expired",
            "--instance",
            f"{instances[0]},{instances[1]}",
            "--action",
            "sendText",
            "--since",
            "1h",
            "--include-unknown",
        )

        # Then: the counts are those of the records built to match
        def wanted(i: int) -> bool:
            return (
                i >= OLD
                and i % INSTANCES in (0, 1)
                and kind_of(i).reason
                in (DlqReason.PERMANENT, DlqReason.OUTCOME_UNKNOWN, DlqReason.EXPIRED)
            )

        chosen = [kind_of(i) for i in range(SYNTHETIC) if wanted(i)]
        assert narrow["read"] == read
        assert narrow["matched"] == len(chosen)
        assert narrow["replay"] == sum(
            k.replay_count == 0 and k.reason is not DlqReason.EXPIRED for k in chosen
        )
        assert narrow["skipped"]["loop_guard"] == sum(k.replay_count == 3 for k in chosen)
        assert narrow["skipped"]["deadline"] == sum(k.reason is DlqReason.EXPIRED for k in chosen)
        assert narrow["skipped"]["outcome_unknown"] == 0
        assert narrow["by_reason"]["outcome_unknown"] == sum(
            k.reason is DlqReason.OUTCOME_UNKNOWN for k in chosen
        )

        # When: the failed letters are replayed at RATE
        replay_args = ("replay", "--topic", topics.dlq, "--rate", str(RATE))
        replay_args += ("--reason", "permanent,retries_exhausted,auth")
        before = sends_by_message(sandbox, [*instances, real])
        results_before = len(gw.outputs.seen.by_topic[topics.results])
        first = await dlq_json(kafka_bootstrap, *replay_args)

        replayed_ids = {synthetic[i] for i in synthetic if kind_of(i) in KINDS[:3]}
        replayed_ids |= {cmd["id"] for cmd in real_failed}
        assert first["replay"] == first["published"] == len(replayed_ids) == 8_505
        assert first["failed"] == first["not_attempted"] == 0
        assert first["skipped"]["loop_guard"] == 2 * per
        await _results(gw, results_before + len(replayed_ids))

        # Then: the publish timestamps keep the rate in every window
        published = [
            r
            for r in await read_dlq(settings.kafka, topics.send, timeout_s=DEADLINE_S)
            if r.header(REPLAY_COUNT_HEADER) == "1"
        ]
        stamps = [int(r.timestamp.timestamp() * 1000) for r in published]
        assert len(stamps) == len(replayed_ids)
        excess = worst_window_excess(stamps, RATE)
        span_s = (max(stamps) - min(stamps)) / 1000
        measured = (len(stamps) - 1) / span_s
        # Each record is stamped inside its send, after its token and before the next one's:
        # any window holds at most burst + 1 records beyond the rate, plus what millisecond
        # stamps can hide (RATE / 1000) and what the wall clock of the stamps may drift from
        # the bucket's monotonic one (NTP slews at most 500 ppm).
        drift = RATE * span_s * 500e-6
        assert excess <= replay_burst(RATE) + 1 + RATE / 1000 + drift, (excess, measured)
        assert span_s >= (len(stamps) - replay_burst(RATE)) / RATE - 0.01, (span_s, measured)
        assert {r.key for r in published} <= {i.encode() for i in [*instances, real]}

        # Then: each replayed failed command was sent exactly once more, nothing else was
        after = sends_by_message(sandbox, [*instances, real])
        new_sends = after - before
        assert set(new_sends) == replayed_ids
        assert set(new_sends.values()) == {1}
        replayed_results = [
            r
            for cid in replayed_ids
            for r in gw.outputs.seen.results[cid]
            if r["replay_count"] == 1
        ]
        assert Counter(r["status"] for r in replayed_results) == {"succeeded": len(replayed_ids)}

        # When: the same letters are replayed again (the same replay count: re-deliveries)
        second = await dlq_json(kafka_bootstrap, *replay_args)
        assert second["published"] == len(replayed_ids)
        await _redelivered(gw, len(replayed_ids))

        # Then: the worker recognises each from its state: nothing sent, nothing answered
        assert sends_by_message(sandbox, [*instances, real]) == after
        assert len(gw.outputs.seen.by_topic[topics.results]) == results_before + len(replayed_ids)
        assert len(gw.outputs.seen.dlq) == read  # no replay was dead-lettered again
        again = sum((sends_by_message(sandbox, [*instances, real]) - after).values())
        print(
            f"\nDLQ {read} records; replayed {len(replayed_ids)} at --rate {RATE:g}: "
            f"measured {measured:,.0f}/s over {span_s:.2f} s, worst window excess "
            f"{excess:.1f} (burst {replay_burst(RATE)}); new sends {sum(new_sends.values())}, "
            f"after the second replay {again}"
        )


async def _results(gw: Gateway, count: int) -> None:
    await gw.outputs.wait_for(
        lambda seen: len(seen.by_topic[gw.settings.topics.results]) >= count, DEADLINE_S
    )


async def test_unknown_and_expired_letters_replay_only_when_asked(
    kafka_bootstrap: str,
    gateway: Gateway,
    sandbox: Sandbox,
    instance: str,
    unique: Callable[[str], str],
) -> None:
    """The worker's own outcome_unknown and expired letters, copied to a private DLQ topic: each
    is skipped by default, replayed with --include-unknown / --ignore-deadline (headers
    gateway-override-unknown / gateway-override-not-after), and then sent once."""
    dlq_topic = unique("dlq")
    await create_topics(gateway.settings.kafka, [dlq_topic], partitions=PARTITIONS)
    send = gateway.settings.topics.send
    sandbox.add_fault(FaultRule(instance_id=instance, kind="error_after_store", times=1))
    maybe = command(instance, "sendText", {"chatId": "447441429009", "message": "maybe"})
    late = command(
        instance,
        "sendText",
        {"chatId": "447441429010", "message": "late"},
        not_after=(datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    )
    assert (await gateway.run(maybe, topic=send))["status"] == "outcome_unknown"
    assert (await gateway.run(late, topic=send))["status"] == "expired"
    for cmd in (maybe, late):
        letter = await gateway.outputs.dlq_for(cmd["id"])
        await gateway.producer.send_and_wait(
            dlq_topic, letter.value, key=letter.key, headers=list(letter.headers)
        )

    def sends() -> int:
        return len(sandbox.requests(instance_id=instance, action="sendText"))

    assert sends() == 1
    default = await dlq_json(kafka_bootstrap, "replay", "--topic", dlq_topic, "--rate", "0")
    assert default["published"] == 0
    assert default["skipped"]["outcome_unknown"] == default["skipped"]["deadline"] == 1

    unknown = await dlq_json(
        kafka_bootstrap, "replay", "--topic", dlq_topic, "--include-unknown", "--rate", "0"
    )
    assert unknown["published"] == 1
    replayed = await gateway.outputs.wait_for(
        lambda seen: [r for r in seen.results[maybe["id"]] if r["replay_count"] == 1]
    )
    assert replayed[0]["status"] == "succeeded"
    assert sends() == 2

    deadline = await dlq_json(
        kafka_bootstrap, "replay", "--topic", dlq_topic, "--ignore-deadline", "--rate", "0"
    )
    assert deadline["published"] == 1  # the unknown one is skipped again without the flag
    replayed = await gateway.outputs.wait_for(
        lambda seen: [r for r in seen.results[late["id"]] if r["replay_count"] == 1]
    )
    assert replayed[0]["status"] == "succeeded"
    assert sends() == 3


async def test_ls_and_show_list_count_and_never_print_a_token(
    kafka_bootstrap: str, unique: Callable[[str], str]
) -> None:
    """ls filters and counts by reason; show prints one letter's headers and value, masking a
    token that a writer other than the worker left in it."""
    dlq_topic = unique("dlq")
    bootstrap_settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    await create_topics(bootstrap_settings, [dlq_topic], partitions=PARTITIONS)
    token = "tok-SECRET-0123456789"
    producer = build_producer(bootstrap_settings, linger_ms=0)
    await producer.start()
    try:
        for n, reason in enumerate(["permanent", "permanent", "auth"]):
            value = command("INSTLS0001", "sendText", {"chatId": "447441429009", "message": "x"})
            if n == 0:
                value["access_token"] = token
            await producer.send_and_wait(
                dlq_topic,
                json.dumps(value).encode(),
                key=b"INSTLS0001",
                partition=1,
                headers=[
                    ("dlq-reason", reason.encode()),
                    ("dlq-error-message", f"failed ?access_token={token}".encode()),
                    ("dlq-original-topic", b"wawp.send"),
                    ("dlq-replay-count", b"0"),
                ],
            )
    finally:
        await producer.stop()

    listed = await dlq_json(kafka_bootstrap, "ls", "--topic", dlq_topic)
    auth_only = await dlq_json(kafka_bootstrap, "ls", "--topic", dlq_topic, "--reason", "auth")
    code, table, _ = await dlq_cli(kafka_bootstrap, "ls", "--topic", dlq_topic, "--limit", "1")
    code_show, shown, _ = await dlq_cli(kafka_bootstrap, "show", "--topic", dlq_topic, "1:0")
    missing, _, _ = await dlq_cli(kafka_bootstrap, "show", "--topic", dlq_topic, "1:99")

    assert listed["by_reason"] == {"permanent": 2, "auth": 1}
    assert [r["where"] for r in listed["records"]] == ["1:0", "1:1", "1:2"]
    assert [r["reason"] for r in auth_only["records"]] == ["auth"]
    assert code == 0
    assert "3 of 3 records match; showing 1" in table
    assert "by reason: permanent 2, auth 1" in table
    assert code_show == 0
    assert "dlq-reason" in shown
    assert '"access_token": "***"' in shown
    assert missing == 1
    for text in (json.dumps(listed), table, shown):
        assert token not in text
