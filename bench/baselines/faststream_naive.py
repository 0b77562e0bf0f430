"""Naive baseline: the FastStream subscriber a user writes first.

    python -m bench.baselines.faststream_naive --bootstrap H:P --group G --send-topic T
                                               --results-topic R --base-url URL --token TOKEN

One handler per message, one message at a time (FastStream's default): POST to Wawp with one
shared aiohttp session, await the answer, publish the result, return. FastStream's defaults
otherwise (its ack policy, its producer settings); only the group timings and the fetch wait
are set, so that it joins as fast as the other systems and sees the same broker latency.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import aiohttp
from faststream import FastStream
from faststream.kafka import KafkaBroker

from bench.baselines import baseline_parser

__all__ = ["build_app", "main"]


def build_app(args: argparse.Namespace) -> FastStream:
    broker = KafkaBroker(args.bootstrap)
    app = FastStream(broker)
    sessions: list[aiohttp.ClientSession] = []
    url = f"{args.base_url}/send"

    @app.on_startup
    async def open_session() -> None:
        sessions.append(aiohttp.ClientSession())

    @app.after_shutdown
    async def close_session() -> None:
        for session in sessions:
            await session.close()

    @broker.subscriber(
        args.send_topic,
        group_id=args.group,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=args.fetch_wait_ms,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=500,
    )
    async def handle(command: dict[str, Any]) -> None:
        params = command.get("params") or {}
        query = {
            "instance_id": command["instance_id"],
            "access_token": args.token,
            "chatId": params["chatId"],
            "message": params["message"],
        }
        async with sessions[0].post(url, params=query) as response:
            await response.read()
            status = "succeeded" if response.status < 300 else "failed"
        await broker.publish(
            {"command_id": command["id"], "status": status, "completed_at": time.time()},
            topic=args.results_topic,
            key=str(command["instance_id"]).encode(),
        )

    return app


def main(argv: list[str] | None = None) -> int:
    parser = baseline_parser("python -m bench.baselines.faststream_naive")
    args = parser.parse_args(argv)
    asyncio.run(build_app(args).run())  # FastStream handles SIGINT/SIGTERM itself
    return 0


if __name__ == "__main__":
    sys.exit(main())
