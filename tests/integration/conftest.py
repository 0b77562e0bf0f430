"""Integration fixtures: one sandbox and one gateway worker per test process, shared by tests
that need no private configuration; each test takes its own Wawp instance for isolation."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from wawp_gateway.core.partitioning import partition_for
from wawp_gateway.sandbox import Sandbox, SandboxConfig, running_sandbox

from .harness import (
    LIMITED,
    PARTITIONS,
    SPARE,
    TEST_TOKEN,
    Gateway,
    gateway_settings,
    running_gateway,
)

POOL = tuple(f"TESTINST{n:04d}" for n in range(1, 401))
_next_instance = itertools.count()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.kafka)


@pytest_asyncio.fixture(scope="session")
async def sandbox_url() -> AsyncIterator[tuple[Sandbox, str]]:
    everyone = dict.fromkeys((*POOL, *LIMITED, *SPARE), TEST_TOKEN)
    sandbox = Sandbox(SandboxConfig.model_validate({"instances": everyone}))
    async with running_sandbox(sandbox) as url:
        yield sandbox, url
    await sandbox.aclose()


@pytest.fixture
def sandbox(sandbox_url: tuple[Sandbox, str]) -> Sandbox:
    return sandbox_url[0]


@pytest_asyncio.fixture(scope="session")
async def gateway(kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str]) -> AsyncIterator[Gateway]:
    sandbox, url = sandbox_url
    settings = gateway_settings(kafka_bootstrap, url, f"gw-{uuid.uuid4().hex[:8]}", POOL)
    async with running_gateway(settings, sandbox) as gw:
        yield gw


_next_limited = itertools.count()


@pytest.fixture
def limited_instance(sandbox: Sandbox) -> str:
    """An instance with a binding rate limit (LIMITED_RATE_PER_MINUTE, LIMITED_BURST)."""
    instance_id = LIMITED[next(_next_limited)]
    sandbox.add_instance(instance_id, TEST_TOKEN)
    return instance_id


_spares_used: set[str] = set()


@pytest.fixture
def neighbour_of(sandbox: Sandbox) -> Callable[[str], str]:
    """``neighbour_of(x)``: an unused, unlimited instance whose commands share x's partition."""

    def pick(instance_id: str) -> str:
        wanted = partition_for(instance_id, PARTITIONS)
        for spare in SPARE:
            if spare not in _spares_used and partition_for(spare, PARTITIONS) == wanted:
                _spares_used.add(spare)
                sandbox.add_instance(spare, TEST_TOKEN)
                return spare
        raise LookupError("no spare instance left in that partition")

    return pick


@pytest.fixture
def instance(sandbox: Sandbox) -> str:
    """A configured instance no other test uses, WORKING in the sandbox, with no faults."""
    instance_id = POOL[next(_next_instance)]
    sandbox.add_instance(instance_id, TEST_TOKEN)
    return instance_id
