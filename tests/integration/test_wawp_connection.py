"""The Wawp connection as production has it: HTTPS (the sandbox behind a test CA made at test
time) and an egress proxy (proxy.py, basic authentication, logging each CONNECT).

docs/contract.md "Outcomes": a TLS or proxy failure before the request left is connect_error
(not sent, retried), never outcome_unknown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from egress import EgressProxy, TestCA, make_test_ca, running_proxy
from examples import CHAT
from wawp_gateway.core.errors import WawpConnectError, WawpError
from wawp_gateway.core.kafka import create_topics
from wawp_gateway.core.sections import HttpStack
from wawp_gateway.sandbox import Sandbox, SandboxConfig, running_sandbox
from wawp_gateway.wawp.transports.base import HttpRequest
from wawp_gateway.wawp.transports.factory import build_transport

from .harness import (
    DEADLINE_S,
    PARTITIONS,
    TEST_TOKEN,
    OutputCollector,
    command,
    gateway_settings,
    logged_port,
    running_gateway,
    topics_for,
)

INSTANCES = tuple(f"TLSINST{n:05d}" for n in range(1, 21))
PROXYING: tuple[HttpStack, ...] = ("aiohttp", "httpx")


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("wawp-ca"))


@pytest_asyncio.fixture(scope="module")
async def https_sandbox(test_ca: TestCA) -> AsyncIterator[tuple[Sandbox, str]]:
    """The Wawp sandbox over HTTPS, its certificate issued by the test CA for 127.0.0.1."""
    sandbox = Sandbox(SandboxConfig.model_validate({"instances": dict.fromkeys(INSTANCES, "x")}))
    for instance_id in INSTANCES:
        sandbox.add_instance(instance_id, TEST_TOKEN)
    async with running_sandbox(sandbox, tls=test_ca.server) as url:
        yield sandbox, url
    await sandbox.aclose()


@pytest_asyncio.fixture(scope="module")
async def proxy() -> AsyncIterator[EgressProxy]:
    async with running_proxy() as running:
        yield running


def _target(url: str) -> str:
    return url.removeprefix("https://")


def _send(url: str, instance_id: str = INSTANCES[0]) -> HttpRequest:
    return HttpRequest(
        "POST",
        f"{url}/v2/send/text",
        (("instance_id", instance_id), ("access_token", TEST_TOKEN)),
        json.dumps({"chatId": CHAT, "message": "hi"}).encode(),
        timeout_s=5.0,
    )


async def _sent_through(
    stack: HttpStack, request: HttpRequest, *, proxy_url: str, ca_file: Path | None
) -> WawpError | int:
    transport = build_transport(
        stack, max_connections=2, connect_timeout_s=5.0, proxy_url=proxy_url, ca_file=ca_file
    )
    try:
        return (await transport.send(request)).status
    except WawpError as error:
        return error
    finally:
        await transport.aclose()


# -- the transports through the proxy ------------------------------------------------------------


@pytest.mark.parametrize("stack", PROXYING)
async def test_https_through_the_proxy_is_one_connect_per_connection(
    stack: HttpStack, https_sandbox: tuple[Sandbox, str], proxy: EgressProxy, test_ca: TestCA
) -> None:
    """Calls tunnel through CONNECT with the proxy's credentials; each connection the sandbox
    saw is one CONNECT in the proxy's log."""
    sandbox, url = https_sandbox
    since = sandbox.requests()[-1].seq if sandbox.requests() else 0
    connects_before = len(proxy.connects(_target(url)))
    transport = build_transport(
        stack,
        max_connections=2,
        connect_timeout_s=5.0,
        proxy_url=proxy.url(),
        ca_file=test_ca.ca_file,
    )
    try:
        answers = await asyncio.gather(*(transport.send(_send(url)) for _ in range(6)))
    finally:
        await transport.aclose()

    assert [a.status for a in answers] == [201] * 6
    seen = [r for r in sandbox.requests() if r.seq > since]
    connections = {r.client for r in seen}
    assert len(seen) == 6
    assert 1 <= len(connections) <= 2  # the pool's bound, connections reused
    await proxy.wait_for(
        lambda: len(proxy.connects(_target(url))) >= connects_before + len(connections)
    )
    assert len(proxy.connects(_target(url))) == connects_before + len(connections)


@pytest.mark.parametrize("stack", PROXYING)
async def test_a_wrong_proxy_password_is_not_sent(
    stack: HttpStack, https_sandbox: tuple[Sandbox, str], proxy: EgressProxy, test_ca: TestCA
) -> None:
    """The proxy answers 407 to the CONNECT: connect_error, no password in the error."""
    sandbox, url = https_sandbox
    before = len(sandbox.requests())
    wrong = f"wrong-{uuid.uuid4().hex}"

    error = await _sent_through(
        stack, _send(url), proxy_url=proxy.url(password=wrong), ca_file=test_ca.ca_file
    )

    assert type(error) is WawpConnectError, error
    assert len(sandbox.requests()) == before
    for secret in (wrong, proxy.password, TEST_TOKEN):
        assert secret not in f"{error} {error!r} {error.__cause__!r} {error.__context__!r}"


