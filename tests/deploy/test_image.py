"""deploy/Dockerfile, .dockerignore and the image's health check. No Docker engine is needed: the
Dockerfile is read as instructions, and the health check runs against a real /healthz."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import re
import subprocess
import sys
from types import ModuleType

from prometheus_client import CollectorRegistry

from wawp_gateway.core.probes import serve_probes
from wawp_gateway.core.sections import MetricsSettings, WebhookSettings

from .support import DEPLOY, REPO

DOCKERFILE = DEPLOY / "Dockerfile"
# Files the build must see, and files that must stay out of the build context.
IN_CONTEXT = (
    "pyproject.toml",
    "README.md",
    "service/wawp_gateway/__init__.py",
    "service/wawp_gateway/wawp/endpoints.json",
    "deploy/healthcheck.py",
)
OUT_OF_CONTEXT = (
    ".venv/bin/python",
    ".git/HEAD",
    "tests/conftest.py",
    "bench/__init__.py",
    "service/wawp_gateway/__pycache__/cli.cpython-311.pyc",
    ".run/broker.log",
)


@functools.cache
def _instructions() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return tuple(found)


def _final_stage() -> list[tuple[str, str]]:
    instructions = list(_instructions())
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _one(keyword: str) -> str:
    (value,) = [args for k, args in _final_stage() if k == keyword]
    return value


def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics: the last matching pattern wins; `!` re-includes; a pattern that
    matches a directory covers everything below it."""
    ignored = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        regex = re.escape(body.strip("/"))
        regex = regex.replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def _dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@functools.cache
def _healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", DEPLOY / "healthcheck.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_builds_in_stages_on_python_311_slim() -> None:
    """A builder stage makes the wheel; the final stage starts again from the slim image and
    copies only the virtualenv and the health check."""
    froms = [args for keyword, args in _instructions() if keyword == "FROM"]
    base = next(args for keyword, args in _instructions() if keyword == "ARG")
    copies = [args for keyword, args in _final_stage() if keyword == "COPY"]

    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", base)
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]
    assert copies == [
        "--from=builder /opt/venv /opt/venv",
        "deploy/healthcheck.py /opt/wawp-gateway/healthcheck.py",
    ]


def test_installs_the_package_without_extras() -> None:
    """The wheel is built from the repository and installed without extras: no embedded broker,
    no development tools."""
    runs = " ".join(args for keyword, args in _instructions() if keyword == "RUN")

    assert "pip wheel --no-deps --wheel-dir /wheels ." in runs
    assert "/wheels/*.whl" in runs
    assert "[" not in runs


def test_runs_as_a_numeric_non_root_user() -> None:
    """USER is numeric (Kubernetes' runAsNonRoot checks it without a passwd file) and not 0, and
    matches the uid the manifests run as."""
    user, _, group = _one("USER").partition(":")
    manifests = (DEPLOY / "k8s" / "base" / "worker.yaml").read_text()

    assert user.isdigit()
    assert int(user) != 0
    assert group.isdigit()
    assert f"runAsUser: {user}" in manifests


def test_entrypoint_is_the_console_script_and_worker_the_default() -> None:
    """ENTRYPOINT is the package's console script; the default command is a real subcommand."""
    entrypoint, command = json.loads(_one("ENTRYPOINT")), json.loads(_one("CMD"))
    pyproject = (REPO / "pyproject.toml").read_text()
    usage = subprocess.run(
        [sys.executable, "-m", "wawp_gateway", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout

    assert entrypoint == ["wawp-gateway"]
    assert 'wawp-gateway = "wawp_gateway.cli.main:main"' in pyproject
    assert command == ["worker"]
    assert "worker" in usage


def test_exposes_the_default_ports() -> None:
    """EXPOSE names the metrics port of worker and tracker and the receiver's port, as the
    settings default them."""
    exposed = {int(port) for port in _one("EXPOSE").split()}

    assert exposed == {MetricsSettings().port, WebhookSettings().port}


def test_has_a_healthcheck_with_the_copied_script() -> None:
    """HEALTHCHECK runs the script the final stage copies, with Python (no curl in slim)."""
    healthcheck = _one("HEALTHCHECK")

    assert '"python", "/opt/wawp-gateway/healthcheck.py"' in healthcheck
    assert "--interval=" in healthcheck


def test_build_context_holds_what_the_build_needs_and_nothing_else() -> None:
    """.dockerignore keeps the package and its build files in the context, and the virtualenv,
    git, tests and caches out; every COPY source of the Dockerfile is in the context."""
    patterns = _dockerignore()
    sources = [
        source
        for keyword, args in _instructions()
        if keyword == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]

    for path in IN_CONTEXT:
        assert not _ignored(path, patterns), path
        assert (REPO / path).exists(), path
    for path in OUT_OF_CONTEXT:
        assert _ignored(path, patterns), path
    for source in sources:
        assert (REPO / source).exists(), source
        assert not _ignored(source, patterns), source


def test_healthcheck_finds_each_process_port() -> None:
    """The health check probes the port each command serves its probes on: the metrics port
    for worker and tracker, the receiver's port for webhook, --port for the sandbox; a
    one-shot command is healthy without a probe."""
    target = _healthcheck().target
    env = {"GATEWAY_METRICS__PORT": "9500", "GATEWAY_WEBHOOK__PORT": "8500"}
    python = ["/opt/venv/bin/python", "/opt/venv/bin/wawp-gateway"]
    metrics, webhook = str(MetricsSettings().port), str(WebhookSettings().port)

    assert target([*python, "worker"], {}) == ("0.0.0.0", metrics, "/healthz")
    assert target([*python, "tracker"], env) == ("0.0.0.0", "9500", "/healthz")
    assert target([*python, "webhook"], {}) == ("0.0.0.0", webhook, "/healthz")
    assert target(["/sbin/docker-init", "--", "wawp-gateway", "webhook"], env)[1] == "8500"
    assert target([*python, "sandbox", "--host=0.0.0.0", "--port=8081"], {}) == (
        "0.0.0.0",
        "8081",
        "/_sandbox/healthz",
    )
    assert target([*python, "topics", "create"], env) is None
    assert _healthcheck().url_of("0.0.0.0", "9464", "/healthz") == "http://127.0.0.1:9464/healthz"


async def test_healthcheck_probes_a_real_healthz() -> None:
    """Against the gateway's own probe server: healthy while it serves, unhealthy once it is
    gone."""
    probe, url_of = _healthcheck().probe, _healthcheck().url_of

    async with serve_probes(CollectorRegistry(), "127.0.0.1", 0, lambda: False) as port:
        serving = await asyncio.to_thread(probe, url_of("0.0.0.0", str(port), "/healthz"), 5.0)
        not_ready = await asyncio.to_thread(probe, url_of("0.0.0.0", str(port), "/readyz"), 5.0)
    gone = await asyncio.to_thread(probe, url_of("0.0.0.0", str(port), "/healthz"), 5.0)

    assert serving
    assert not not_ready
    assert not gone
