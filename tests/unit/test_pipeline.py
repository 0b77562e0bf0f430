"""process(): one command's Wawp call, its retries and what the answer means."""

from __future__ import annotations

import random
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes import DEFAULT_POLICY, FakeWawp, ManualClock, ok_reply
from strategies import wawp_errors
from wawp_gateway.core.contracts import DlqReason, ResultStatus
from wawp_gateway.core.errors import (
    WawpAuthError,
    WawpConnectError,
    WawpError,
    WawpMaybeProcessed,
    WawpQuotaExceeded,
    WawpRateLimited,
    WawpRejected,
    WawpServerError,
    WawpTimeout,
    WawpUnavailable,
)
from wawp_gateway.wawp.catalog import ACTIONS
from wawp_gateway.wawp.responses import WawpReply
from wawp_gateway.worker.intake import OutboundCommand
from wawp_gateway.worker.pipeline import Outcome, process
from wawp_gateway.worker.retry import RetryPolicy

T = TypeVar("T")
MID = "true_447441429009@c.us_3EB0"
POLICY = DEFAULT_POLICY


def _command(
    action: str = "sendText",
    *,
    not_after_s: float | None = None,
    clock: ManualClock | None = None,
    override_not_after: bool = False,
) -> OutboundCommand:
    start = (clock or ManualClock()).now()
    return OutboundCommand(
        id="cmd-1",
        idempotency_key="cmd-1",
        instance_id="ABC123DEF456",
        spec=ACTIONS[action],
        params={"chatId": "447441429009@c.us", "message": "hi"},
        correlation_id=None,
        reply_to=None,
        not_after=None if not_after_s is None else start + timedelta(seconds=not_after_s),
        created_at=None,
        replay_count=0,
        override_not_after=override_not_after,
    )


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never really suspends (ManualClock, FakeWawp) without a loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("process() suspended on something other than the fakes")


def _process(
    script: list[WawpReply | BaseException],
    *,
    action: str = "sendText",
    policy: RetryPolicy = POLICY,
    clock: ManualClock | None = None,
    **command: Any,
) -> tuple[Outcome, FakeWawp, ManualClock]:
    clock = clock or ManualClock()
    wawp = FakeWawp(script, clock=clock)
    outcome = _run(
        process(
            _command(action, clock=clock, **command),
            wawp,
            policy,
            clock,
            received_monotonic=clock.monotonic(),
            rng=random.Random(7),
        )
    )
    return outcome, wawp, clock


def test_success_on_the_first_try() -> None:
    """A 2xx on the first call: succeeded, one attempt, the message id, no wait."""
    outcome, wawp, clock = _process([ok_reply(MID)])
    assert outcome.status is ResultStatus.SUCCEEDED
    assert outcome.attempts == 1
    assert outcome.message_id == MID
    assert outcome.http_status == 200
    assert outcome.error is None
    assert outcome.dlq_reason is None
    assert outcome.first_attempt_at == outcome.last_attempt_at == clock.now()
    assert len(wawp.calls) == 1
    assert wawp.calls[0].instance_id == "ABC123DEF456"
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "error",
    [WawpUnavailable("503", http_status=503), WawpConnectError("refused"), WawpRateLimited("429")],
)
def test_not_processed_is_retried_then_succeeds(error: WawpError) -> None:
    """Wawp did not act: the same call again, after a backoff; attempts counts both calls."""
    outcome, wawp, clock = _process([error, ok_reply(MID)])
    assert outcome.status is ResultStatus.SUCCEEDED
    assert outcome.attempts == 2
    assert len(wawp.calls) == 2
    assert len(clock.sleeps) == 1
    assert outcome.first_attempt_at is not None
    assert outcome.last_attempt_at is not None
    assert outcome.last_attempt_at - outcome.first_attempt_at == timedelta(seconds=clock.sleeps[0])


def test_rate_limited_waits_at_least_retry_after() -> None:
    """429 with Retry-After: the next call is not made before it."""
    outcome, wawp, clock = _process([WawpRateLimited("429", retry_after_s=12.0), ok_reply()])
    assert outcome.status is ResultStatus.SUCCEEDED
    assert clock.sleeps[0] >= 12.0
    assert wawp.calls[1].at - wawp.calls[0].at >= timedelta(seconds=12)


def test_rate_limited_retry_after_is_capped() -> None:
    """A Retry-After above retry_after_max_s waits only the cap."""
    outcome, _, clock = _process([WawpRateLimited("429", retry_after_s=3_600.0), ok_reply()])
    assert outcome.status is ResultStatus.SUCCEEDED
    assert clock.sleeps == [POLICY.retry_after_max_s]


