"""Bad input cannot grow the metrics: 1,000 commands with random unknown action names through a
real worker add no series beyond action="other"."""

from __future__ import annotations

import asyncio
import random
import string
import uuid

from prometheus_client import CollectorRegistry

from wawp_gateway.core.metrics import OTHER
from wawp_gateway.sandbox import Sandbox
from wawp_gateway.wawp.catalog import ACTIONS

from .conftest import POOL
from .harness import command, gateway_settings, running_gateway

# Letters, digits, punctuation and a few non-ASCII characters: names a producer could send.
_ALPHABET = string.ascii_letters + string.digits + "_-.:/ {}\"'<>" + "éßЖ漢😀"


def _series(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in registry.collect()
        for sample in family.samples
    }


def _unknown_actions(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct names of 1 to 64 characters, none of them a catalog action."""
    names: dict[str, None] = {}
    while len(names) < count:
        name = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 64)))
        if name not in ACTIONS:
            names[name] = None
    return list(names)


async def test_a_thousand_unknown_actions_add_no_series_beyond_other(
    kafka_bootstrap: str, sandbox_url: tuple[Sandbox, str], instance: str
) -> None:
    sandbox, url = sandbox_url
    rng = random.Random(19)
    settings = gateway_settings(kafka_bootstrap, url, f"lbl-{uuid.uuid4().hex[:8]}", POOL)
    async with running_gateway(settings, sandbox) as gateway:
        registry = gateway.app.metrics.registry
        # Given one unknown action already counted (the first creates the "other" series)
        first = await gateway.run(command(instance, "notAnAction", {}), topic=settings.topics.send)
        assert (first["status"], first["error"]["code"]) == ("rejected", "unknown_action")
        before = _series(registry)

        # When 999 more arrive, each with its own random name
        commands = [command(instance, name, {}) for name in _unknown_actions(rng, 999)]
        for cmd in commands:
            await gateway.publish(cmd, topic=settings.topics.command)
        results = await asyncio.gather(*(gateway.outputs.result(c["id"]) for c in commands))
        after = _series(registry)

    # Then every command was rejected, counted under "other", and no series was added
    assert {(r["status"], r["error"]["code"]) for r in results} == {("rejected", "unknown_action")}
    assert after == before
    actions = {dict(labels).get("action") for _, labels in after} - {None}
    assert actions <= set(ACTIONS) | {OTHER}
    counted = registry.get_sample_value(
        "gateway_commands_total", {"action": OTHER, "status": "rejected"}
    )
    assert counted == 1_000
