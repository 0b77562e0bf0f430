"""Correctness checks read from the sandbox's own request log (it never de-duplicates).

The request log has no command id; each command's text is unique (``bench <command id>``), so
a request is matched to its command by the ``message`` it carried, in the query or the body.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from bench.collect import Received

__all__ = ["check_faults", "check_rate_limit", "message_of"]

# A request that reached the action: the message was stored (2xx, or 500 after store).
_STORING = frozenset({200, 201, 500})


def message_of(request: Mapping[str, Any]) -> str | None:
    for key, value in request.get("query") or ():
        if key == "message":
            return str(value)
    body = request.get("body")
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return None


def check_rate_limit(
    times: Iterable[float], rate_per_minute: float, burst: int, *, tolerance_s: float = 0.01
) -> dict[str, Any]:
    """In every window [t_i, t_j] of the calls: j - i + 1 <= burst + rate * (t_j - t_i) / 60.

    The worst window is reported as the largest excess over that bound (<= 0 passes). The
    times are the sandbox's receive times: event-loop and network jitter can move two calls
    that left the gateway exactly one interval apart a little closer, so each window is given
    ``tolerance_s`` more (a limiter that really overshoots is off by a whole call)."""
    calls = sorted(times)
    worst = -float(burst)
    worst_window: tuple[float, int] = (0.0, 0)
    per_s = rate_per_minute / 60
    for i, start in enumerate(calls):
        for j in range(i, len(calls)):
            span = calls[j] - start + tolerance_s
            excess = (j - i + 1) - (burst + per_s * span)
            if excess > worst:
                worst = excess
                worst_window = (calls[j] - start, j - i + 1)
    return {
        "calls": len(calls),
        "rate_per_minute": rate_per_minute,
        "burst": burst,
        "worst_excess_calls": round(worst, 3),
        "worst_window_s": round(worst_window[0], 3),
        "worst_window_calls": worst_window[1],
        "span_s": round(calls[-1] - calls[0], 3) if calls else 0.0,
        "tolerance_s": tolerance_s,
        "call_offsets_s": [round(t - calls[0], 4) for t in calls],
        "ok": worst <= 0,
    }


def check_faults(
    requests: Iterable[Mapping[str, Any]],
    results: Mapping[str, Received],
    texts: Mapping[str, str],
    duplicates: int,
) -> dict[str, Any]:
    """Every command has one terminal result that agrees with the outcomes table, given the
    answers the sandbox gave it; none lost; none stored twice.

    - last answer 2xx -> ``succeeded``;
    - a 500 (error after store) -> ``outcome_unknown`` and no call after it (POST never resent);
    - only 503/429 answers -> ``failed`` (retries exhausted), none stored.
    """
    calls: dict[str, list[int | None]] = defaultdict(list)
    for request in sorted(requests, key=lambda r: r["seq"]):
        text = message_of(request)
        if text is not None:
            calls[text].append(request.get("status"))
    lost, sent_twice, wrong, resent_after_500 = [], [], [], []
    outcomes: dict[str, int] = defaultdict(int)
    for command_id, text in texts.items():
        answers = calls.get(text, [])
        stored = sum(1 for s in answers if s in _STORING)
        if stored > 1:
            sent_twice.append(command_id)
        if 500 in answers and answers.index(500) != len(answers) - 1:
            resent_after_500.append(command_id)
        result = results.get(command_id)
        if result is None:
            lost.append(command_id)
            continue
        expected = _expected(answers)
        outcomes[f"{result.status}/{result.error_code or '-'}"] += 1
        if result.status != expected:
            wrong.append({"command_id": command_id, "answers": answers, "status": result.status})
    problems = {
        "lost": len(lost),
        "sent_twice": len(sent_twice),
        "resent_after_500": len(resent_after_500),
        "status_disagrees": len(wrong),
        "duplicate_results": duplicates,
    }
    return {
        "commands": len(texts),
        "requests": sum(len(a) for a in calls.values()),
        "answers": _answer_counts(calls.values()),
        "outcomes": dict(outcomes),
        **problems,
        "examples": {
            "lost": lost[:5],
            "sent_twice": sent_twice[:5],
            "status_disagrees": wrong[:5],
        },
        "ok": not any(problems.values()),
    }


def _expected(answers: list[int | None]) -> str:
    if not answers:
        return "failed"  # never called: only a refusal before any call would explain it
    last = answers[-1]
    if last is not None and 200 <= last < 300:
        return "succeeded"
    if last == 500 or last is None:
        return "outcome_unknown"
    return "failed"


def _answer_counts(lists: Iterable[list[int | None]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for answers in lists:
        for status in answers:
            counts[str(status)] += 1
    return dict(counts)
