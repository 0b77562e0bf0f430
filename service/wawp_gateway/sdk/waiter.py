"""Results for requests: one background reader per results topic hands each result to the
requests waiting for its command id.

The reader is positioned before the first request publishes, and stays, so no result of a
command published afterwards can be missed; requests only register their command id. Records are
parsed fully only when someone waits for their command id: the results topic carries every
producer's results.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import structlog
from pydantic import ValidationError

from wawp_gateway.core.contracts import Result
from wawp_gateway.sdk.errors import ClientClosed
from wawp_gateway.sdk.reader import Record, RecordSource

__all__ = ["ResultWaiter"]

log = structlog.get_logger(__name__)


def _command_id(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    found = decoded.get("command_id") if isinstance(decoded, dict) else None
    return found if isinstance(found, str) else None


class ResultWaiter:
    def __init__(self, reader: RecordSource, topic: str) -> None:
        self.topic = topic
        self._reader = reader
        self._waiting: defaultdict[str, list[asyncio.Future[Result]]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        await self._reader.start()
        self._task = asyncio.create_task(self._run(), name=f"sdk-results-{self.topic}")
        self._task.add_done_callback(self._ended)

    def expect(self, command_id: str) -> asyncio.Future[Result]:
        """A future for the next result of ``command_id``: register before publishing."""
        if not self.is_running:
            raise ClientClosed()
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting[command_id].append(future)
        return future

    def forget(self, command_id: str, future: asyncio.Future[Result]) -> None:
        futures = self._waiting.get(command_id)
        if futures is None:
            return
        if future in futures:
            futures.remove(future)
        if not futures:
            del self._waiting[command_id]

    async def _run(self) -> None:
        # The flag as well as the cancel: a cancel that lands just as a fetch completes can be
        # lost inside a client library (asyncio.wait_for before Python 3.12 drops it).
        while not self._stopping:
            for record in await self._reader.fetch():
                self._deliver(record)

    def _deliver(self, record: Record) -> None:
        command_id = _command_id(record.value)
        if command_id is None or command_id not in self._waiting:
            return
        try:
            result = Result.model_validate_json(record.value or b"")
        except ValidationError:
            log.warning(
                "result.undecodable",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
            return
        for future in self._waiting.pop(command_id):
            if not future.done():
                future.set_result(result)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """Nobody waits forever on a reader that stopped: they get its error, or ClientClosed."""
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("results.reader_failed", topic=self.topic, exc_info=error)
        for futures in self._waiting.values():
            for future in futures:
                if not future.done():
                    future.set_exception(error or ClientClosed())
        self._waiting.clear()

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._reader.stop()
