"""``wawp-gateway``: the top-level parser and ``main``, which dispatches to the command modules
(``processes``, ``send``, ``dlq``, ``admin``), turns a ``ConfigError`` into exit code 2 and a
refused Kafka connection (``KafkaRefused``) into one log line and exit code 3, and runs
long-running commands on one event loop with SIGINT/SIGTERM as their stop. Settings are built by
each command once and passed down; signals are handled here only."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import structlog

from wawp_gateway import __version__
from wawp_gateway.cli import admin, dlq, instances, processes, send
from wawp_gateway.core.errors import ConfigError, KafkaRefused
from wawp_gateway.core.logs import configure_logging
from wawp_gateway.core.sections import LogSettings

__all__ = ["EXIT_CONFIG", "EXIT_KAFKA_REFUSED", "main"]

log = structlog.get_logger(__name__)

EXIT_CONFIG = 2
# The brokers refused the TLS session or the login: retrying cannot help (docs/security.md).
EXIT_KAFKA_REFUSED = 3
_T = TypeVar("_T")


async def _until_signalled(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``run(stopping)``; SIGINT/SIGTERM set ``stopping`` for a graceful stop."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await run(stopping)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _run(main: Coroutine[Any, Any, _T], *, fast_loop: bool = True) -> _T:
    """Run ``main`` on uvloop when asked and available (measured: less CPU per command)."""
    if fast_loop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wawp-gateway", description="Kafka-native outbound gateway for the Wawp WhatsApp API."
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    processes.add_parsers(sub)
    send.add_parser(sub)
    dlq.add_parser(sub)
    instances.add_parser(sub)
    admin.add_parsers(sub)
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    """Run the chosen command: its exit code, or 0 once its service stopped."""
    outcome: int | processes.Service = args.run(args)
    if isinstance(outcome, processes.Service):
        _run(_until_signalled(outcome.run), fast_loop=outcome.fast_loop)
        return 0
    return outcome


def _report_refusal(exc: KafkaRefused) -> None:
    """The one line that says why the process stopped (``kafka.auth_failed`` or
    ``kafka.tls_failed``)."""
    log.error(exc.event, setting=exc.setting, problem=exc.problem)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    # One-shot commands log too (aiokafka's warnings, a refused broker): the default chain until
    # a process configures its own from GATEWAY_LOG__*.
    configure_logging(LogSettings())
    try:
        code = _dispatch(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        code = EXIT_CONFIG
    except KafkaRefused as exc:
        _report_refusal(exc)
        code = EXIT_KAFKA_REFUSED
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # Output piped into `head` and the like: the reader left, nothing more to say.
        sys.stderr.close()
        code = 0
    sys.exit(code)
