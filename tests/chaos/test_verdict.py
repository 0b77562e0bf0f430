"""The chaos verdict itself: it must see every broken promise (fast, no broker)."""

from __future__ import annotations

import random
from collections import Counter

from wawp_gateway.sandbox import HeldRequest
from wawp_gateway.sandbox.requestlog import RequestLog, RequestRecord

from .fleet import Kill, chaos_plan
from .harness import ChaosCommand, SeenResult, parse_text
from .verdict import final_status, judge

INSTANCE = "CHAOS0000000"
CHAT = "447400000001@c.us"
OTHER_CHAT = "447400000002@c.us"


def _commands(n: int) -> list[ChaosCommand]:
    return [ChaosCommand(f"run-{i}", INSTANCE, CHAT, i + 1) for i in range(n)]


def _log(
    sent: list[ChaosCommand], client_ports: list[int] | None = None, at: list[float] | None = None
) -> list[RequestRecord]:
    log = RequestLog()
    for i, command in enumerate(sent):
        log.append(
            arrival=i + 1,
            at=at[i] if at else 0.0,
            method="POST",
            path="/wp-json/awp/v1/send",
            action="sendText",
            instance_id=INSTANCE,
            query=[("chatId", command.chat_id), ("message", command.text)],
            body=None,
            status=201,
            token_in="query",
            token_valid=True,
            client=("127.0.0.1", client_ports[i] if client_ports else 40001 + i),
        )
    return log.select()


def _ok(commands: list[ChaosCommand]) -> dict[str, list[SeenResult]]:
    return {c.command_id: [SeenResult("succeeded", 0, None)] for c in commands}


def _kill(*arrivals: int) -> Kill:
    held = tuple(
        HeldRequest(a, 0.0, "POST", "/send", ("127.0.0.1", 1), "sendText", INSTANCE)
        for a in arrivals
    )
    return Kill(1.0, "worker-1", True, held)


def test_texts_carry_the_command_id_and_seq() -> None:
    command = ChaosCommand("abc-000001", INSTANCE, CHAT, 7)
    assert parse_text(command.text) == ("abc-000001", 7)
    assert parse_text("hello") is None


def test_a_clean_run_has_no_problems() -> None:
    commands = _commands(4)
    verdict = judge(commands, _ok(commands), _log(commands), [], 32, Counter())
    assert verdict.problems(planned_kills=0) == []
    assert verdict.finals == Counter(succeeded=4)
    assert (verdict.repeated, verdict.conflicting) == (0, [])


def test_second_outcomes_after_a_crash_are_counted_not_failed() -> None:
    """Within a kill's window a re-delivered command may be answered again; not a broken
    promise while such commands stay within the in-flight bound of the kills."""
    commands = _commands(2)
    results = _ok(commands)
    results["run-0"].append(SeenResult("duplicate", 0, "succeeded"))
    results["run-1"] = [SeenResult("outcome_unknown", 0, None)] * 2

    verdict = judge(commands, results, _log(commands), [_kill(2)], 32, Counter())

    assert (verdict.repeated, verdict.conflicting, verdict.duplicates_seen) == (1, [], 1)
    assert verdict.problems(planned_kills=1) == []


def test_second_results_without_a_kill_are_found() -> None:
    """Graceful stops and rebalances: one result per command, a duplicate repeat included."""
    commands = _commands(2)
    results = _ok(commands)
    results["run-0"].append(SeenResult("duplicate", 0, "succeeded"))

    verdict = judge(commands, results, _log(commands), [], 32, Counter())

    assert verdict.answered_twice == 1
    assert [p[:3] for p in verdict.problems(planned_kills=0)] == ["(e)"]


def test_double_sends_and_order_breaks_are_found() -> None:
    """A re-delivered command executed again: sent twice, and its chat goes backwards."""
    commands = _commands(3)
    sent = [commands[0], commands[1], commands[2], commands[1]]

    verdict = judge(commands, _ok(commands), _log(sent), [], 32, Counter())

    assert verdict.double_sent == {"run-1": 2}
    assert verdict.order_broken == {CHAT: [(3, 2)]}
    problems = verdict.problems(planned_kills=0)
    assert [p[:3] for p in problems] == ["(b)", "(d)"]


