"""``wawp-gateway``: the command line. Settings are built here once and passed down; signals are
handled here only."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import structlog

from wawp_gateway import __version__
from wawp_gateway.config import Settings, load_client_settings, load_settings
from wawp_gateway.errors import ConfigError
from wawp_gateway.logs import configure_logging

__all__ = ["main"]

log = structlog.get_logger(__name__)

EXIT_CONFIG = 2
_T = TypeVar("_T")


def _settings(**overrides: object) -> Settings:
    return load_settings(**overrides)


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


def _cmd_worker(_args: argparse.Namespace) -> int:
    from wawp_gateway.app import run_worker

    settings = _settings()
    configure_logging(settings.log)
    _run(
        _until_signalled(lambda stopping: run_worker(settings, stopping)),
        fast_loop=settings.engine.uvloop,
    )
    return 0


def _cmd_webhook(_args: argparse.Namespace) -> int:
    from wawp_gateway.config import load_receiver_settings
    from wawp_gateway.webhook import check_auth_configured, run_webhook

    settings = load_receiver_settings()
    configure_logging(settings.log)
    check_auth_configured(settings.webhook)
    _run(_until_signalled(lambda stopping: run_webhook(settings, stopping)))
    return 0


def _cmd_tracker(_args: argparse.Namespace) -> int:
    from wawp_gateway.config import load_tracker_settings
    from wawp_gateway.tracker import run_tracker

    settings = load_tracker_settings()
    configure_logging(settings.log)
    _run(_until_signalled(lambda stopping: run_tracker(settings, stopping)))
    return 0


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from wawp_gateway.sandbox import Sandbox, SandboxConfig, serve

    instances = dict(_split_pair(item, "--instance") for item in args.instance)
    sandbox = Sandbox(
        SandboxConfig.model_validate({"instances": instances, "latency_ms": args.latency_ms})
    )
    from wawp_gateway.config import LogSettings

    configure_logging(LogSettings())

    async def run(stopping: asyncio.Event) -> None:
        server = asyncio.create_task(serve(sandbox, args.host, args.port))
        log.info("sandbox.listening", url=f"http://{args.host}:{args.port}")
        waiter = asyncio.create_task(stopping.wait())
        await asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        if server.done() and not server.cancelled() and server.exception():
            raise server.exception()  # type: ignore[misc]
        await sandbox.aclose()

    asyncio.run(_until_signalled(run))
    return 0


def _split_pair(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(flag, f"expected KEY=VALUE, got {item!r}")
    return key, value


def _cmd_actions(args: argparse.Namespace) -> int:
    from wawp_gateway.wawp.catalog import ACTIONS

    if args.json:
        rows = [
            {
                "action": spec.name,
                "group": spec.group,
                "method": spec.method,
                "path": spec.path,
                "api": spec.api,
                "topic": spec.input_topic,
                "params": [
                    {"name": p.name, "in": p.location, "type": p.type, "required": p.required}
                    for p in spec.params
                ],
            }
            for spec in ACTIONS.values()
        ]
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(name) for name in ACTIONS)
    for spec in ACTIONS.values():
        print(f"{spec.name:<{width}}  {spec.method:<6}  {spec.api}  {spec.path}")
    return 0


def _cmd_topics(args: argparse.Namespace) -> int:
    from wawp_gateway.kafka import create_topics, topic_configs

    settings = load_client_settings()
    created = asyncio.run(
        create_topics(
            settings.kafka,
            settings.topics.all(),
            partitions=args.partitions,
            configs=topic_configs(settings.topics, settings.idempotency),
        )
    )
    for name in settings.topics.all():
        print(f"{name}: {'created' if name in created else 'exists'}")
    return 0


def _cmd_check_config(_args: argparse.Namespace) -> int:
    from wawp_gateway.checks import config_warnings

    settings = _settings()
    print(f"configuration OK: {len(settings.instances.instances)} instance(s) configured")
    for warning in config_warnings(settings):
        print(f"warning: {warning}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from wawp_gateway.schemas import generated_files

    root = Path(args.root)
    stale = []
    for name, text in generated_files().items():
        path = root / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale generated files (run `make generate`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


def _cmd_send(args: argparse.Namespace) -> int:
    from wawp_gateway.producer import build_command, send_command

    settings = load_client_settings()
    command = build_command(
        args.action,
        instance_id=args.instance,
        pairs=[_split_pair(p, "--param") for p in args.param],
        params_json=args.params_json,
        command_id=args.id,
        idempotency_key=args.idempotency_key,
        correlation_id=args.correlation_id,
        reply_to=args.reply_to,
        not_after=args.not_after,
    )
    result = asyncio.run(
        send_command(settings, command, topic=args.topic, wait=args.wait, timeout_s=args.timeout)
    )
    if result is None:
        print(json.dumps({"sent": True, "id": command["id"]}))
        return 0
    print(json.dumps(result, indent=2))
    return 0 if result.get("status") in ("succeeded", "duplicate") else 1


def _cmd_dev(args: argparse.Namespace) -> int:
    from wawp_gateway.dev import run_dev

    _run(
        _until_signalled(
            lambda stopping: run_dev(
                stopping,
                state_dir=Path(args.state_dir),
                sandbox_port=args.sandbox_port,
                embedded_broker=args.broker == "embedded",
            )
        )
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wawp-gateway", description="Kafka-native outbound gateway for the Wawp WhatsApp API."
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

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
    sandbox.set_defaults(run=_cmd_sandbox)

    send = sub.add_parser("send", help="publish one command (and wait for its result)")
    send.add_argument("action")
    send.add_argument("--instance", required=True)
    send.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a param; dots nest (file.url=...), values are typed from the catalog",
    )
    send.add_argument("--params-json", help="all params as one JSON object")
    send.add_argument("--id", help="command id (default: a new UUID)")
    send.add_argument("--idempotency-key")
    send.add_argument("--correlation-id")
    send.add_argument("--reply-to")
    send.add_argument("--not-after", help="RFC 3339 deadline, e.g. 2026-11-24T12:00:00Z")
    send.add_argument("--topic", help="input topic (default: by action, wawp.send or wawp.command)")
    send.add_argument("--wait", action="store_true", help="wait for the result and print it")
    send.add_argument("--timeout", type=float, default=60.0, help="seconds --wait waits")
    send.set_defaults(run=_cmd_send)

    actions = sub.add_parser("actions", help="list the action catalog")
    actions.add_argument("--json", action="store_true")
    actions.set_defaults(run=_cmd_actions)

    topics = sub.add_parser("topics", help="topic administration")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    create = topics_sub.add_parser("create", help="create every gateway topic")
    create.add_argument("--partitions", type=int, help="default GATEWAY_KAFKA__PARTITIONS")
    create.set_defaults(run=_cmd_topics)

    sub.add_parser("check-config", help="validate the configuration").set_defaults(
        run=_cmd_check_config
    )

    generate = sub.add_parser(
        "generate", help="write schemas/ (JSON Schemas, AsyncAPI) and docs/configuration.md"
    )
    generate.add_argument("--root", default=".", help="repository root")
    generate.add_argument("--check", action="store_true", help="fail when files are stale")
    generate.set_defaults(run=_cmd_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        code = args.run(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        code = EXIT_CONFIG
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # Output piped into `head` and the like: the reader left, nothing more to say.
        sys.stderr.close()
        code = 0
    sys.exit(code)
