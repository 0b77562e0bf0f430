"""/metrics, /healthz and /readyz of a running worker, and the counters behind them."""

from __future__ import annotations

import aiohttp

from examples import CHAT

from .harness import Gateway, command


async def test_probes_and_metrics_are_served(gateway: Gateway, instance: str) -> None:
    """After a sent command its counters show on /metrics; the worker is alive and ready."""
    result = await gateway.run(
        command(instance, "sendText", {"chatId": CHAT, "message": "hi"}),
        topic=gateway.settings.topics.send,
    )
    base = f"http://127.0.0.1:{gateway.app.metrics_port}"

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as healthz:
            alive = healthz.status
        async with http.get(f"{base}/readyz") as readyz:
            ready = readyz.status
        async with http.get(f"{base}/metrics") as metrics:
            exposition = await metrics.text()

    assert result["status"] == "succeeded"
    assert (alive, ready) == (200, 200)
    assert 'gateway_commands_total{action="sendText",status="succeeded"}' in exposition
    assert 'gateway_wawp_requests_total{action="sendText",status_class="2xx"}' in exposition
    assert "gateway_wawp_request_duration_seconds_bucket" in exposition
    assert "gateway_consumer_lag_records" in exposition
    # Instance ids only on the per-instance gauge, for listed instances (docs/contract.md).
    with_ids = [line for line in exposition.splitlines() if instance in line]
    assert with_ids == [f'gateway_circuit_open{{instance="{instance}"}} 0.0']
    assert CHAT.split("@")[0] not in exposition
    # Bounded label sets are exposed at 0 from the start: increase() sees the first one.
    assert 'gateway_dlq_records_total{reason="idempotency_conflict"}' in exposition
    assert 'gateway_retries_total{reason="rate_limited"}' in exposition
