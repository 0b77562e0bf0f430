"""The reconciliation rule, against scripted chat listings: same chat, fromMe, same text, in
the window; exactly one match decides."""

from __future__ import annotations

from typing import Any

import pytest

from fakes import FakeWawp, ManualClock
from wawp_gateway.core.contracts import DlqReason, ErrorInfo, ResultStatus
from wawp_gateway.core.errors import WawpServerError
from wawp_gateway.wawp.catalog import ACTIONS
from wawp_gateway.wawp.responses import WawpReply
from wawp_gateway.worker.intake import OutboundCommand
from wawp_gateway.worker.pipeline import Outcome
from wawp_gateway.worker.state.reconcile import ReconcileRule, matching_text, reconcile

CHAT = "447441429009@c.us"
RULE = ReconcileRule(window_s=30, interval_s=5, limit=50)
UNKNOWN = Outcome(
    status=ResultStatus.OUTCOME_UNKNOWN,
    attempts=1,
    http_status=504,
    error=ErrorInfo(code="maybe_sent", message="Wawp may have acted on it", retryable=False),
    dlq_reason=DlqReason.OUTCOME_UNKNOWN,
)


def _command(action: str = "sendText", **params: Any) -> OutboundCommand:
    return OutboundCommand(
        id="cmd-1",
        idempotency_key="cmd-1",
        instance_id="ABC123DEF456",
        spec=ACTIONS[action],
        params={"chatId": CHAT, **params},
        correlation_id=None,
        reply_to=None,
        not_after=None,
        created_at=None,
        replay_count=0,
    )


def _listed(body: str, at: float, *, from_me: bool = True, short: str = "3EB0AA") -> Any:
    return {
        "id": {"fromMe": from_me, "_serialized": f"true_{CHAT}_{short}"},
        "body": body,
        "timestamp": int(at),
        "fromMe": from_me,
    }


async def _reconcile(
    listings: list[Any], command: OutboundCommand | None = None, turns: bool = True
) -> tuple[Outcome, FakeWawp]:
    clock = ManualClock()
    first = clock.now().timestamp()
    script: list[Any] = [
        item if isinstance(item, BaseException) else WawpReply(200, item(first), None)
        for item in listings
    ]
    wawp = FakeWawp(script, clock)

    async def turn(_give_up_at: float) -> bool:
        return turns

    outcome = await reconcile(
        command or _command(message="your receipt"),
        UNKNOWN,
        first_attempt_at=first,
        wawp=wawp,
        clock=clock,
        rule=RULE,
        turn=turn,
    )
    return outcome, wawp


async def test_one_match_succeeds_with_its_message_id() -> None:
    outcome, wawp = await _reconcile(
        [lambda t: [_listed("other", t + 1, short="B"), _listed("your receipt", t + 1)]]
    )
    assert outcome.status is ResultStatus.SUCCEEDED
    assert outcome.message_id == f"true_{CHAT}_3EB0AA"
    assert outcome.error is None
    assert outcome.dlq_reason is None
    assert outcome.attempts == 1  # lookups are not attempts
    assert wawp.calls[0].action == "chatMessages"
    assert wawp.calls[0].params["chatId"] == CHAT


async def test_a_late_message_is_found_on_a_later_lookup() -> None:
    outcome, wawp = await _reconcile([lambda t: [], lambda t: [_listed("your receipt", t + 6)]])
    assert outcome.status is ResultStatus.SUCCEEDED
    assert len(wawp.calls) == 2


@pytest.mark.parametrize(
    "listing",
    [
        lambda t: [_listed("your receipt", t + 1, from_me=False)],  # not ours
        lambda t: [_listed("your receipt!", t + 1)],  # other text
        lambda t: [_listed("your receipt", t - 3600)],  # before the first attempt
        lambda t: [_listed("your receipt", t + 3600)],  # long after the window
        lambda t: {"unexpected": "shape"},
    ],
)
async def test_no_match_in_the_window_stays_unknown(listing: Any) -> None:
    outcome, wawp = await _reconcile([listing])
    assert outcome.status is ResultStatus.OUTCOME_UNKNOWN
    assert outcome.dlq_reason is DlqReason.OUTCOME_UNKNOWN
    assert outcome.error is not None
    assert "not found in the chat" in outcome.error.message
    assert len(wawp.calls) == 1 + RULE.window_s // RULE.interval_s  # one lookup per interval


async def test_two_matches_stay_unknown() -> None:
    outcome, _ = await _reconcile(
        [lambda t: [_listed("your receipt", t + 1), _listed("your receipt", t + 2, short="B")]]
    )
    assert outcome.status is ResultStatus.OUTCOME_UNKNOWN
    assert outcome.error is not None
    assert "2 matching messages" in outcome.error.message


async def test_failed_lookups_are_tried_again_within_the_window() -> None:
    outcome, wawp = await _reconcile(
        [WawpServerError("boom", http_status=500), lambda t: [_listed("your receipt", t)]]
    )
    assert outcome.status is ResultStatus.SUCCEEDED
    assert len(wawp.calls) == 2


async def test_no_rate_turn_means_no_lookup() -> None:
    outcome, wawp = await _reconcile([lambda t: []], turns=False)
    assert outcome.status is ResultStatus.OUTCOME_UNKNOWN
    assert wawp.calls == []


def test_what_can_be_recognized_in_a_chat() -> None:
    assert matching_text(_command(message="hi")) == (CHAT, "hi")
    assert matching_text(_command("sendImage", caption="look")) == (CHAT, "look")
    assert matching_text(_command("sendImage")) is None  # no caption: nothing to match
    assert matching_text(_command("sendPoll", poll={"name": "q"})) is None
