"""The on-disk idempotency store: the same answers as in memory, checkpoints that survive a
reopen, one process per directory, and another topic's records never reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from wawp_gateway.core.contracts import StateStatus
from wawp_gateway.worker.state.entries import StateEvent
from wawp_gateway.worker.state.idempotency import PartitionState, Verdict, fingerprint
from wawp_gateway.worker.state.store import RocksKV, StoreLocked, open_store

NOW = 1_700_000_000.0
FP = fingerprint("inst-a", "sendText", {"chatId": "1@c.us", "text": "hi"})


def event(key: str, status: StateStatus, at: float = NOW, command_id: str = "cmd") -> StateEvent:
    return StateEvent(
        instance_id="inst-a",
        key=key,
        status=status,
        command_id=command_id,
        replay_count=0,
        fingerprint=FP,
        recorded_at=at,
        attempts=1,
        message_id="wamid" if status is StateStatus.SUCCEEDED else None,
        first_attempt_at=at,
    )


def verdict(state: PartitionState, key: str, command_id: str = "other") -> Verdict:
    return state.decide(
        instance_id="inst-a",
        key=key,
        command_id=command_id,
        replay_count=0,
        fingerprint=FP,
        now=NOW + 1,
    ).verdict


def test_a_checkpoint_survives_a_reopen_and_the_partitions_stay_apart(tmp_path: Path) -> None:
    store = open_store(str(tmp_path), 16, topic="wawp.state")
    first = PartitionState(3600, kv=store, partition=0)
    assert first.resume() is None
    first.apply(event("k1", StateStatus.IN_PROGRESS), NOW)
    first.apply(event("k1", StateStatus.SUCCEEDED), NOW)
    first.log_records = 2
    first.checkpoint(2)
    store.close()

    store = open_store(str(tmp_path), 16, topic="wawp.state")
    again = PartitionState(3600, kv=store, partition=0)
    neighbour = PartitionState(3600, kv=store, partition=1)
    assert again.resume() == 2
    assert neighbour.resume() is None
    assert (len(again), again.log_records, again.last_status) == (1, 2, StateStatus.SUCCEEDED)
    assert verdict(again, "k1") is Verdict.DUPLICATE
    assert verdict(again, "k1", command_id="cmd") is Verdict.REDELIVERED
    assert verdict(neighbour, "k1") is Verdict.EXECUTE
    store.close()


def test_records_without_a_checkpoint_are_dropped_on_resume(tmp_path: Path) -> None:
    """Written after the last checkpoint (a crash): the changelog is read from the start."""
    store = open_store(str(tmp_path), 16, topic="wawp.state")
    state = PartitionState(3600, kv=store, partition=3)
    state.apply(event("k1", StateStatus.SUCCEEDED), NOW)
    assert state.resume() is None
    assert (len(state), list(state.entries())) == (0, [])
    store.close()


def test_another_topic_starts_empty(tmp_path: Path) -> None:
    store = open_store(str(tmp_path), 16, topic="a.state")
    state = PartitionState(3600, kv=store)
    state.apply(event("k1", StateStatus.SUCCEEDED), NOW)
    state.checkpoint(1)
    store.close()
    store = open_store(str(tmp_path), 16, topic="b.state")
    assert PartitionState(3600, kv=store).resume() is None
    store.close()


def test_expiry_and_the_key_bound_on_disk(tmp_path: Path) -> None:
    store = open_store(None, 16, topic="wawp.state")
    state = PartitionState(100, max_keys=3, kv=store)
    for n in range(5):
        state.apply(event(f"k{n}", StateStatus.SUCCEEDED, at=NOW + n), NOW + n)
    assert (len(state), state.evicted) == (3, 2)
    assert sorted(key for _, key, _ in state.entries()) == ["k2", "k3", "k4"]
    assert state.expire(NOW + 103.5) == 2
    assert [key for _, key, _ in state.entries()] == ["k4"]
    path = store.path
    store.close()
    assert not path.exists()  # a temporary store goes with the process


def test_one_process_per_directory(tmp_path: Path) -> None:
    store = open_store(str(tmp_path), 16, topic="wawp.state")
    with pytest.raises(StoreLocked, match="GATEWAY_IDEMPOTENCY__STORE_DIR"):
        open_store(str(tmp_path), 16, topic="wawp.state")
    store.close()


def _running(state: PartitionState, key: str) -> None:
    assert verdict(state, key, command_id="cmd") is Verdict.EXECUTE
    state.begin("inst-a", key, FP)


def _reopened(tmp_path: Path, position: int) -> tuple[PartitionState, RocksKV]:
    store = open_store(str(tmp_path), 16, topic="wawp.state")
    state = PartitionState(3600, kv=store, partition=0)
    assert state.resume() == position
    return state, store


def test_a_running_commands_in_progress_is_in_the_checkpoint(tmp_path: Path) -> None:
    """A running key's in_progress is held back from the store until its next record; a
    checkpoint taken meanwhile still holds it, so a restart never calls that command again."""
    store = open_store(str(tmp_path), 16, topic="wawp.state")
    state = PartitionState(3600, kv=store, partition=0)
    state.resume()
    _running(state, "k1")
    state.apply(event("k1", StateStatus.IN_PROGRESS), NOW)
    state.checkpoint(1)
    store.close()

    again, store = _reopened(tmp_path, 1)
    assert (len(again), again.last_status) == (1, StateStatus.IN_PROGRESS)
    assert verdict(again, "k1", command_id="cmd") is Verdict.AMBIGUOUS
    store.close()


def test_a_command_that_ends_on_its_in_progress_leaves_it_stored(tmp_path: Path) -> None:
    store = open_store(str(tmp_path), 16, topic="wawp.state")
    state = PartitionState(3600, kv=store, partition=0)
    state.resume()
    _running(state, "k1")
    state.apply(event("k1", StateStatus.IN_PROGRESS), NOW)
    state.end("inst-a", "k1")

    assert verdict(state, "k1", command_id="cmd") is Verdict.AMBIGUOUS
    store.close()


def test_a_reused_key_keeps_its_earlier_outcome_when_in_progress_was_held_back(
    tmp_path: Path,
) -> None:
    """The held-back in_progress changes nothing a later reader sees: the earlier command of a
    reused key is still answered from its own outcome after the new one finished."""
    store = open_store(str(tmp_path), 16, topic="wawp.state")
    state = PartitionState(3600, kv=store, partition=0)
    state.resume()
    state.apply(event("k1", StateStatus.FAILED, command_id="first"), NOW)
    _running(state, "k1")
    state.apply(event("k1", StateStatus.IN_PROGRESS, at=NOW + 0.5), NOW + 0.5)
    state.apply(event("k1", StateStatus.SUCCEEDED, at=NOW + 0.6), NOW + 0.6)
    state.end("inst-a", "k1")
    state.checkpoint(3)
    store.close()

    again, store = _reopened(tmp_path, 3)
    assert len(again) == 1
    assert verdict(again, "k1", command_id="first") is Verdict.REDELIVERED
    assert verdict(again, "k1", command_id="cmd") is Verdict.REDELIVERED
    assert verdict(again, "k1") is Verdict.DUPLICATE
    store.close()
