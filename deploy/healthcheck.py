"""The image's HEALTHCHECK: GET the liveness endpoint of the process this container runs.

One image runs every process, each with its probes on its own port: worker and tracker on
GATEWAY_METRICS__PORT, the webhook receiver on GATEWAY_WEBHOOK__PORT, the sandbox on its
``--port``. The command is read from /proc/1/cmdline (the gateway, or an init such as
``docker run --init`` in front of it). One-shot commands (``topics create``, ``send``, ``dlq``)
serve nothing and count as healthy. A port of 0 (any free port) cannot be probed: containers
set fixed ports. Standard library only: the slim image has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

_TIMEOUT_S = 4.0
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def _command() -> list[str]:
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _option(args: list[str], name: str, default: str) -> str:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def target(args: list[str], env: Mapping[str, str]) -> tuple[str, str, str] | None:
    """(host, port, path) of the liveness endpoint of the command ``args``, or None."""
    for arg in args:
        if arg in ("worker", "tracker"):
            host = env.get("GATEWAY_METRICS__HOST", "0.0.0.0")
            return host, env.get("GATEWAY_METRICS__PORT", "9464"), "/healthz"
        if arg == "webhook":
            host = env.get("GATEWAY_WEBHOOK__HOST", "0.0.0.0")
            return host, env.get("GATEWAY_WEBHOOK__PORT", "8080"), "/healthz"
        if arg == "sandbox":
            host = _option(args, "--host", "127.0.0.1")
            return host, _option(args, "--port", "8081"), "/_sandbox/healthz"
    return None


def probe(url: str, timeout_s: float = _TIMEOUT_S) -> bool:
    """True when ``url`` answers 200 within ``timeout_s``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return False


def url_of(host: str, port: str, path: str) -> str:
    if host in _WILDCARDS:
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"


def main() -> int:
    found = target(_command(), os.environ)
    if found is None:
        return 0
    return 0 if probe(url_of(*found)) else 1


if __name__ == "__main__":
    sys.exit(main())