@pytest.mark.parametrize(
    "error", [WawpServerError("500", http_status=500), WawpTimeout("timed out after sending")]
)
def test_post_maybe_processed_is_outcome_unknown_and_never_resent(error: WawpError) -> None:
    """A POST that Wawp may have acted on ends outcome_unknown after exactly one call."""
    outcome, wawp, clock = _process([error, ok_reply()])
    assert outcome.status is ResultStatus.OUTCOME_UNKNOWN
    assert outcome.error is not None
    assert outcome.error.code == "maybe_sent"
    assert outcome.error.retryable is False
    assert outcome.dlq_reason is DlqReason.OUTCOME_UNKNOWN
    assert outcome.attempts == 1
    assert outcome.http_status == error.http_status
    assert len(wawp.calls) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("action", ["getSessionInfo", "reaction", "deleteSession"])
def test_idempotent_methods_are_retried_after_maybe_processed(action: str) -> None:
    """GET/PUT/DELETE are safe to repeat: a maybe-processed answer is retried."""
    outcome, wawp, _ = _process(
        [WawpServerError("502", http_status=502), ok_reply()], action=action
    )
    assert outcome.status is ResultStatus.SUCCEEDED
    assert len(wawp.calls) == 2


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (
            WawpRejected("Instance not found", code="invalid_instance", http_status=404),
            "invalid_instance",
            DlqReason.PERMANENT,
        ),
        (
            WawpRejected("Plan limit", code="quota_reached", http_status=403),
            "quota_reached",
            DlqReason.PERMANENT,
        ),
        (WawpRejected("Bad", http_status=400), "http_400", DlqReason.PERMANENT),
        (WawpQuotaExceeded("quota", http_status=200), "quota_exceeded", DlqReason.PERMANENT),
        (WawpAuthError("Invalid token", http_status=401), "invalid_access_token", DlqReason.AUTH),
    ],
)
def test_permanent_errors_fail_at_once(error: WawpError, code: str, reason: DlqReason) -> None:
    """Rejections fail after one call with Wawp's code; 401 is dead-lettered as auth."""
    outcome, wawp, clock = _process([error, ok_reply()])
    assert outcome.status is ResultStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.code == code
    assert outcome.error.message == error.message
    assert outcome.error.retryable is False
    assert outcome.dlq_reason is reason
    assert outcome.attempts == 1
    assert outcome.http_status == error.http_status
    assert len(wawp.calls) == 1
    assert clock.sleeps == []


def test_attempts_cap_fails_with_retries_exhausted() -> None:
    """Not-processed answers up to max_attempts: failed, last code, retryable, dlq exhausted."""
    outcome, wawp, clock = _process([WawpUnavailable("503", http_status=503)])
    assert outcome.status is ResultStatus.FAILED
    assert outcome.attempts == POLICY.max_attempts == len(wawp.calls)
    assert outcome.error is not None
    assert outcome.error.code == "http_503"
    assert outcome.error.retryable is True
    assert outcome.dlq_reason is DlqReason.RETRIES_EXHAUSTED
    assert outcome.http_status == 503
    assert len(clock.sleeps) == POLICY.max_attempts - 1


def test_maybe_processed_get_exhausts_retries_too() -> None:
    """A GET that keeps timing out also stops at the attempts cap."""
    outcome, wawp, _ = _process([WawpTimeout("timeout")], action="getSessionInfo")
    assert outcome.status is ResultStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.code == "timeout"
    assert outcome.dlq_reason is DlqReason.RETRIES_EXHAUSTED
    assert len(wawp.calls) == POLICY.max_attempts


def test_elapsed_cap_stops_retries_before_the_attempts_cap() -> None:
    """No call is planned past max_elapsed_s from receipt."""
    policy = RetryPolicy(
        max_attempts=100,
        max_elapsed_s=10.0,
        backoff_initial_s=2.0,
        backoff_max_s=30.0,
        retry_after_max_s=60.0,
    )
    outcome, wawp, clock = _process([WawpUnavailable("503", http_status=503)], policy=policy)
    assert outcome.status is ResultStatus.FAILED
    assert outcome.dlq_reason is DlqReason.RETRIES_EXHAUSTED
    assert 1 < len(wawp.calls) < 100
    assert sum(clock.sleeps) <= policy.max_elapsed_s


def test_retry_after_beyond_the_elapsed_cap_is_not_waited_for() -> None:
    """A 429 asking for longer than the remaining budget fails at once."""
    policy = RetryPolicy(5, 30.0, 0.5, 30.0, 600.0)
    outcome, wawp, clock = _process([WawpRateLimited("429", retry_after_s=120.0)], policy=policy)
    assert outcome.status is ResultStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.code == "http_429"
    assert len(wawp.calls) == 1
    assert clock.sleeps == []


