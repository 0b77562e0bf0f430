"""The idempotency store: each rule of docs/contract.md "Idempotency and replay" by example, and a
stateful test of workers, re-deliveries, replays, crashes and time against a reference model."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wawp_gateway.core.contracts import StateStatus
from wawp_gateway.worker.state.entries import Entry, StateEvent
from wawp_gateway.worker.state.idempotency import (
    BLOCKING,
    TERMINAL,
    Decision,
    PartitionState,
    Verdict,
    fingerprint,
)
from wawp_gateway.worker.state.store import MemoryKV

S = StateStatus
NOW = 1_700_000_000.0
RETENTION = 3_600.0
PARAMS = {"chatId": "447441429009@c.us", "text": "hello"}
FP = fingerprint("inst-a", "sendText", PARAMS)
OTHER_FP = fingerprint("inst-a", "sendText", {**PARAMS, "text": "bye"})
TERMINALS = tuple(sorted(TERMINAL))
BLOCKINGS = tuple(sorted(BLOCKING))
NON_BLOCKING = (S.FAILED, S.EXPIRED, S.NOT_SENT)


def record(
    status: StateStatus,
    *,
    instance_id: str = "inst-a",
    key: str = "key-1",
    command_id: str = "cmd-1",
    replay_count: int = 0,
    fp: str = FP,
    at: float = NOW,
    attempts: int = 1,
    message_id: str | None = None,
    error: tuple[str, str, bool] | None = None,
    first_attempt_at: float | None = None,
) -> StateEvent:
    return StateEvent(
        instance_id=instance_id,
        key=key,
        status=status,
        command_id=command_id,
        replay_count=replay_count,
        fingerprint=fp,
        recorded_at=at,
        attempts=attempts,
        message_id=message_id,
        error=error,
        first_attempt_at=at if first_attempt_at is None else first_attempt_at,
    )


def restored(
    *events: StateEvent, now: float = NOW, retention_s: float = RETENTION, max_keys: int = 1_000
) -> PartitionState:
    """A store rebuilt from ``events`` in log order, as a new owner does."""
    state = PartitionState(retention_s, max_keys)
    for event in events:
        state.apply(event, now)
    return state


def decide(
    state: PartitionState,
    *,
    instance_id: str = "inst-a",
    key: str = "key-1",
    command_id: str = "cmd-2",
    replay_count: int = 0,
    fp: str = FP,
    now: float = NOW,
    override_unknown: bool = False,
    safe_to_repeat: bool = False,
) -> Decision:
    """By default: another command (``cmd-2``) with the same key and payload as ``record``'s."""
    return state.decide(
        instance_id=instance_id,
        key=key,
        command_id=command_id,
        replay_count=replay_count,
        fingerprint=fp,
        now=now,
        override_unknown=override_unknown,
        safe_to_repeat=safe_to_repeat,
    )


# -- re-delivery ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", TERMINALS)
def test_redelivery_of_a_finished_command_is_neither_run_nor_answered(status: StateStatus) -> None:
    """Same id and replay count after any terminal outcome, failed or not: no second call."""
    first = record(status, message_id="wamid.1", error=("code", "message", False), attempts=3)

    decision = decide(restored(first), command_id="cmd-1")

    assert decision.verdict is Verdict.REDELIVERED
    assert decision.entry is not None
    assert (decision.entry.status, decision.entry.message_id, decision.entry.error) == (
        status,
        "wamid.1",
        ("code", "message", False),
    )
    assert decision.entry.attempts == 3


@pytest.mark.parametrize("status", TERMINALS)
def test_redelivery_of_a_finished_replay_is_neither_run_nor_answered(status: StateStatus) -> None:
    """The replay count is part of "the same record": replay 2 re-delivered is done already."""
    state = restored(record(status, replay_count=2))

    assert decide(state, command_id="cmd-1", replay_count=2).verdict is Verdict.REDELIVERED


def test_redelivered_override_replay_is_not_executed_again() -> None:
    """An override replay that finished (even outcome_unknown again) is not re-run on
    re-delivery: the re-delivery rule comes before the override."""
    state = restored(record(S.OUTCOME_UNKNOWN, replay_count=1))

    decision = decide(state, command_id="cmd-1", replay_count=1, override_unknown=True)

    assert decision.verdict is Verdict.REDELIVERED