@pytest.mark.parametrize("stack", PROXYING)
async def test_an_unreachable_target_behind_the_proxy_is_not_sent(
    stack: HttpStack, proxy: EgressProxy, test_ca: TestCA
) -> None:
    """The proxy cannot reach Wawp (it answers the CONNECT with an error): connect_error."""
    error = await _sent_through(
        stack,
        _send("https://wawp-gateway-test.invalid:443"),
        proxy_url=proxy.url(),
        ca_file=test_ca.ca_file,
    )
    assert type(error) is WawpConnectError, error
    assert proxy.password not in str(error)


@pytest.mark.parametrize("stack", PROXYING)
async def test_a_proxy_that_refuses_connections_is_not_sent(
    stack: HttpStack, https_sandbox: tuple[Sandbox, str], unused_tcp_port: int
) -> None:
    error = await _sent_through(
        stack,
        _send(https_sandbox[1]),
        proxy_url=f"http://u:p@127.0.0.1:{unused_tcp_port}",
        ca_file=None,
    )
    assert type(error) is WawpConnectError, error
    assert "ECONNREFUSED" in str(error)


@pytest.mark.parametrize("stack", PROXYING)
async def test_an_untrusted_certificate_behind_the_proxy_is_not_sent(
    stack: HttpStack, https_sandbox: tuple[Sandbox, str], proxy: EgressProxy
) -> None:
    """The tunnel opens, the TLS handshake through it fails verification: connect_error."""
    sandbox, url = https_sandbox
    before = len(sandbox.requests())
    error = await _sent_through(stack, _send(url), proxy_url=proxy.url(), ca_file=None)
    assert type(error) is WawpConnectError, error
    assert "CERTIFICATE_VERIFY_FAILED" in str(error)
    assert len(sandbox.requests()) == before


@pytest.mark.parametrize("stack", PROXYING)
async def test_plain_http_through_the_proxy_is_forwarded_with_its_credentials(
    stack: HttpStack, proxy: EgressProxy
) -> None:
    """A plain-HTTP URL goes to the proxy whole (no tunnel), with the proxy's credentials: the
    right password reaches the sandbox, a wrong one gets the proxy's own 407."""
    sandbox = Sandbox(SandboxConfig.model_validate({"instances": {INSTANCES[0]: "x"}}))
    sandbox.add_instance(INSTANCES[0], TEST_TOKEN)
    try:
        async with running_sandbox(sandbox) as url:
            status = await _sent_through(stack, _send(url), proxy_url=proxy.url(), ca_file=None)
            refused = await _sent_through(
                stack, _send(url), proxy_url=proxy.url(password="wrong"), ca_file=None
            )
    finally:
        await sandbox.aclose()

    assert (status, refused) == (201, 407)
    [seen] = sandbox.requests()
    assert seen.path == "/v2/send/text"
    forwarded = f" - POST {url.removeprefix('http://')}/v2/send/text"
    await proxy.wait_for(lambda: any(forwarded in line and " 201 " in line for line in proxy.lines))


# -- a worker over HTTPS ---------------------------------------------------------------------


def _settings(kafka_bootstrap: str, url: str, **wawp: Any) -> Any:
    prefix = f"tls-{uuid.uuid4().hex[:8]}"
    base = gateway_settings(kafka_bootstrap, url, prefix, INSTANCES)
    return base.model_copy(update={"wawp": base.wawp.model_copy(update=wawp)})


async def test_a_worker_with_the_ca_file_sends_over_https(
    kafka_bootstrap: str, https_sandbox: tuple[Sandbox, str], test_ca: TestCA
) -> None:
    """GATEWAY_WAWP__CA_FILE trusts the test CA: the send succeeds over HTTPS."""
    sandbox, url = https_sandbox
    instance = INSTANCES[1]
    settings = _settings(kafka_bootstrap, url, ca_file=test_ca.ca_file)
    async with running_gateway(settings, sandbox) as gateway:
        result = await gateway.run(
            command(instance, "sendText", {"chatId": CHAT, "message": "over TLS"}),
            topic=settings.topics.send,
        )

    assert result["status"] == "succeeded", result
    assert [r.action for r in sandbox.requests(instance_id=instance)] == ["sendText"]


async def test_a_worker_without_the_ca_file_fails_connect_error_and_sends_nothing(
    kafka_bootstrap: str, https_sandbox: tuple[Sandbox, str]
) -> None:
    """Without the CA the certificate is refused on every attempt: failed / connect_error
    after the retries, never outcome_unknown, and the sandbox logged no request."""
    sandbox, url = https_sandbox
    instance = INSTANCES[2]
    settings = _settings(kafka_bootstrap, url)
    async with running_gateway(settings, sandbox) as gateway:
        result = await gateway.run(
            command(instance, "sendText", {"chatId": CHAT, "message": "untrusted"}),
            topic=settings.topics.send,
        )

    assert (result["status"], result["error"]["code"]) == ("failed", "connect_error"), result
    assert result["attempts"] == settings.retry.max_attempts
    assert sandbox.requests(instance_id=instance) == []


