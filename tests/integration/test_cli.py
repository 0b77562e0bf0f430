"""The command line as a user runs it: subprocesses, real ports chosen at run time."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from wawp_gateway.core.kafka import topic_partitions
from wawp_gateway.core.sections import KafkaSettings
from wawp_gateway.wawp.catalog import ACTIONS

EXE = [sys.executable, "-m", "wawp_gateway"]
DEADLINE_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(extra)
    return env


def run(*args: str, env: dict[str, str] | None = None, timeout: float = DEADLINE_S) -> Any:
    return subprocess.run(
        [*EXE, *args], capture_output=True, text=True, env=env or _env(), timeout=timeout
    )


def test_actions_lists_the_catalog() -> None:
    """One line per action with method and path; --json for machines."""
    lines = run("actions").stdout.splitlines()
    rows = json.loads(run("actions", "--json").stdout)

    assert len(lines) == len(ACTIONS) == len(rows) == 115
    assert any(line.split()[:2] == ["sendImage", "POST"] for line in lines)
    assert {r["action"] for r in rows} == set(ACTIONS)


def test_check_config_names_the_bad_setting(tmp_path: Path) -> None:
    """A misconfigured gateway refuses to start and names the setting."""
    no_instances = run("check-config")
    bad_timing = run(
        "check-config",
        env=_env(
            GATEWAY_ALLOW_UNLISTED_INSTANCES="true",
            GATEWAY_WAWP__ACCESS_TOKEN="t",
            GATEWAY_KAFKA__SESSION_TIMEOUT_MS="not-a-number",
        ),
    )
    instances = tmp_path / "instances.toml"
    instances.write_text('[instances.ABC123DEF456]\nrate_per_minute = 30\naccess_token = "x"\n')
    good = run("check-config", env=_env(GATEWAY_INSTANCES_FILE=str(instances)))

    # No instance in the file: the registry topic may list some, so only a warning.
    assert no_instances.returncode == 0, no_instances.stderr
    assert "warning: no instance in GATEWAY_INSTANCES_FILE" in no_instances.stdout
    assert bad_timing.returncode == 2
    assert "GATEWAY_KAFKA__SESSION_TIMEOUT_MS" in bad_timing.stderr
    assert good.returncode == 0, good.stderr
    assert "1 instance" in good.stdout


class _Dev:
    """`wawp-gateway dev` in a subprocess, on free ports."""

    def __init__(self, tmp_path: Path, **extra: str) -> None:
        self.broker, self.sandbox = _free_port(), _free_port()
        self.env = _env(
            GATEWAY_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{self.broker}",
            GATEWAY_METRICS__PORT="0",
            GATEWAY_WEBHOOK__PORT="0",
            GATEWAY_LOG__FORMAT="json",
            **extra,
        )
        self.proc = subprocess.Popen(
            [*EXE, "dev", "--sandbox-port", str(self.sandbox), "--state-dir", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        self.output: list[str] = []

    def wait_for_line(self, needle: str) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.output.append(line)
            if needle in line:
                return line
        raise AssertionError(f"{needle!r} never printed:\n{''.join(self.output)}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(DEADLINE_S)
        if self.proc.stdout is not None:
            self.output.extend(self.proc.stdout.readlines())
            self.proc.stdout.close()
        return rc


def test_dev_starts_everything_and_the_printed_command_works(tmp_path: Path) -> None:
    """dev prints the addresses, a command and a webhook post; that command sends an image and
    prints the result, the post is published; Ctrl-C stops everything cleanly."""
    from wawp_gateway.cli.dev import DEV_WEBHOOK_SECRET

    dev = _Dev(tmp_path)
    try:
        dev.wait_for_line("wawp-gateway dev is running")
        secret_line = dev.wait_for_line("webhook secret")
        try_line = dev.wait_for_line("wawp-gateway send ")
        curl_line = dev.wait_for_line("curl -X POST")
        dev.wait_for_line("partitions.assigned")
        argv = shlex.split(try_line.strip())[1:]

        sent = run(*argv, env=dev.env)

        assert sent.returncode == 0, sent.stdout + sent.stderr
        result = json.loads(sent.stdout)
        assert (result["action"], result["status"]) == ("sendImage", "succeeded")
        assert result["message_id"].startswith("true_447441429009@c.us_")
        # send started a trace, printed its id on stderr (stdout is the JSON above), and the
        # Wawp call it led to carried it.
        trace_id = re.search(r"^trace id: ([0-9a-f]{32})$", sent.stderr, re.MULTILINE)
        assert trace_id is not None, sent.stderr
        assert (
            _sandbox_calls(dev.sandbox)[-1]["headers"]["traceparent"].split("-")[1] == (trace_id[1])
        )
        # The sandbox's webhooks for that send come back through dev's receiver.
        receiver = next(line for line in dev.output if "webhook.listening" in line)
        published = _wait_for_published(json.loads(receiver)["port"])
        assert published > 0
        # The banner shows the dev webhook secret, and a post it prints is accepted.
        assert DEV_WEBHOOK_SECRET in secret_line
        assert _post_as_printed(curl_line) == {"status": "published"}
    finally:
        rc = dev.stop()
    assert rc == 0, "".join(dev.output)
    assert any("dev.stopped" in line for line in dev.output)


def _sandbox_calls(port: int) -> Any:
    """The dev sandbox's request log (its admin API)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/requests", timeout=10) as reply:
        return json.load(reply)