def test_not_after_passed_before_the_first_call_is_expired() -> None:
    """A deadline already past: expired, no call, attempts 0."""
    outcome, wawp, _ = _process([ok_reply()], not_after_s=-1.0)
    assert outcome.status is ResultStatus.EXPIRED
    assert outcome.error is not None
    assert outcome.error.code == "not_after_passed"
    assert outcome.error.retryable is False
    assert outcome.dlq_reason is DlqReason.EXPIRED
    assert outcome.attempts == 0
    assert outcome.http_status is None
    assert outcome.first_attempt_at is None
    assert wawp.calls == []


def test_not_after_passing_during_backoff_is_expired_with_the_calls_made() -> None:
    """The deadline passes while waiting to retry: expired, attempts = calls already made."""
    outcome, wawp, _ = _process(
        [WawpRateLimited("429", retry_after_s=30.0), ok_reply()], not_after_s=10.0
    )
    assert outcome.status is ResultStatus.EXPIRED
    assert outcome.error is not None
    assert outcome.error.code == "not_after_passed"
    assert outcome.attempts == 1 == len(wawp.calls)
    assert outcome.http_status == 429
    assert outcome.first_attempt_at is not None


def test_override_not_after_ignores_the_deadline() -> None:
    """A replay with --ignore-deadline is sent even though not_after has passed."""
    outcome, wawp, _ = _process([ok_reply(MID)], not_after_s=-3_600.0, override_not_after=True)
    assert outcome.status is ResultStatus.SUCCEEDED
    assert len(wawp.calls) == 1


def test_non_message_action_success_carries_the_body() -> None:
    """A query's body is the result's response."""
    body = {"name": "ABC123DEF456", "status": "WORKING"}
    outcome, _, _ = _process([WawpReply(200, body, None)], action="getSessionInfo")
    assert outcome.status is ResultStatus.SUCCEEDED
    assert outcome.response == body
    assert outcome.message_id is None


_SCRIPT = st.lists(wawp_errors() | st.just(None), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    script=_SCRIPT,
    action=st.sampled_from(
        ["sendText", "sendImage", "getSessionInfo", "reaction", "deleteSession"]
    ),
    max_attempts=st.integers(1, 8),
    max_elapsed_s=st.floats(0.5, 600),
    seed=st.integers(0, 2**32),
)
def test_calls_never_exceed_max_attempts_and_a_post_is_never_resent_after_maybe(
    script: list[WawpError | None],
    action: str,
    max_attempts: int,
    max_elapsed_s: float,
    seed: int,
) -> None:
    """For any sequence of answers: at most max_attempts calls, and no POST after a 'maybe'."""
    policy = RetryPolicy(max_attempts, max_elapsed_s, 0.5, 30.0, 60.0)
    answers: list[WawpReply | BaseException] = [e if e is not None else ok_reply() for e in script]
    clock = ManualClock()
    wawp = FakeWawp(answers, clock=clock)
    outcome = _run(
        process(
            _command(action, clock=clock),
            wawp,
            policy,
            clock,
            received_monotonic=clock.monotonic(),
            rng=random.Random(seed),
        )
    )
    calls = len(wawp.calls)
    assert 1 <= calls <= max_attempts
    assert outcome.attempts == calls
    assert sum(clock.sleeps) <= max_elapsed_s
    answered = [answers[min(i, len(answers) - 1)] for i in range(calls)]
    if not ACTIONS[action].is_idempotent_method:
        maybe = [i for i, a in enumerate(answered) if isinstance(a, WawpMaybeProcessed)]
        if maybe:
            assert maybe[0] == calls - 1, "a POST was called again after a maybe-processed answer"
            assert outcome.status is ResultStatus.OUTCOME_UNKNOWN
    last = answered[-1]
    if isinstance(last, WawpReply):
        assert outcome.status is ResultStatus.SUCCEEDED
    else:
        assert outcome.status is not ResultStatus.SUCCEEDED
        assert outcome.dlq_reason is not None


def test_elapsed_is_counted_from_receipt_not_from_the_first_call() -> None:
    """A command that waited in the buffer has less retry budget left."""
    clock = ManualClock()
    wawp = FakeWawp([WawpUnavailable("503", http_status=503), ok_reply()], clock=clock)
    outcome = _run(
        process(
            _command(clock=clock),
            wawp,
            POLICY,
            clock,
            received_monotonic=clock.monotonic() - (POLICY.max_elapsed_s - 0.1),
            rng=random.Random(3),
        )
    )
    assert outcome.status is ResultStatus.FAILED
    assert outcome.dlq_reason is DlqReason.RETRIES_EXHAUSTED
    assert len(wawp.calls) == 1