# docs/contract.md "Idempotency and replay": a re-delivered record whose command already has a
# terminal record is neither executed nor answered again, whatever that outcome was. The store
# remembers a key's earlier finished commands besides its latest, so this holds even when another
# command (or a replay) used the key since: without them, the re-delivered command would be
# decided against that other command's record (re-executed after a failed one, rejected after
# another payload's success).
@pytest.mark.parametrize(
    ("later_command", "later_replay_count", "later_fp", "later_status"),
    [
        ("cmd-2", 0, OTHER_FP, S.FAILED),  # -> EXECUTE: cmd-1 is sent again
        ("cmd-2", 0, FP, S.FAILED),  # -> EXECUTE: cmd-1 is sent again
        ("cmd-2", 0, OTHER_FP, S.SUCCEEDED),  # -> CONFLICT: a second result "rejected"
        ("cmd-1", 1, FP, S.FAILED),  # a replay of cmd-1 failed too -> EXECUTE of replay 0
    ],
    ids=["other-payload-failed", "same-payload-failed", "other-payload-succeeded", "replay-failed"],
)
def test_redelivery_after_another_command_on_the_key_is_done_already(
    later_command: str, later_replay_count: int, later_fp: str, later_status: StateStatus
) -> None:
    """Re-delivery after a crash is done already even when the key was used again since."""
    # Given cmd-1 failed, then another command on the same key ran to a terminal outcome
    state = restored(
        record(S.IN_PROGRESS, at=NOW),
        record(S.FAILED, at=NOW + 1),
        record(
            S.IN_PROGRESS,
            command_id=later_command,
            replay_count=later_replay_count,
            fp=later_fp,
            at=NOW + 2,
        ),
        record(
            later_status,
            command_id=later_command,
            replay_count=later_replay_count,
            fp=later_fp,
            at=NOW + 3,
        ),
        now=NOW + 4,
    )
    # When the worker crashed before committing, and cmd-1 is delivered again
    decision = decide(state, command_id="cmd-1", now=NOW + 4)
    # Then it is neither executed, rejected nor answered again
    assert decision.verdict is Verdict.REDELIVERED


# -- blocking outcomes ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", BLOCKINGS)
@pytest.mark.parametrize(("command_id", "replay_count"), [("cmd-2", 0), ("cmd-1", 1)])
def test_same_command_after_a_blocking_outcome_is_a_duplicate(
    status: StateStatus, command_id: str, replay_count: int
) -> None:
    """A new command with the same payload, or a replay without override: the first's answer."""
    state = restored(record(status, message_id="wamid.1"))

    decision = decide(state, command_id=command_id, replay_count=replay_count)

    assert decision.verdict is Verdict.DUPLICATE
    assert decision.entry is not None
    assert (decision.entry.status, decision.entry.command_id) == (status, "cmd-1")
    assert decision.entry.message_id == "wamid.1"


@pytest.mark.parametrize("status", BLOCKINGS)
@pytest.mark.parametrize("override_unknown", [False, True])
def test_another_payload_on_a_blocking_key_is_a_conflict(
    status: StateStatus, override_unknown: bool
) -> None:
    """A different command with a blocking key is rejected, override or not."""
    state = restored(record(status))

    decision = decide(state, fp=OTHER_FP, override_unknown=override_unknown)

    assert decision.verdict is Verdict.CONFLICT


@pytest.mark.parametrize("safe_to_repeat", [False, True])
def test_another_payload_on_an_in_progress_key_is_a_conflict(safe_to_repeat: bool) -> None:
    """A different command with an in-flight key (an earlier owner's call) is rejected."""
    state = restored(record(S.IN_PROGRESS))

    decision = decide(state, fp=OTHER_FP, safe_to_repeat=safe_to_repeat)

    assert decision.verdict is Verdict.CONFLICT


@pytest.mark.parametrize("status", NON_BLOCKING)
@pytest.mark.parametrize("fp", [FP, OTHER_FP], ids=["same-payload", "other-payload"])
@pytest.mark.parametrize(("command_id", "replay_count"), [("cmd-2", 0), ("cmd-1", 1)])
def test_failed_expired_and_not_sent_do_not_block(
    status: StateStatus, fp: str, command_id: str, replay_count: int
) -> None:
    """failed, expired, not_sent: a new command or a replay is executed anew, any payload."""
    state = restored(record(S.IN_PROGRESS), record(status, at=NOW + 1), now=NOW + 1)

    decision = decide(state, fp=fp, command_id=command_id, replay_count=replay_count, now=NOW + 1)

    assert decision.verdict is Verdict.EXECUTE


def test_in_progress_followed_by_not_sent_is_not_ambiguous() -> None:
    """On restore, in_progress then not_sent: the command itself may be tried again."""
    state = restored(record(S.IN_PROGRESS), record(S.NOT_SENT, at=NOW + 1), now=NOW + 1)

    decision = decide(state, command_id="cmd-1", now=NOW + 1)

    assert decision.verdict is Verdict.EXECUTE


@pytest.mark.parametrize(("command_id", "replay_count"), [("cmd-1", 1), ("cmd-2", 0)])
def test_outcome_unknown_with_override_unknown_executes(command_id: str, replay_count: int) -> None:
    """An operator confirmed the message was not sent: the replay is executed."""
    state = restored(record(S.OUTCOME_UNKNOWN))

    decision = decide(
        state, command_id=command_id, replay_count=replay_count, override_unknown=True
    )

    assert decision.verdict is Verdict.EXECUTE


def test_override_unknown_does_not_unblock_a_success() -> None:
    """The override lifts only outcome_unknown; a succeeded key stays a duplicate."""
    state = restored(record(S.SUCCEEDED))

    decision = decide(state, command_id="cmd-1", replay_count=1, override_unknown=True)

    assert decision.verdict is Verdict.DUPLICATE