def _post_as_printed(curl_line: str) -> Any:
    """The answer to the banner's ``curl -X POST URL -H ... -d BODY``, posted as it says."""
    from wawp_gateway.cli.dev import DEV_WEBHOOK_SECRET

    words = shlex.split(curl_line.strip())
    url, body = words[words.index("-X") + 2], words[words.index("-d") + 1]
    assert f"secret={DEV_WEBHOOK_SECRET}" in url
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _without_banner(output: list[str]) -> list[str]:
    """dev's output less its banner, from "is running" to the webhook post it suggests."""
    start = next(i for i, line in enumerate(output) if "wawp-gateway dev is running" in line)
    end = next(i for i in range(start, len(output)) if "curl -X POST" in output[i])
    return output[:start] + output[end + 1 :]


def _wait_for_published(port: int) -> float:
    """The receiver's count of published webhooks, once it is above zero (or the deadline)."""
    deadline = time.monotonic() + DEADLINE_S
    url = f"http://127.0.0.1:{port}/metrics"
    while True:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith('gateway_webhook_requests_total{outcome="published"}'):
                value = float(line.rsplit(" ", 1)[1])
                if value > 0:
                    return value
        if time.monotonic() > deadline:
            return 0.0
        time.sleep(0.1)  # sleep-ok: polling the receiver's metrics under a deadline


