"""The cost of trace context, measured in ``upstream-0ms`` (docs/tracing.md "Cost").

The gateway as it ships (propagation on, no exporter) runs beside the same gateway with
propagation removed and with every command's spans exported over OTLP/HTTP (to
``bench.otlp_sink``). A 3% difference is well inside what this shared machine's drift does to
one run's throughput between rounds, so each round runs the three back to back, forwards then
backwards (the exporting run, in the middle, is followed by each of the others in turn), and the
goal is the median of the rounds' own ratios, not a ratio of medians.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.measure import Measurement, Stack, run_backlog
from bench.otlp_sink import start_otlp_sink
from bench.systems import SystemSpec
from bench.workload import Workload

__all__ = ["TraceCost", "measure_trace_cost"]


@dataclass
class TraceCost:
    rounds: int
    # per round: (throughput /s, CPU us per command) of each variant
    traced: list[tuple[float, float]] = field(default_factory=list)
    untraced: list[tuple[float, float]] = field(default_factory=list)
    exporting: list[tuple[float, float]] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)

    def ratio(self, of: str, to: str, index: int) -> float:
        """Median over the rounds of ``of / to`` (index 0: throughput, 1: CPU per command)."""
        a, b = getattr(self, of), getattr(self, to)
        return statistics.median(x[index] / y[index] for x, y in zip(a, b, strict=True) if y[index])

    def per_round(self, name: str, index: int) -> str:
        return "/".join(f"{v[index]:,.0f}" for v in getattr(self, name))


async def measure_trace_cost(
    stack: Stack, scenario: str, workload: Workload, fetch_wait_ms: int, rounds: int
) -> TraceCost:
    _, sink_url = start_otlp_sink(stack.group)
    variants = {
        "traced": SystemSpec("gateway", fetch_wait_ms),
        "exporting": SystemSpec("gateway", fetch_wait_ms, trace="otlp", otlp_endpoint=sink_url),
        "untraced": SystemSpec("gateway", fetch_wait_ms, trace="off"),
    }
    cost = TraceCost(rounds)
    for round_no in range(rounds):
        order = list(variants.items())
        if round_no % 2:
            order.reverse()
        for name, spec in order:
            await stack.reset_sandbox()
            measurement, _, _ = await run_backlog(stack, scenario, spec, workload)
            cpu_us = measurement.cpu_s.get("system", 0.0) / max(measurement.completed, 1) * 1e6
            getattr(cost, name).append((measurement.throughput["per_s"], cpu_us))
            measurement.system += f" (trace cost, round {round_no + 1})"
            cost.measurements.append(measurement)
    return cost
