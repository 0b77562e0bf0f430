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
from wawp_gateway.core.config import Settings, load_client_settings, load_settings
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.logs import configure_logging

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
    from wawp_gateway.worker.app import run_worker

    settings = _settings()
    configure_logging(settings.log)
    _run(
        _until_signalled(lambda stopping: run_worker(settings, stopping)),
        fast_loop=settings.engine.uvloop,
    )
    return 0


def _cmd_webhook(_args: argparse.Namespace) -> int:
    from wawp_gateway.core.config import load_receiver_settings
    from wawp_gateway.webhook.checks import check_auth_configured
    from wawp_gateway.webhook.server import run_webhook

    settings = load_receiver_settings()
    configure_logging(settings.log)
    check_auth_configured(settings.webhook)
    _run(_until_signalled(lambda stopping: run_webhook(settings, stopping)))
    return 0


def _cmd_tracker(_args: argparse.Namespace) -> int:
    from wawp_gateway.core.config import load_tracker_settings
    from wawp_gateway.tracker.service import run_tracker

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
    from wawp_gateway.core.config import LogSettings

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
    from wawp_gateway.core.kafka import create_topics, topic_configs

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
    from wawp_gateway.core.checks import config_warnings

    settings = _settings()
    print(f"configuration OK: {len(settings.instances.instances)} instance(s) configured")
    for warning in config_warnings(settings):
        print(f"warning: {warning}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from wawp_gateway.docgen.schemas import generated_files

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
    from wawp_gateway.cli.send import build_command, send_command

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
    from wawp_gateway.cli.dev import run_dev

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


# --- dlq ls | show | replay (the logic lives in dlqtool) ---------------------------------------


def _dlq_filters(args: argparse.Namespace) -> Any:
    from datetime import UTC, datetime

    from wawp_gateway.dlqtool import Filters, parse_moment

    now = datetime.now(UTC)
    return Filters.of(
        reasons=args.reason,
        instances=args.instance,
        actions=args.action,
        command_ids=args.command_id,
        since=parse_moment(args.since, now=now, flag="--since") if args.since else None,
        until=parse_moment(args.until, now=now, flag="--until") if args.until else None,
    )


def _dlq_read(args: argparse.Namespace) -> tuple[str, list[Any]] | None:
    """The DLQ topic and all its records; None (after saying why) when it could not be read."""
    from aiokafka.errors import KafkaError

    from wawp_gateway.dlqtool import read_dlq

    settings = load_client_settings()
    topic = args.topic or settings.topics.dlq
    try:
        return topic, asyncio.run(read_dlq(settings.kafka, topic, timeout_s=args.timeout))
    except TimeoutError:
        print(
            f"error: could not read {topic} to its end within {args.timeout:g} s", file=sys.stderr
        )
    except KafkaError as exc:
        print(f"error: reading {topic}: {type(exc).__name__}", file=sys.stderr)
    return None


def _cmd_dlq_ls(args: argparse.Namespace) -> int:
    from wawp_gateway.dlqtool import format_table, list_json, select

    filters = _dlq_filters(args)
    read = _dlq_read(args)
    if read is None:
        return 1
    topic, records = read
    matched = select(records, filters)
    if args.json:
        print(json.dumps(list_json(topic, len(records), matched, limit=args.limit), indent=2))
    else:
        print("\n".join(format_table(len(records), matched, limit=args.limit)))
    return 0


def _cmd_dlq_show(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from wawp_gateway.dlqtool import format_record, parse_where, read_one, record_json, select

    if (args.where is None) == (not args.command_id):
        raise ConfigError("show", "give either PARTITION:OFFSET or --command-id")
    settings = load_client_settings()
    topic = args.topic or settings.topics.dlq
    if args.where is not None:
        partition, offset = parse_where(args.where)
        try:
            one = asyncio.run(
                read_one(settings.kafka, topic, partition, offset, timeout_s=args.timeout)
            )
        except (TimeoutError, KafkaError) as exc:
            print(f"error: reading {topic}: {type(exc).__name__}", file=sys.stderr)
            return 1
        found = [one] if one is not None else []
    else:
        read = _dlq_read(args)
        if read is None:
            return 1
        found = select(read[1], _dlq_filters(args))
    if not found:
        print(f"no such record in {topic}", file=sys.stderr)
        return 1
    if args.json:
        rendered = [record_json(topic, r) for r in found]
        print(json.dumps(rendered[0] if args.where else rendered, indent=2, ensure_ascii=False))
    else:
        print("\n\n".join("\n".join(format_record(topic, r)) for r in found))
    return 0


def _cmd_dlq_replay(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from aiokafka.errors import KafkaError

    from wawp_gateway.dlqtool import (
        Progress,
        ReplayOptions,
        format_plan,
        format_report,
        plan_replay,
        publish,
    )

    filters = _dlq_filters(args)
    if args.max_replays < 1:
        raise ConfigError("--max-replays", "must be at least 1")
    if args.rate < 0:
        raise ConfigError("--rate", "must be 0 (unpaced) or more")
    options = ReplayOptions(
        to_topic=args.to_topic,
        include_unknown=args.include_unknown,
        ignore_deadline=args.ignore_deadline,
        max_replays=args.max_replays,
        limit=args.limit,
    )
    read = _dlq_read(args)
    if read is None:
        return 1
    topic, records = read
    if args.to_topic == topic:
        raise ConfigError("--to-topic", "replaying into the dead-letter topic itself")
    plan = plan_replay(records, filters, options, now=datetime.now(UTC))
    if not args.json:
        print("\n".join(format_plan(plan, options, dry_run=args.dry_run)), flush=True)
    if args.dry_run:
        if args.json:
            print(json.dumps({"dry_run": True, **plan.to_json()}, indent=2))
        return 0
    settings = load_client_settings()
    try:
        report = asyncio.run(
            publish(
                settings.kafka,
                plan,
                rate=args.rate or None,
                progress=Progress(len(plan.replays)) if plan.replays else None,
            )
        )
    except KafkaError as exc:
        print(f"error: replaying: {type(exc).__name__}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"dry_run": False, **plan.to_json(), **report.to_json()}, indent=2))
    else:
        print("\n".join(format_report(report)))
    return 0 if report.ok else 1


def _add_dlq_parser(sub: Any) -> None:
    from wawp_gateway.dlqtool import DEFAULT_MAX_REPLAYS, DEFAULT_RATE

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--topic", help="dead-letter topic (default GATEWAY_TOPICS__DLQ)")
        parser.add_argument(
            "--timeout", type=float, default=60.0, help="seconds to read the topic (default 60)"
        )

    def filters(parser: argparse.ArgumentParser) -> None:
        for name, what in (
            ("--reason", "dlq-reason"),
            ("--instance", "instance_id"),
            ("--action", "catalog action"),
            ("--command-id", "command id"),
        ):
            parser.add_argument(
                name, action="append", default=[], help=f"{what}; repeat or comma-separate"
            )
        parser.add_argument("--since", help="dead-lettered at or after: ISO-8601, or 30m, 2h, 1d")
        parser.add_argument("--until", help="dead-lettered before: ISO-8601, or 30m, 2h, 1d")
        parser.add_argument("--limit", type=int, help="at most this many records")
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    dlq = sub.add_parser("dlq", help="inspect and replay the dead-letter topic")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)

    ls = dlq_sub.add_parser("ls", help="list dead letters, with counts by reason")
    common(ls)
    filters(ls)
    ls.set_defaults(run=_cmd_dlq_ls)

    show = dlq_sub.add_parser("show", help="one dead letter: headers and value (token-free)")
    show.add_argument("where", nargs="?", metavar="PARTITION:OFFSET", help="as ls prints it")
    show.add_argument("--command-id", action="append", default=[], help="every letter of it")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    common(show)
    show.set_defaults(run=_cmd_dlq_show, reason=[], instance=[], action=[], since=None, until=None)

    replay = dlq_sub.add_parser(
        "replay", help="publish dead letters back to their topic, for the worker to run anew"
    )
    common(replay)
    filters(replay)
    replay.add_argument(
        "--dry-run", action="store_true", help="count what would be replayed and skipped"
    )
    replay.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"records per second (default {DEFAULT_RATE:g}; 0: unpaced)",
    )
    replay.add_argument("--to-topic", help="publish here instead of dlq-original-topic")
    replay.add_argument(
        "--include-unknown",
        action="store_true",
        help="also outcome_unknown letters (only once you know the message was not sent)",
    )
    replay.add_argument(
        "--ignore-deadline",
        action="store_true",
        help="also expired letters and commands past their not_after",
    )
    replay.add_argument(
        "--max-replays",
        type=int,
        default=DEFAULT_MAX_REPLAYS,
        help="loop guard: skip letters already replayed this often "
        f"(default {DEFAULT_MAX_REPLAYS})",
    )
    replay.set_defaults(run=_cmd_dlq_replay)


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

    _add_dlq_parser(sub)

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