def test_dev_refuses_a_taken_port(tmp_path: Path) -> None:
    """A port already taken is a clear error that names it, not a hang."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _env(GATEWAY_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{port}")
        result = subprocess.run(
            [*EXE, "dev", "--sandbox-port", str(_free_port()), "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=DEADLINE_S,
        )

    assert result.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in result.stderr


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (
            ["file.url=https://e.com/a.png", "file[mimetype]=image/png"],
            {"file": {"url": "https://e.com/a.png", "mimetype": "image/png"}},
        ),
        (
            ["limit=5", "downloadMedia=true", "filter.fromMe=false"],
            {"limit": 5, "downloadMedia": True, "filter.fromMe": False},
        ),
    ],
)
def test_send_params_nest_and_are_typed_from_the_catalog(
    pairs: list[str], expected: dict[str, Any]
) -> None:
    """Dots and brackets nest; integers and booleans are typed from the catalog."""
    from wawp_gateway.cli.send import build_command

    action = "sendImage" if "file" in expected else "chatMessages"
    cmd = build_command(
        action,
        instance_id="X",
        pairs=[tuple(p.split("=", 1)) for p in pairs],  # type: ignore[misc]
    )
    assert cmd["params"] == expected
    assert cmd["schema"] == "wawp.command.v1"


def test_the_example_instances_file_is_valid() -> None:
    """deploy/instances.example.toml passes check-config with a default token."""
    example = Path(__file__).parents[2] / "deploy" / "instances.example.toml"
    result = run(
        "check-config",
        env=_env(GATEWAY_INSTANCES_FILE=str(example), GATEWAY_WAWP__ACCESS_TOKEN="secret"),
    )
    assert result.returncode == 0, result.stderr
    assert "2 instance(s)" in result.stdout
    assert "secret" not in result.stdout + result.stderr


def test_topics_create_makes_every_topic_once(kafka_bootstrap: str, unique: Any) -> None:
    prefix = unique("cli-topics")
    names = {
        f"GATEWAY_TOPICS__{role.upper()}": f"{prefix}.{role}"
        for role in (
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
    }
    env = _env(GATEWAY_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap, **names)

    first = run("topics", "create", "--partitions", "3", env=env)
    again = run("topics", "create", "--partitions", "3", env=env)

    assert first.returncode == 0, first.stderr
    assert sorted(first.stdout.split("\n")[:-1]) == sorted(f"{n}: created" for n in names.values())
    assert again.returncode == 0, again.stderr
    assert f"{prefix}.state: exists" in again.stdout
    # The registry and the session status: one partition each (keyed, last value wins).
    counts = asyncio.run(
        topic_partitions(KafkaSettings(bootstrap_servers=kafka_bootstrap), names.values())
    )
    assert counts == {
        name: 1 if name.endswith((".instances", ".sessions")) else 3 for name in names.values()
    }


def test_an_end_to_end_run_logs_no_token_and_no_full_phone_number(tmp_path: Path) -> None:
    """Every log line `wawp-gateway dev` and `send` write during a run at DEBUG (sends that
    succeed and fail, a bad command, a lookup, webhooks and delivery tracking): no access token,
    no webhook secret, no full phone number of the chats or of the instance's own account."""
    from wawp_gateway.cli.dev import DEV_INSTANCE, DEV_TOKEN, DEV_WEBHOOK_SECRET
    from wawp_gateway.sandbox.state import Instance

    customer, other = "447911123456", "12025550143"
    own = Instance(DEV_INSTANCE, DEV_TOKEN).me["id"].split("@")[0]
    dev = _Dev(tmp_path, GATEWAY_LOG__LEVEL="debug")
    sends: list[Any] = []
    try:
        dev.wait_for_line("partitions.assigned")
        for argv in (
            ["sendText", f"--param=chatId={customer}@c.us", f"--param=message=call +{other}"],
            [
                "sendImage",
                f"--param=chatId={customer}",
                "--param=file.url=https://e.com/a.png",
                "--param=file.mimetype=image/png",
                "--param=file.filename=a.png",
            ],
            ["sendText", f"--param=chatId={other}@c.us"],  # no message: rejected
            ["chatMessages", f"--param=chatId={customer}@c.us", "--param=limit=5"],
            [
                "sendText",
                f"--param=chatId={customer}@c.us",
                "--param=message=x",
                "--instance=NOTCONFIGURED1",
            ],
        ):
            instance = (
                []
                if any(a.startswith("--instance") for a in argv)
                else [f"--instance={DEV_INSTANCE}"]
            )
            sends.append(run("send", *argv, *instance, "--wait", "--timeout=30", env=dev.env))
        statuses = [json.loads(s.stdout)["status"] for s in sends if s.stdout.strip()]
        assert statuses.count("succeeded") == 3, [s.stdout + s.stderr for s in sends]
        dev.wait_for_line('"delivery.tracked"')  # webhooks came back and were joined
    finally:
        dev.stop()

    # Logs only: `send --wait` prints the result itself on stdout, message id and all, by design,
    # and dev's banner shows the dev webhook secret.
    lines = _without_banner(dev.output) + [line for s in sends for line in s.stderr.splitlines()]
    processed = [json.loads(line) for line in lines if '"command.processed"' in line]
    assert len(processed) == len(sends), "".join(lines)
    assert all(p["duration_ms"] >= 0 for p in processed)
    for secret in (DEV_TOKEN, DEV_WEBHOOK_SECRET):
        assert not [line for line in lines if secret in line]
    for number in (customer, other, own):
        assert not [line for line in lines if number in line], number
    assert any("44****56" in line for line in lines)  # masked, not dropped


@pytest.mark.parametrize(
    ("flag", "value"), [("--not-after", "tomorrow"), ("--params-json", "{bad")]
)
def test_send_refuses_a_bad_envelope_before_connecting(flag: str, value: str) -> None:
    """A flag the gateway would refuse is a configuration error naming it (no broker needed)."""
    result = run("send", "sendText", "--instance", "X", flag, value)

    assert result.returncode == 2
    assert f"configuration error: {flag}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_refuses_a_proxy_with_the_httptools_stack(tmp_path: Path) -> None:
    """The stack that cannot tunnel is refused with the proxy, the password never printed."""
    env = _env(
        GATEWAY_ALLOW_UNLISTED_INSTANCES="true",
        GATEWAY_WAWP__ACCESS_TOKEN="t",
        GATEWAY_WAWP__PROXY_URL="http://gateway:proxy-SECRET-pw@proxy.internal:3128",
    )
    refused = run("check-config", env={**env, "GATEWAY_WAWP__HTTP_STACK": "httptools"})
    unreadable = run("check-config", env={**env, "GATEWAY_WAWP__CA_FILE": str(tmp_path / "no.pem")})
    accepted = run("check-config", env=env)

    assert refused.returncode == 2
    assert "GATEWAY_WAWP__HTTP_STACK" in refused.stderr
    assert unreadable.returncode == 2
    assert "GATEWAY_WAWP__CA_FILE" in unreadable.stderr
    assert accepted.returncode == 0, accepted.stderr
    for done in (refused, unreadable, accepted):
        assert "proxy-SECRET-pw" not in done.stdout + done.stderr