# -- in flight ------------------------------------------------------------------------------------


@pytest.mark.parametrize("safe_to_repeat", [False, True])
def test_running_in_this_worker_waits_for_the_same_payload(safe_to_repeat: bool) -> None:
    """The same command in another lane of this worker waits for the first's outcome."""
    state = PartitionState(RETENTION)
    state.begin("inst-a", "key-1", FP)

    assert state.is_running("inst-a", "key-1")
    assert decide(state, safe_to_repeat=safe_to_repeat).verdict is Verdict.WAIT
    assert decide(state, command_id="cmd-1").verdict is Verdict.WAIT


@pytest.mark.parametrize("override_unknown", [False, True])
def test_running_in_this_worker_conflicts_with_another_payload(override_unknown: bool) -> None:
    """A different command while the key runs here is rejected."""
    state = PartitionState(RETENTION)
    state.begin("inst-a", "key-1", FP)

    decision = decide(state, fp=OTHER_FP, override_unknown=override_unknown)

    assert decision.verdict is Verdict.CONFLICT


def test_running_comes_before_the_records() -> None:
    """While the key runs here (its own in_progress applied), the same payload waits rather than
    being taken for an earlier owner's ambiguous call; after ``end`` the records decide."""
    state = PartitionState(RETENTION)
    state.begin("inst-a", "key-1", FP)
    state.apply(record(S.IN_PROGRESS), NOW)
    assert decide(state).verdict is Verdict.WAIT

    state.apply(record(S.SUCCEEDED, at=NOW + 1), NOW + 1)
    state.end("inst-a", "key-1")

    assert not state.is_running("inst-a", "key-1")
    assert decide(state, now=NOW + 1).verdict is Verdict.DUPLICATE


def test_end_of_a_command_that_never_called_frees_the_key() -> None:
    """A command that ended before any call left no record: the key is free again."""
    state = PartitionState(RETENTION)
    state.begin("inst-a", "key-1", FP)
    state.end("inst-a", "key-1")
    state.end("inst-a", "key-1")  # idempotent

    assert decide(state, fp=OTHER_FP).verdict is Verdict.EXECUTE


@pytest.mark.parametrize("override_unknown", [False, True])
def test_in_progress_of_an_earlier_owner_is_ambiguous(override_unknown: bool) -> None:
    """An earlier owner's call without an answer may have reached Wawp: not resent."""
    state = restored(
        record(S.IN_PROGRESS, at=NOW + 5, attempts=2, first_attempt_at=NOW), now=NOW + 5
    )

    for command_id in ("cmd-1", "cmd-2"):  # the command itself re-delivered, or the same payload
        decision = decide(
            state, command_id=command_id, override_unknown=override_unknown, now=NOW + 5
        )
        assert decision.verdict is Verdict.AMBIGUOUS
        assert decision.entry is not None
        assert (decision.entry.attempts, decision.entry.first_attempt_at) == (2, NOW)
        assert decision.entry.recorded_at == NOW + 5


def test_in_progress_of_an_earlier_owner_executes_when_safe_to_repeat() -> None:
    """GET/PUT/DELETE may be repeated: an unanswered earlier call does not stop them."""
    state = restored(record(S.IN_PROGRESS))

    assert decide(state, command_id="cmd-1", safe_to_repeat=True).verdict is Verdict.EXECUTE


# -- scope ----------------------------------------------------------------------------------------


def test_keys_are_scoped_per_instance() -> None:
    """The same key on two instances: independent records, and independent running commands."""
    other_fp = fingerprint("inst-b", "sendText", PARAMS)
    state = restored(record(S.SUCCEEDED))
    state.begin("inst-b", "key-2", other_fp)

    assert decide(state, instance_id="inst-b", fp=other_fp).verdict is Verdict.EXECUTE
    assert decide(state, fp=OTHER_FP).verdict is Verdict.CONFLICT
    assert decide(state, key="key-2").verdict is Verdict.EXECUTE
    assert decide(state, instance_id="inst-b", key="key-2", fp=other_fp).verdict is Verdict.WAIT
    assert state.get("inst-b", "key-1", NOW) is None


def test_entries_name_their_instance_and_key() -> None:
    state = restored(
        record(S.SUCCEEDED, key="key-1"),
        record(S.FAILED, instance_id="inst-b", key="with\x1fseparator"),
    )

    listed = [(instance_id, key, entry.status) for instance_id, key, entry in state.entries()]

    assert listed == [("inst-a", "key-1", S.SUCCEEDED), ("inst-b", "with\x1fseparator", S.FAILED)]
    assert len(state) == 2


# -- retention and size ---------------------------------------------------------------------------


def test_records_past_retention_are_skipped_by_apply() -> None:
    """A restore leaves out records older than the retention; they still count as records."""
    state = restored(record(S.SUCCEEDED, at=NOW - RETENTION - 1))

    assert len(state) == 0
    assert state.records == 1
    assert state.get("inst-a", "key-1", NOW) is None
    assert decide(state, fp=OTHER_FP).verdict is Verdict.EXECUTE


