"""``wawp-gateway instances ls | put | rm`` as an operator runs it: a process per command, the
registry topic on the real broker, the token only ever in an environment variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

EXE = [sys.executable, "-m", "wawp_gateway"]
DEADLINE_S = 60.0


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EXE, *args], capture_output=True, text=True, env=env, timeout=DEADLINE_S
    )


def _ls(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    listed = _run("instances", "ls", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    return {row["instance"]: row for row in json.loads(listed.stdout)}


def test_put_ls_rm_round_trip_never_shows_the_token(
    kafka_bootstrap: str, unique: Any, tmp_path: Path
) -> None:
    """put with a token from the environment, change the rate (the token is kept), ls, rm:
    every output names the token only as set/default."""
    prefix = unique("cli-instances")
    token = f"tok-{uuid.uuid4().hex}"
    instances_file = tmp_path / "instances.toml"
    instances_file.write_text(
        "[defaults]\nrate_per_minute = 60\nburst = 5\n\n[instances.FILEINST]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
        GATEWAY_TOPICS__INSTANCES=f"{prefix}.instances",
        GATEWAY_TOPICS__SESSIONS=f"{prefix}.sessions",
        GATEWAY_INSTANCES_FILE=str(instances_file),
        INSTANCE_TOKEN=token,
    )
    created = _run("topics", "create", "--partitions", "1", env=env)
    assert created.returncode == 0, created.stderr

    outputs = [
        _run(
            "instances",
            "put",
            "NEWINST",
            "--rate-per-minute",
            "30",
            "--token-env",
            "INSTANCE_TOKEN",
            env=env,
        ),
        _run("instances", "put", "NEWINST", "--burst", "2", env=env),
        _run("instances", "ls", env=env),
    ]
    rows = _ls(env)
    outputs += [
        _run("instances", "put", "FILEINST", "--disable", env=env),
        _run("instances", "rm", "NEWINST", env=env),
        _run("instances", "put", "BAD", "--token-env", "NOT_SET_ANYWHERE", env=env),
    ]
    after = _ls(env)

    assert [o.returncode for o in outputs] == [0, 0, 0, 0, 0, 2]
    assert rows["NEWINST"] == {
        "instance": "NEWINST",
        "rate_per_minute": 30,
        "burst": 2,
        "enabled": True,
        "source": "topic",
        "token": "set",  # kept by the second put, which gave none
        "session": "-",
    }
    assert (rows["FILEINST"]["source"], rows["FILEINST"]["token"]) == ("file", "default")
    assert "NEWINST" not in after
    assert (after["FILEINST"]["enabled"], after["FILEINST"]["source"]) == (False, "topic")
    assert "NOT_SET_ANYWHERE" in outputs[-1].stderr
    shown = "".join(o.stdout + o.stderr for o in outputs)
    assert token not in shown
    assert outputs[0].stdout == "NEWINST: enabled, rate 30/min, burst default, token set\n"
    table = [line.split() for line in outputs[2].stdout.splitlines()]
    assert table[0] == ["INSTANCE", "RATE/MIN", "BURST", "ENABLED", "SOURCE", "TOKEN", "SESSION"]
    assert ["NEWINST", "30", "2", "yes", "topic", "set", "-"] in table
    assert "GATEWAY_INSTANCES_FILE" not in outputs[2].stderr  # the file is named here

    without_file = {k: v for k, v in env.items() if k != "GATEWAY_INSTANCES_FILE"}
    listed = _run("instances", "ls", env=without_file)
    assert listed.returncode == 0, listed.stderr
    assert "FILEINST" in listed.stdout  # its topic record (the put --disable above)
    assert "no GATEWAY_INSTANCES_FILE here" in listed.stderr