def test_missing_results_unknowns_over_the_bound_and_unsent_successes_are_found() -> None:
    commands = _commands(4)
    results = {
        "run-0": [SeenResult("outcome_unknown", 0, None)],
        "run-1": [SeenResult("outcome_unknown", 0, None)],
        "run-2": [SeenResult("succeeded", 0, None)],
    }

    verdict = judge(commands, results, _log(commands[:2]), [_kill(1)], 1, Counter())

    assert verdict.missing == ["run-3"]
    assert verdict.succeeded_unsent == ["run-2"]
    assert (verdict.unknown, verdict.unknown_bound) == (2, 1)
    assert verdict.caught == {"run-0": "outcome_unknown"}
    problems = " ".join(verdict.problems(planned_kills=1))
    assert "(a) 1 command(s) without a result" in problems
    assert "(c) 2 outcome_unknown > in-flight bound 1 x 1 kills = 1" in problems
    assert "succeeded but never reached the sandbox" in problems


def test_calls_read_by_the_sandbox_after_the_kill_count_as_caught() -> None:
    """The victim's request still in the sandbox's socket buffer at the kill: caught too; a
    later connection that reuses the victim's port is not."""
    commands = _commands(4)
    results = {c: [SeenResult("outcome_unknown", 0, None)] for c in ("run-0", "run-1")}
    results["run-2"] = [SeenResult("succeeded", 0, None)]
    results["run-3"] = [SeenResult("succeeded", 0, None)]
    records = _log(commands, client_ports=[40001, 40002, 40003, 40002], at=[0, 0.05, 0.05, 1.5])
    kill = Kill(1.0, "worker-1", True, _kill(1).held, frozenset({40001, 40002}), 1, 0.0)

    verdict = judge(commands, results, records, [kill], 32, Counter())

    assert verdict.caught == {"run-0": "outcome_unknown", "run-1": "outcome_unknown"}
    assert (verdict.caught_held, verdict.caught_late) == (1, 1)
    assert verdict.problems(planned_kills=1) == []


def test_a_call_caught_by_a_kill_must_not_end_failed() -> None:
    commands = _commands(1)
    results = {"run-0": [SeenResult("failed", 0, None)]}
    verdict = judge(commands, results, _log(commands), [_kill(1)], 32, Counter())
    assert any("caught mid-call ended otherwise" in p for p in verdict.problems(1))


def test_too_few_or_not_mid_call_kills_are_problems() -> None:
    commands = _commands(1)
    random_kill = Kill(1.0, "worker-1", False, ())
    verdict = judge(commands, _ok(commands), _log(commands), [random_kill], 32, Counter())
    problems = verdict.problems(planned_kills=2)
    assert "only 1 of 2 kills happened" in problems
    assert "only 0 of 1 kills were mid-call" in problems


def test_final_status_keeps_the_highest_replay_and_skips_duplicate_repeats() -> None:
    first = SeenResult("succeeded", 0, None)
    repeat = SeenResult("duplicate", 0, "succeeded")
    assert final_status([first, repeat]) == "succeeded"
    assert final_status([SeenResult("outcome_unknown", 0, None), first]) == "outcome_unknown"
    assert final_status([repeat]) == "succeeded"
    assert final_status([SeenResult("failed", 0, None), SeenResult("succeeded", 1, None)]) == (
        "succeeded"
    )


def test_the_plan_aims_at_least_half_the_kills_and_adds_before_it_removes() -> None:
    for kills in range(0, 12):
        plan = chaos_plan(kills, random.Random(kills))
        assert plan.count("kill-mid-call") * 2 >= kills
        assert plan.count("kill-mid-call") + plan.count("kill-random") == kills
        assert plan.index("add-worker") < plan.index("remove-worker")