# -- the worker process through the proxy ------------------------------------------------------


async def test_the_worker_process_goes_through_the_proxy_and_never_logs_its_password(
    kafka_bootstrap: str,
    https_sandbox: tuple[Sandbox, str],
    proxy: EgressProxy,
    test_ca: TestCA,
    tmp_path: Path,
) -> None:
    """`wawp-gateway worker` with GATEWAY_WAWP__PROXY_URL and __CA_FILE: every command succeeds,
    every connection the sandbox saw shows as a CONNECT in the proxy's log, and the proxy's
    password is in none of the worker's output lines (debug level, both streams)."""
    sandbox, url = https_sandbox
    instances = INSTANCES[3:8]
    prefix = f"tlsp-{uuid.uuid4().hex[:8]}"
    topics = topics_for(prefix)
    settings = gateway_settings(kafka_bootstrap, url, prefix, instances)
    await create_topics(settings.kafka, topics.all(), partitions=PARTITIONS)
    instances_file = tmp_path / "instances.toml"
    instances_file.write_text("".join(f"[instances.{i}]\n" for i in instances))
    connects_before = len(proxy.connects(_target(url)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_LOG__FORMAT="json",
        GATEWAY_LOG__LEVEL="debug",
        GATEWAY_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
        GATEWAY_KAFKA__GROUP_ID=f"{prefix}-group",
        GATEWAY_KAFKA__SESSION_TIMEOUT_MS="3000",
        GATEWAY_KAFKA__HEARTBEAT_INTERVAL_MS="500",
        GATEWAY_KAFKA__REBALANCE_TIMEOUT_MS="3000",
        GATEWAY_KAFKA__FETCH_MAX_WAIT_MS="10",
        GATEWAY_KAFKA__PARTITIONS=str(PARTITIONS),
        **{f"GATEWAY_TOPICS__{name.upper()}": getattr(topics, name) for name in _TOPIC_NAMES},
        GATEWAY_WAWP__BASE_URL=f"{url}/wp-json/awp/v1",
        GATEWAY_WAWP__V2_BASE_URL=url,
        GATEWAY_WAWP__ACCESS_TOKEN=TEST_TOKEN,
        GATEWAY_WAWP__PROXY_URL=proxy.url(),
        GATEWAY_WAWP__CA_FILE=str(test_ca.ca_file),
        GATEWAY_WAWP__MAX_CONNECTIONS="4",
        GATEWAY_ENGINE__MAX_IN_FLIGHT="4",
        GATEWAY_INSTANCES_FILE=str(instances_file),
        GATEWAY_METRICS__HOST="127.0.0.1",
        GATEWAY_METRICS__PORT="0",
        GATEWAY_SHUTDOWN__GRACE_S="5",
    )
    commands = [
        command(instance, "sendText", {"chatId": CHAT, "message": f"via proxy {n}"})
        for n in range(4)
        for instance in instances
    ]
    outputs = OutputCollector(kafka_bootstrap, [topics.results, topics.dlq])
    await outputs.start()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wawp_gateway",
        "worker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    assert process.stdout is not None
    lines: list[bytes] = []
    try:
        await asyncio.wait_for(logged_port(process.stderr, "metrics.listening", lines), 20)
        rest = asyncio.gather(process.stderr.read(), process.stdout.read())
        results = await _publish_and_collect(settings, topics.send, commands, outputs)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), DEADLINE_S)
        await outputs.stop()
    stderr_rest, stdout = await rest
    output = b"".join(lines) + stderr_rest + stdout

    assert process.returncode == 0, output.decode()[-3000:]
    assert {r["status"] for r in results} == {"succeeded"}, results
    seen = [r for r in sandbox.requests() if r.instance_id in instances]
    assert len(seen) == len(commands)
    connections = {r.client for r in seen}
    target = _target(url)
    await proxy.wait_for(lambda: len(proxy.connects(target)) >= connects_before + len(connections))
    assert len(proxy.connects(target)) == connects_before + len(connections)
    configured = [
        json.loads(line) for line in output.splitlines() if b"wawp.transport_configured" in line
    ]
    assert [(c["http_stack"], c["proxy"]) for c in configured] == [
        ("aiohttp", f"127.0.0.1:{proxy.port}")
    ]
    assert proxy.password.encode() not in output
    assert TEST_TOKEN.encode() not in output


_TOPIC_NAMES = (
    "send",
    "command",
    "results",
    "events",
    "delivery",
    "dlq",
    "state",
    "instances",
    "sessions",
)


async def _publish_and_collect(
    settings: Any, topic: str, commands: list[dict[str, Any]], outputs: OutputCollector
) -> list[dict[str, Any]]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, linger_ms=0)
    await producer.start()
    try:
        for cmd in commands:
            await producer.send_and_wait(
                topic, json.dumps(cmd).encode(), key=cmd["instance_id"].encode()
            )
    finally:
        await producer.stop()
    return [await outputs.result(cmd["id"]) for cmd in commands]