def test_records_at_the_retention_limit_are_kept() -> None:
    state = restored(record(S.SUCCEEDED, at=NOW - RETENTION))

    assert len(state) == 1
    assert decide(state).verdict is Verdict.DUPLICATE


def test_entries_past_retention_are_ignored_by_decide_and_get() -> None:
    """An entry outlives its retention in memory until ``expire``, but no longer decides."""
    state = restored(record(S.SUCCEEDED))
    later = NOW + RETENTION + 1

    assert decide(state, now=NOW + RETENTION).verdict is Verdict.DUPLICATE
    assert state.get("inst-a", "key-1", later) is None
    assert decide(state, fp=OTHER_FP, now=later).verdict is Verdict.EXECUTE
    assert decide(state, command_id="cmd-1", now=later).verdict is Verdict.EXECUTE
    assert len(state) == 1


def test_expire_drops_entries_past_retention_oldest_first() -> None:
    """``expire`` drops from the least recently updated and stops at the first live entry."""
    state = PartitionState(RETENTION)
    for key, at in [("key-1", NOW), ("key-2", NOW + 10), ("key-3", NOW + 20), ("key-1", NOW + 30)]:
        state.apply(record(S.SUCCEEDED, key=key, at=at), at)

    assert state.expire(NOW + 30) == 0
    assert state.expire(NOW + RETENTION + 15) == 1  # key-2; key-1 was updated at +30
    assert sorted(key for _, key, _ in state.entries()) == ["key-1", "key-3"]
    assert state.expire(NOW + RETENTION + 20) == 0  # key-3 is exactly at the limit: kept
    assert state.expire(NOW + RETENTION + 35) == 2
    assert len(state) == 0


def test_max_keys_evicts_the_least_recently_updated() -> None:
    """Past ``max_keys`` the least recently updated key is dropped, as if its retention ended."""
    state = PartitionState(RETENTION, max_keys=2)
    state.apply(record(S.SUCCEEDED, key="key-1", at=NOW), NOW)
    state.apply(record(S.SUCCEEDED, key="key-2", at=NOW + 1), NOW + 1)
    state.apply(record(S.FAILED, key="key-1", at=NOW + 2), NOW + 2)  # an update: no eviction
    assert (len(state), state.evicted) == (2, 0)

    state.apply(record(S.SUCCEEDED, key="key-3", at=NOW + 3), NOW + 3)

    assert (len(state), state.evicted) == (2, 1)
    assert [key for _, key, _ in state.entries()] == ["key-1", "key-3"]
    assert decide(state, key="key-2", fp=OTHER_FP, now=NOW + 3).verdict is Verdict.EXECUTE


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["k1", "k2", "k3", "k4", "k5"]), st.integers(0, 40), st.booleans()
        ),
        max_size=40,
    ),
    later=st.integers(0, 150),
)
def test_restore_keeps_what_the_live_store_keeps_under_eviction_and_expiry(
    steps: list[tuple[str, int, bool]], later: int
) -> None:
    """Replaying the log at a later time yields the live store's entries (retention 100 s,
    at most 3 keys), whatever ``expire`` calls the live store made."""
    live = PartitionState(100.0, max_keys=3)
    log: list[StateEvent] = []
    now = NOW
    for key, wait, expire in steps:
        now += wait
        event = record(S.SUCCEEDED, key=key, at=now, command_id=f"c{len(log)}")
        log.append(event)
        live.apply(event, now)
        if expire:
            live.expire(now)
    now += later

    rebuilt = restored(*log, now=now, retention_s=100.0, max_keys=3)

    for key in ["k1", "k2", "k3", "k4", "k5"]:
        kept, again = live.get("inst-a", key, now), rebuilt.get("inst-a", key, now)
        assert (kept and kept.command_id) == (again and again.command_id), key


# -- the changelog's own status -------------------------------------------------------------------


def test_last_status_follows_the_last_record() -> None:
    """``last_status`` is the partition's last record, ``released`` and expired ones included."""
    state = PartitionState(RETENTION)
    assert state.last_status is None

    state.apply(record(S.IN_PROGRESS), NOW)
    assert state.last_status is S.IN_PROGRESS
    state.apply(record(S.SUCCEEDED), NOW)
    assert state.last_status is S.SUCCEEDED
    state.released("owner")
    assert state.last_status is S.RELEASED
    state.apply(record(S.FAILED, key="old", at=NOW - RETENTION - 1), NOW)  # skipped, still last
    assert state.last_status is S.FAILED
    assert state.records == 4


# -- fingerprint ----------------------------------------------------------------------------------


def test_fingerprint_is_equal_for_equal_params_in_any_key_order() -> None:
    first = {"chatId": "1@c.us", "file": {"url": "https://x.test/a.png", "mimetype": "image/png"}}
    second = {"file": {"mimetype": "image/png", "url": "https://x.test/a.png"}, "chatId": "1@c.us"}

    assert fingerprint("inst-a", "sendImage", first) == fingerprint("inst-a", "sendImage", second)


