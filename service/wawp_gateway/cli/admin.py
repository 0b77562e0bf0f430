"""The one-shot administration commands: ``actions`` (the catalog), ``topics create``,
``check-config`` and ``generate`` (the generated schemas and documents)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from wawp_gateway.core.config import load_client_settings, load_settings

__all__ = ["add_parsers"]


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
    from wawp_gateway.core.kafka import create_gateway_topics

    settings = load_client_settings()
    created = asyncio.run(
        create_gateway_topics(
            settings.kafka, settings.topics, settings.idempotency, partitions=args.partitions
        )
    )
    for name in settings.topics.all():
        print(f"{name}: {'created' if name in created else 'exists'}")
    return 0


def _cmd_check_config(_args: argparse.Namespace) -> int:
    from wawp_gateway.core.checks import config_warnings
    from wawp_gateway.core.kafka import connection_options

    settings = load_settings()
    connection_options(settings.kafka)  # CA, certificate and key files must load as PEM
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


def add_parsers(sub: Any) -> None:
    """``actions``, ``topics create``, ``check-config`` and ``generate`` on ``sub``."""
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
