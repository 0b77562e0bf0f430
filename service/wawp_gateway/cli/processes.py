"""The long-running commands: ``dev``, ``worker``, ``webhook``, ``tracker`` and ``sandbox``.

Each one loads its settings, sets up logging and hands ``main`` a ``Service``: what to run until
SIGINT or SIGTERM. ``main`` owns the event loop and the signals.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from wawp_gateway.cli.pairs import split_pair
from wawp_gateway.core.config import load_settings
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.logs import configure_logging
from wawp_gateway.core.sections import LogSettings

__all__ = ["Service", "add_parsers"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Service:
    """A process to run: ``run(stopping)`` returns once ``stopping`` is set and it has stopped.
    ``fast_loop``: on uvloop when it is installed."""

    run: Callable[[asyncio.Event], Awaitable[None]]
    fast_loop: bool = True


def _cmd_dev(args: argparse.Namespace) -> Service:
    from wawp_gateway.cli.dev import run_dev

    return Service(
        lambda stopping: run_dev(
            stopping,
            state_dir=Path(args.state_dir),
            sandbox_port=args.sandbox_port,
            embedded_broker=args.broker == "embedded",
        )
    )


def _cmd_worker(_args: argparse.Namespace) -> Service:
    from wawp_gateway.worker.app import run_worker

    settings = load_settings()
    configure_logging(settings.log)
    return Service(
        lambda stopping: run_worker(settings, stopping), fast_loop=settings.engine.uvloop
    )


def _cmd_webhook(_args: argparse.Namespace) -> Service:
    from wawp_gateway.core.config import load_receiver_settings
    from wawp_gateway.webhook.checks import check_auth_configured
    from wawp_gateway.webhook.server import run_webhook

    settings = load_receiver_settings()
    configure_logging(settings.log)
    check_auth_configured(settings.webhook)
    return Service(lambda stopping: run_webhook(settings, stopping))


def _cmd_tracker(_args: argparse.Namespace) -> Service:
    from wawp_gateway.core.config import load_tracker_settings
    from wawp_gateway.tracker.service import run_tracker

    settings = load_tracker_settings()
    configure_logging(settings.log)
    return Service(lambda stopping: run_tracker(settings, stopping))


def _cmd_sandbox(args: argparse.Namespace) -> Service:
    from wawp_gateway.core.serving import TlsFiles
    from wawp_gateway.sandbox import Sandbox, SandboxConfig, serve

    if (args.tls_cert is None) != (args.tls_key is None):
        raise ConfigError("--tls-cert", "--tls-cert and --tls-key go together")
    tls = None if args.tls_cert is None else TlsFiles(Path(args.tls_cert), Path(args.tls_key))
    scheme = "http" if tls is None else "https"
    instances = dict(split_pair(item, "--instance") for item in args.instance)
    sandbox = Sandbox(
        SandboxConfig.model_validate({"instances": instances, "latency_ms": args.latency_ms})
    )
    configure_logging(LogSettings())

    async def run(stopping: asyncio.Event) -> None:
        server = asyncio.create_task(serve(sandbox, args.host, args.port, tls=tls))
        log.info("sandbox.listening", url=f"{scheme}://{args.host}:{args.port}")
        waiter = asyncio.create_task(stopping.wait())
        await asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        if server.done() and not server.cancelled() and server.exception():
            raise server.exception()  # type: ignore[misc]
        await sandbox.aclose()

    return Service(run, fast_loop=False)


def add_parsers(sub: Any) -> None:
    """``dev``, ``worker``, ``webhook``, ``tracker`` and ``sandbox`` on ``sub``."""
    dev = sub.add_parser("dev", help="embedded broker + Wawp sandbox + worker, all on 127.0.0.1")
    dev.add_argument("--state-dir", default=".run", help="where broker logs go (default .run)")
    dev.add_argument("--sandbox-port", type=int, default=8081)
    dev.add_argument(
        "--broker",
        choices=["embedded", "external"],
        default="embedded",
        help="embedded: start one on GATEWAY_KAFKA__BOOTSTRAP_SERVERS (127.0.0.1:9092); "
        "external: use the cluster it names",
    )
    dev.set_defaults(run=_cmd_dev)

    sub.add_parser("worker", help="consume commands and call Wawp").set_defaults(run=_cmd_worker)

    sub.add_parser("webhook", help="receive Wawp webhooks into the events topic").set_defaults(
        run=_cmd_webhook
    )

    sub.add_parser(
        "tracker", help="join message acks to sends: the delivery topic and ack metrics"
    ).set_defaults(run=_cmd_tracker)

    sandbox = sub.add_parser("sandbox", help="the local Wawp simulator")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8081)
    sandbox.add_argument("--instance", action="append", default=[], metavar="ID=TOKEN")
    sandbox.add_argument("--latency-ms", type=float, default=0.0)
    sandbox.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS (with --tls-key)")
    sandbox.add_argument("--tls-key", help="PEM private key of --tls-cert")
    sandbox.set_defaults(run=_cmd_sandbox)