@pytest.mark.parametrize(
    ("instance_id", "action", "params"),
    [
        ("inst-b", "sendText", PARAMS),
        ("inst-a", "sendImage", PARAMS),
        ("inst-a", "sendText", {**PARAMS, "text": "hello "}),
        ("inst-a", "sendText", {**PARAMS, "reply_to": None}),
        ("inst-a", "sendText", {"chatId": PARAMS["chatId"]}),
        ("inst-a", "sendText", {**PARAMS, "mentions": []}),
    ],
)
def test_fingerprint_differs_for_another_instance_action_or_params(
    instance_id: str, action: str, params: dict[str, Any]
) -> None:
    assert fingerprint(instance_id, action, params) != FP


def test_fingerprint_keeps_list_order() -> None:
    """Lists are values, not sets: another order is another command."""
    first = fingerprint("inst-a", "sendPoll", {"options": ["yes", "no"]})

    assert first != fingerprint("inst-a", "sendPoll", {"options": ["no", "yes"]})


# -- the stateful test ----------------------------------------------------------------------------

INSTANCES = ("inst-a", "inst-b")
KEYS = ("k1", "k2", "k3")
ACTIONS = {"sendText": False, "editMessage": True}  # action -> safe to repeat (POST vs PUT)
VARIANTS: tuple[dict[str, Any], ...] = ({"text": "a"}, {"text": "b"}, {"text": "a", "n": 1})
MODEL_RETENTION = 100.0
Slot = tuple[str, str]


@cache
def _fingerprint_of(instance_id: str, action: str, variant: int) -> str:
    return fingerprint(instance_id, action, VARIANTS[variant])


@dataclass(frozen=True)
class Command:
    command_id: str
    instance_id: str
    key: str
    action: str
    variant: int
    replay_count: int = 0
    override_unknown: bool = False

    @property
    def slot(self) -> Slot:
        return (self.instance_id, self.key)

    @property
    def fingerprint(self) -> str:
        return _fingerprint_of(self.instance_id, self.action, self.variant)

    @property
    def safe(self) -> bool:
        return ACTIONS[self.action]


@dataclass
class Job:
    """A command executing in the current owner, between ``begin`` and ``end``."""

    command: Command
    attempts: int = 0
    first_at: float | None = None
    calling: bool = False  # its last record is in_progress: a call is out


@dataclass
class Model:
    """What the store should know: the whole log, and the jobs running in the current owner."""

    log: list[StateEvent | None] = field(default_factory=list)  # None: released
    jobs: list[Job] = field(default_factory=list)
    overrides: dict[tuple[str, int], bool] = field(default_factory=dict)

    def running(self) -> dict[Slot, str]:
        return {job.command.slot: job.command.fingerprint for job in self.jobs}

    def last_records(self, now: float) -> dict[Slot, StateEvent]:
        """Each key's last record, while within retention."""
        last: dict[Slot, StateEvent] = {}
        for event in self.log:
            if event is not None:
                last[(event.instance_id, event.key)] = event
        return {
            slot: event
            for slot, event in last.items()
            if event.recorded_at + MODEL_RETENTION >= now
        }

    def finished(self, command: Command, now: float) -> bool:
        """Whether the log holds a terminal record of this very command (id and replay count),
        within retention, among the key's most recent finished commands (the store keeps 9)."""
        order: dict[tuple[str, int], None] = {}
        for event in self.log:
            if event is None or (event.instance_id, event.key) != command.slot:
                continue
            if event.status in TERMINAL and event.recorded_at + MODEL_RETENTION >= now:
                pair = (event.command_id, event.replay_count)
                order.pop(pair, None)
                order[pair] = None
        return (command.command_id, command.replay_count) in list(order)[-9:]

    def own_outcome(self, command: Command, now: float) -> StateEvent | None:
        """The command's own last terminal record, when it is a re-delivery."""
        if not self.finished(command, now):
            return None
        own = None
        for event in self.log:
            if (
                event is not None
                and (event.instance_id, event.key) == command.slot
                and (event.command_id, event.replay_count)
                == (command.command_id, command.replay_count)
                and event.status in TERMINAL
            ):
                own = event
        return own

    def expected(self, command: Command, last: StateEvent | None, now: float) -> Verdict:
        """The contract's rules, read off the model."""
        if last is not None and self.finished(command, now):
            return Verdict.REDELIVERED  # a re-delivery: first, whatever runs or came since
        running = self.running().get(command.slot)
        if running is not None:
            return Verdict.WAIT if running == command.fingerprint else Verdict.CONFLICT
        if last is None:
            return Verdict.EXECUTE
        same = last.fingerprint == command.fingerprint
        if last.status in TERMINAL and (last.command_id, last.replay_count) == (
            command.command_id,
            command.replay_count,
        ):
            return Verdict.REDELIVERED
        if last.status is S.IN_PROGRESS:
            if not same:
                return Verdict.CONFLICT
            return Verdict.EXECUTE if command.safe else Verdict.AMBIGUOUS
        if last.status in BLOCKING:
            if not same:
                return Verdict.CONFLICT
            if last.status is S.OUTCOME_UNKNOWN and command.override_unknown:
                return Verdict.EXECUTE
            return Verdict.DUPLICATE
        return Verdict.EXECUTE


