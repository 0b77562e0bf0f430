"""A typed stream of records from the gateway's output topics.

``async with client.results() as results: async for result in results: ...`` starts reading on
entering (so "from now" means from there) and stops the consumer on leaving. A plain
``async for`` works too: reading then starts with the first iteration, and the consumer stops
when the stream or its client is closed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

from wawp_gateway.sdk.errors import ClientClosed
from wawp_gateway.sdk.reader import Record, RecordSource

__all__ = ["Subscription"]

T = TypeVar("T")


class Subscription(Generic[T]):
    """Items made by ``decode`` from each record; it returns None to skip one (undecodable,
    filtered out, already seen)."""

    def __init__(
        self,
        open_reader: Callable[[], RecordSource],
        decode: Callable[[Record], T | None],
        on_close: Callable[[Subscription[T]], None] | None = None,
        *,
        poll_ms: int = 500,
    ) -> None:
        self._open_reader = open_reader
        self._decode = decode
        self._on_close = on_close
        self._poll_ms = poll_ms
        self._reader: RecordSource | None = None
        self._ready: deque[T] = deque()
        self._closed = False

    async def start(self) -> None:
        """Position the consumer now (entering ``async with`` does this)."""
        if self._closed:
            raise ClientClosed()
        if self._reader is None:
            reader = self._open_reader()
            await reader.start()
            self._reader = reader

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        if self._closed:
            raise StopAsyncIteration
        await self.start()
        assert self._reader is not None
        while not self._ready:
            if self._closed:
                raise StopAsyncIteration
            for record in await self._reader.fetch(self._poll_ms):
                item = self._decode(record)
                if item is not None:
                    self._ready.append(item)
        return self._ready.popleft()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close(self)
        if self._reader is not None:
            await self._reader.stop()

    async def __aenter__(self) -> Subscription[T]:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
