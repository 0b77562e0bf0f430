"""``wawp-gateway dlq ls | show | replay``: the dead-letter topic from the command line.

Reading, selecting, formatting and replaying live in ``wawp_gateway.dlqtool``; this module parses
the flags, reads the topic and prints (docs/contract.md "Dead letters").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from wawp_gateway.core.config import load_client_settings
from wawp_gateway.core.errors import ConfigError

__all__ = ["add_parser"]


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


def add_parser(sub: Any) -> None:
    """``dlq ls``, ``dlq show`` and ``dlq replay`` on ``sub``."""
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