def view(record: Entry | StateEvent | None) -> tuple[Any, ...] | None:
    """What a decision's entry tells the engine; a record and its entry view alike."""
    if record is None:
        return None
    return (
        record.status,
        record.command_id,
        record.replay_count,
        record.fingerprint,
        record.message_id,
        record.error,
        record.attempts,
        record.first_attempt_at,
        record.recorded_at,
    )


def ask(state: PartitionState, command: Command, now: float) -> Decision:
    return state.decide(
        instance_id=command.instance_id,
        key=command.key,
        command_id=command.command_id,
        replay_count=command.replay_count,
        fingerprint=command.fingerprint,
        now=now,
        override_unknown=command.override_unknown,
        safe_to_repeat=command.safe,
    )


class IdempotencyMachine(RuleBasedStateMachine):
    """One ``wawp.state`` partition: its owner's store, commands arriving, calls, outcomes,
    crashes (a new owner restores from the log) and graceful hand-overs, and time."""

    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.model = Model()
        self.store = PartitionState(MODEL_RETENTION)
        self.waiting: list[Command] = []
        self.commands: list[Command] = []
        self.by_record: dict[tuple[str, int], Command] = {}
        self.last_replay: dict[str, int] = {}

    # -- the engine, as ledger.py and execution.py drive the store ---------------------------

    def deliver(self, command: Command) -> None:
        self.by_record[(command.command_id, command.replay_count)] = command
        decision = ask(self.store, command, self.now)
        last = self.model.last_records(self.now).get(command.slot)
        assert decision.verdict is self.model.expected(command, last, self.now), (command, last)
        if decision.verdict in (Verdict.DUPLICATE, Verdict.AMBIGUOUS, Verdict.REDELIVERED):
            # A re-delivery is answered with its own outcome, anything else with the key's last.
            assert view(decision.entry) == view(self.model.own_outcome(command, self.now) or last)
        if decision.verdict is Verdict.WAIT:
            self.waiting.append(command)
        elif decision.verdict is Verdict.EXECUTE:
            self.check_may_call(command, last)
            self.store.begin(command.instance_id, command.key, command.fingerprint)
            self.model.jobs.append(Job(command))
        elif decision.verdict is Verdict.AMBIGUOUS:
            # Execution._answer_from_state: begin, outcome_unknown carrying the earlier attempts
            assert decision.entry is not None
            entry = decision.entry
            self.store.begin(command.instance_id, command.key, command.fingerprint)
            job = Job(command, entry.attempts, entry.first_attempt_at or entry.recorded_at)
            self.write(job, S.OUTCOME_UNKNOWN)
            self.end(command)

    def check_may_call(self, command: Command, last: StateEvent | None) -> None:
        """(a) never sent twice; (c) an earlier owner's unanswered call is never repeated for a
        non-safe action; and never while the key runs here."""
        assert command.slot not in self.model.running()
        if last is None:
            return
        if last.status in BLOCKING:
            assert last.status is S.OUTCOME_UNKNOWN, last
            assert command.override_unknown, last
            assert last.fingerprint == command.fingerprint, last
        if last.status is S.IN_PROGRESS:
            assert command.safe, last
            assert last.fingerprint == command.fingerprint, last

    def write(self, job: Job, status: StateStatus) -> None:
        command = job.command
        event = StateEvent(
            instance_id=command.instance_id,
            key=command.key,
            status=status,
            command_id=command.command_id,
            replay_count=command.replay_count,
            fingerprint=command.fingerprint,
            recorded_at=self.now,
            attempts=job.attempts,
            message_id=f"wamid.{len(self.model.log)}" if status is S.SUCCEEDED else None,
            error=("wawp_error", "failed", False) if status in (S.FAILED, S.EXPIRED) else None,
            first_attempt_at=job.first_at,
        )
        self.model.log.append(event)
        self.model.overrides[(command.command_id, command.replay_count)] = command.override_unknown
        self.store.apply(event, self.now)

    def end(self, command: Command) -> None:
        self.store.end(command.instance_id, command.key)
        waiters = [c for c in self.waiting if c.slot == command.slot]
        self.waiting = [c for c in self.waiting if c.slot != command.slot]
        for waiter in waiters:  # the first's outcome decides for them
            self.deliver(waiter)

    def restore(self) -> PartitionState:
        state = PartitionState(MODEL_RETENTION)
        for event in self.model.log:
            if event is None:
                state.released("owner")
            else:
                state.apply(event, self.now)
        return state

    def probes(self, last: dict[Slot, StateEvent]) -> list[Command]:
        """Every payload as a new command on every key, and for each key's last record its
        re-delivery and its replay with and without override."""
        probes = [
            Command("probe", instance_id, key, action, variant)
            for instance_id in INSTANCES
            for key in KEYS
            for action in ACTIONS
            for variant in range(len(VARIANTS))
        ]
        for event in last.values():
            command = self.by_record[(event.command_id, event.replay_count)]
            probes.append(command)
            for override in (False, True):
                probes.append(
                    replace(
                        command,
                        replay_count=command.replay_count + 1,
                        override_unknown=override,
                    )
                )
        return probes

    def pick_job(self, data: st.DataObject, calling: bool = False) -> Job:
        jobs = [job for job in self.model.jobs if job.calling or not calling]
        return data.draw(st.sampled_from(jobs))

    # -- commands arriving --------------------------------------------------------------------

    @rule(
        instance_id=st.sampled_from(INSTANCES),
        key=st.sampled_from(KEYS),
        action=st.sampled_from(tuple(ACTIONS)),
        variant=st.integers(0, len(VARIANTS) - 1),
    )
    def new_command(self, instance_id: str, key: str, action: str, variant: int) -> None:
        command = Command(f"c{len(self.commands)}", instance_id, key, action, variant)
        self.commands.append(command)
        self.last_replay[command.command_id] = 0
        self.deliver(command)

    @precondition(lambda self: self.commands)
    @rule(data=st.data())
    def redelivery(self, data: st.DataObject) -> None:
        self.deliver(data.draw(st.sampled_from(self.commands)))

    @precondition(lambda self: self.commands)
    @rule(data=st.data(), override_unknown=st.booleans())
    def replay(self, data: st.DataObject, override_unknown: bool) -> None:
        original = data.draw(st.sampled_from(self.commands))
        replay_count = self.last_replay[original.command_id] + 1
        self.last_replay[original.command_id] = replay_count
        command = replace(original, replay_count=replay_count, override_unknown=override_unknown)
        self.commands.append(command)
        self.deliver(command)

    # -- a job's calls and outcome -------------------------------------------------------------

    @precondition(lambda self: self.model.jobs)
    @rule(data=st.data())
    def call_starting(self, data: st.DataObject) -> None:
        job = self.pick_job(data)
        job.attempts += 1
        if job.first_at is None:
            job.first_at = self.now
        job.calling = True
        self.write(job, S.IN_PROGRESS)

    @precondition(lambda self: any(job.calling for job in self.model.jobs))
    @rule(data=st.data())
    def wawp_did_not_act(self, data: st.DataObject) -> None:
        job = self.pick_job(data, calling=True)
        job.calling = False
        self.write(job, S.NOT_SENT)

    @precondition(lambda self: self.model.jobs)
    @rule(data=st.data(), status=st.sampled_from(TERMINALS))
    def finish(self, data: st.DataObject, status: StateStatus) -> None:
        """The result is out; the terminal record only for a command that made calls. Without a
        call out, only a give-up outcome is possible."""
        job = self.pick_job(data)
        if not job.calling and status in BLOCKING:
            status = S.FAILED
        if job.first_at is not None:
            self.write(job, status)
        self.model.jobs.remove(job)
        self.end(job.command)

    @precondition(lambda self: self.model.jobs)
    @rule(data=st.data(), status=st.sampled_from(TERMINALS))
    def answered(self, data: st.DataObject, status: StateStatus) -> None:
        """A call and its answer in one step: in_progress, then the outcome."""
        job = self.pick_job(data)
        job.attempts += 1
        if job.first_at is None:
            job.first_at = self.now
        self.write(job, S.IN_PROGRESS)
        self.write(job, status)
        self.model.jobs.remove(job)
        self.end(job.command)

    @precondition(lambda self: self.model.jobs)
    @rule(data=st.data())
    def refused(self, data: st.DataObject) -> None:
        """A revoke before the call: not_sent for a call about to start, no terminal record."""
        job = self.pick_job(data)
        if job.calling:
            job.calling = False
            self.write(job, S.NOT_SENT)
        self.model.jobs.remove(job)
        self.end(job.command)

    # -- owners --------------------------------------------------------------------------------

    @rule()
    def crash(self) -> None:
        """The owner dies mid-work; a new one restores from the log. Unanswered calls of the old
        owner are now "in_progress from an earlier owner"."""
        new = self.restore()
        self.check_equivalent(self.store, new, skip=set(self.model.running()))
        self.store = new
        self.model.jobs.clear()
        self.waiting.clear()

    @precondition(lambda self: not self.model.jobs)
    @rule()
    def hand_over(self) -> None:
        """A graceful revoke: drained, ``released`` written, the next owner restores."""
        self.model.log.append(None)
        self.store.released("owner")
        new = self.restore()
        assert new.last_status is S.RELEASED
        self.check_equivalent(self.store, new, skip=set())
        self.store = new

    # -- time ----------------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([1.0, 5.0, 30.0, 99.0, 101.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def expire(self) -> None:
        stale = sum(
            1
            for _, _, entry in self.store.entries()
            if entry.recorded_at + MODEL_RETENTION < self.now
        )
        before = len(self.store)
        assert self.store.expire(self.now) == stale
        assert len(self.store) == before - stale

    # -- invariants ----------------------------------------------------------------------------

    def check_equivalent(self, old: PartitionState, new: PartitionState, skip: set[Slot]) -> None:
        """(b) a restored store decides as the store that wrote the records, off running keys."""
        last = self.model.last_records(self.now)
        for command in self.probes(last):
            if command.slot in skip:
                continue
            was, now = ask(old, command, self.now), ask(new, command, self.now)
            assert (was.verdict, view(was.entry)) == (now.verdict, view(now.entry)), command

    @invariant()
    def decides_as_the_model_and_a_restore(self) -> None:
        """The reference model's verdict for every probe; (b) a restore from the log now decides
        the same off running keys; (c) an earlier owner's in_progress is never EXECUTE for a
        non-safe action; (d) WAIT only for a key running here."""
        running = self.model.running()
        last = self.model.last_records(self.now)
        shadow = self.restore()
        for command in self.probes(last):
            decision = ask(self.store, command, self.now)
            event = last.get(command.slot)
            assert decision.verdict is self.model.expected(command, event, self.now), (
                command,
                event,
            )
            if decision.verdict is Verdict.WAIT:
                assert self.store.is_running(command.instance_id, command.key)
                assert command.slot in running
            if command.slot in running:
                continue
            if event is not None and event.status is S.IN_PROGRESS and not command.safe:
                assert decision.verdict is not Verdict.EXECUTE, (command, event)
            again = ask(shadow, command, self.now)
            assert (again.verdict, view(again.entry)) == (
                decision.verdict,
                view(decision.entry),
            ), command
        for instance_id in INSTANCES:
            for key in KEYS:
                assert self.store.is_running(instance_id, key) == ((instance_id, key) in running)

    @invariant()
    def never_sent_twice(self) -> None:
        """(a) over the whole log: after a blocking outcome, no call on that key within its
        retention unless it is an override_unknown replay of the same payload."""
        blocking: dict[Slot, StateEvent] = {}  # a key whose last record is a blocking outcome
        for event in self.model.log:
            if event is None:
                continue
            slot = (event.instance_id, event.key)
            if event.status is S.IN_PROGRESS:
                block = blocking.get(slot)
                if block is not None and block.recorded_at + MODEL_RETENTION >= event.recorded_at:
                    assert block.status is S.OUTCOME_UNKNOWN, (block, event)
                    assert self.model.overrides[(event.command_id, event.replay_count)], (
                        block,
                        event,
                    )
                    assert block.fingerprint == event.fingerprint, (block, event)
            if event.status in BLOCKING:
                blocking[slot] = event
            else:
                blocking.pop(slot, None)

    @invariant()
    def last_status_is_the_last_record(self) -> None:
        log = self.model.log
        if log:
            assert self.store.last_status is (S.RELEASED if log[-1] is None else log[-1].status)
        assert self.store.records == len(log)


IdempotencyMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=50, deadline=None
)
TestIdempotencyMachine = IdempotencyMachine.TestCase


# -- reads of the store ---------------------------------------------------------------------


class CountingKV(MemoryKV):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return super().get(key)


def _run(state: PartitionState, kv: CountingKV, *, at: float) -> int:
    kv.reads = 0
    state.decide(
        instance_id="inst-a",
        key="key-1",
        command_id="cmd-1",
        replay_count=0,
        fingerprint=FP,
        now=at,
    )
    state.begin("inst-a", "key-1", FP)
    state.apply(record(StateStatus.IN_PROGRESS, at=at), at)
    state.apply(record(StateStatus.FAILED, at=at + 1), at + 1)
    state.end("inst-a", "key-1")
    return kv.reads


def test_a_running_command_reads_its_key_once_and_stores_what_a_restore_would() -> None:
    kv = CountingKV()
    state = PartitionState(RETENTION, kv=kv)
    assert _run(state, kv, at=NOW) == 1
    assert _run(state, kv, at=NOW + 10) == 1  # the key exists now: still one read

    again = PartitionState(RETENTION)
    for at in (NOW, NOW + 10):
        again.apply(record(StateStatus.IN_PROGRESS, at=at), at)
        again.apply(record(StateStatus.FAILED, at=at + 1), at + 1)
    assert list(state.entries()) == list(again.entries())
    assert len(state) == len(again) == 1


def test_records_of_a_key_not_run_here_read_the_store_unless_written_lately() -> None:
    """A restore applies records of keys nobody runs: the first of a key looks it up, the next
    finds what was written last (bounded: older keys are looked up again)."""
    kv = CountingKV()
    state = PartitionState(RETENTION, kv=kv)
    state.apply(record(StateStatus.IN_PROGRESS), NOW)
    state.apply(record(StateStatus.FAILED, at=NOW + 1), NOW + 1)
    assert kv.reads == 1
    for n in range(5_000):  # more keys than the recent ones kept
        state.apply(record(StateStatus.FAILED, key=f"k{n}", at=NOW + 2), NOW + 2)
    kv.reads = 0
    state.apply(record(StateStatus.SUCCEEDED, at=NOW + 3), NOW + 3)
    assert kv.reads == 1
    assert next(e for _, k, e in state.entries() if k == "key-1").status is StateStatus.SUCCEEDED
