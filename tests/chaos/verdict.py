"""What a chaos run proved, from the results topic and the sandbox's own request log.

Pure: it takes what was published, what came out and what the sandbox received, and names every
broken promise; the test asserts there is none and prints the summary either way.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wawp_gateway.sandbox import RequestRecord

from .fleet import Kill
from .harness import RESULT_STATUSES, ChaosCommand, SeenResult, parse_text

# A mid-call command was sent and never answered to its worker: it may only end unknown, or
# succeeded when reconciliation found the message (never by sending it again).
_MID_CALL_OUTCOMES = frozenset({"outcome_unknown", "succeeded"})
_EXAMPLES = 5
# A request the victim had written before the kill reaches the sandbox's handler within this time
# (measured: under 0.1 s); later ones on the same port are a new connection that reuses the port.
_LATE_S = 1.0


def final_status(results: Sequence[SeenResult]) -> str:
    """The status a consumer keeps: of the highest replay_count, the first that is not a
    duplicate repeat (else the status the duplicate repeats)."""
    top = max(r.replay_count for r in results)
    latest = [r for r in results if r.replay_count == top]
    for result in latest:
        if result.status != "duplicate":
            return result.status
    return latest[0].original_status or "duplicate"


@dataclass(frozen=True, slots=True)
class Sent:
    """One sendText the sandbox received, as far as the run is concerned."""

    arrival: int
    at: float
    command_id: str
    chat_id: str
    seq: int
    status: int | None
    client_port: int | None


def sends_of(records: Iterable[RequestRecord]) -> tuple[list[Sent], int]:
    """The chaos sends in the request log, and how many other requests it holds."""
    sends, others = [], 0
    for record in records:
        query = dict(record.query)
        parsed = parse_text(query.get("message", "")) if record.action == "sendText" else None
        if parsed is None:
            others += 1
            continue
        port = record.client[1] if record.client is not None else None
        chat_id = query.get("chatId", "?")
        sends.append(
            Sent(record.arrival, record.at, parsed[0], chat_id, parsed[1], record.status, port)
        )
    return sends, others


@dataclass
class Verdict:
    commands: int
    kills: list[Kill]
    max_in_flight: int
    finals: Counter[str] = field(default_factory=Counter)
    result_records: int = 0
    duplicates_seen: int = 0
    missing: list[str] = field(default_factory=list)
    bad_status: list[str] = field(default_factory=list)
    conflicting: list[str] = field(default_factory=list)
    repeated: int = 0  # commands with more than one result that is not a duplicate repeat
    answered_twice: int = 0  # commands with more than one result record of any status
    ever_unknown: int = 0
    sends: int = 0
    other_requests: int = 0
    double_sent: dict[str, int] = field(default_factory=dict)
    chats: int = 0
    order_broken: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    succeeded_unsent: list[str] = field(default_factory=list)
    caught: dict[str, str] = field(default_factory=dict)  # command id -> its final status
    caught_held: int = 0
    caught_late: int = 0
    unknown_unsent: int = 0  # outcome_unknown, and the sandbox never saw it
    dlq_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def unknown(self) -> int:
        return self.finals["outcome_unknown"]

    @property
    def unknown_bound(self) -> int:
        return self.max_in_flight * len(self.kills)

    @property
    def mid_call_kills(self) -> int:
        return sum(k.mid_call for k in self.kills)

    def problems(self, planned_kills: int) -> list[str]:
        found = []
        if self.missing:
            found.append(
                f"(a) {len(self.missing)} command(s) without a result: {self.missing[:_EXAMPLES]}"
            )
        if self.bad_status:
            found.append(f"(a) results with an unknown status: {self.bad_status[:_EXAMPLES]}")
        if self.double_sent:
            examples = dict(list(self.double_sent.items())[:_EXAMPLES])
            found.append(
                f"(b) {len(self.double_sent)} command(s) sent to Wawp more than once: {examples}"
            )
        if self.answered_twice > self.unknown_bound:
            # One result per command across graceful stops and rebalances: only a kill between a
            # result's acknowledgement and its terminal record may answer a command again.
            found.append(
                f"(e) {self.answered_twice} command(s) with more than one result > in-flight"
                f" bound {self.max_in_flight} x {len(self.kills)} kills = {self.unknown_bound}"
            )
        if self.unknown > self.unknown_bound:
            found.append(
                f"(c) {self.unknown} outcome_unknown > in-flight bound {self.max_in_flight}"
                f" x {len(self.kills)} kills = {self.unknown_bound}"
            )
        wrong = {c: s for c, s in self.caught.items() if s not in _MID_CALL_OUTCOMES}
        if wrong:
            examples = dict(list(wrong.items())[:_EXAMPLES])
            found.append(f"(c) {len(wrong)} command(s) caught mid-call ended otherwise: {examples}")
        if self.order_broken:
            examples = dict(list(self.order_broken.items())[:_EXAMPLES])
            found.append(
                f"(d) per-chat order broken in {len(self.order_broken)} chat(s)"
                f" (seq received after a higher or equal one): {examples}"
            )
        if self.succeeded_unsent:
            found.append(
                f"{len(self.succeeded_unsent)} command(s) succeeded but never reached the sandbox:"
                f" {self.succeeded_unsent[:_EXAMPLES]}"
            )
        if len(self.kills) < planned_kills:
            found.append(f"only {len(self.kills)} of {planned_kills} kills happened")
        if 2 * self.mid_call_kills < len(self.kills):
            found.append(f"only {self.mid_call_kills} of {len(self.kills)} kills were mid-call")
        return found

    def summary_lines(self) -> list[str]:
        by_status = ", ".join(f"{s} {n}" for s, n in sorted(self.finals.items())) or "none"
        dlq = ", ".join(f"{r} {n}" for r, n in sorted(self.dlq_reasons.items())) or "none"
        return [
            f"commands             {self.commands} over {self.chats} chats",
            f"kills (kill -9)      {len(self.kills)}, mid-call {self.mid_call_kills}"
            f" (requests held at the kill: {sum(len(k.held) for k in self.kills)})",
            f"results by status    {by_status}  (final, per command)",
            f"result records       {self.result_records} ({self.duplicates_seen} duplicate repeats;"
            f" {self.repeated} command(s) with a second outcome, {len(self.conflicting)} of them"
            f" different; {self.answered_twice} answered more than once)",
            f"missing results      {len(self.missing)}",
            f"sandbox requests     {self.sends} chaos sends, {self.other_requests} other",
            f"double sends         {len(self.double_sent)} command(s),"
            f" {sum(self.double_sent.values()) - len(self.double_sent)} extra request(s)",
            f"per-chat order       {len(self.order_broken)} chat(s) out of order",
            f"outcome_unknown      {self.unknown} final, {self.ever_unknown} ever"
            f" (bound {self.max_in_flight} x {len(self.kills)} = {self.unknown_bound});"
            f" {self.unknown_unsent} of them never reached the sandbox",
            f"caught mid-call      {len(self.caught)} ({self.caught_held} held at a kill,"
            f" {self.caught_late} read by the sandbox after it):"
            f" {dict(Counter(self.caught.values()))}",
            f"dlq records          {dlq}",
        ]


def _read_after(kill: Kill, sends: Sequence[Sent]) -> set[str]:
    """Commands the victim had sent that the sandbox read only after the kill (they were in its
    socket buffer): the first request on each of the victim's connections, soon after."""
    first: dict[int, Sent] = {}
    for sent in sends:
        if (
            sent.arrival > kill.arrived
            and sent.client_port in kill.ports
            and sent.at <= kill.wall_at + _LATE_S
        ):
            first.setdefault(sent.client_port, sent)
    return {s.command_id for s in first.values()}


def judge(
    commands: Sequence[ChaosCommand],
    results: dict[str, list[SeenResult]],
    requests: Iterable[RequestRecord],
    kills: list[Kill],
    max_in_flight: int,
    dlq_reasons: Counter[str],
) -> Verdict:
    verdict = Verdict(len(commands), kills, max_in_flight, dlq_reasons=dlq_reasons)
    ours = {c.command_id for c in commands}
    verdict.chats = len({c.chat_id for c in commands})
    for command_id, seen in results.items():
        verdict.result_records += len(seen)
        verdict.answered_twice += len(seen) > 1
        verdict.duplicates_seen += sum(r.status == "duplicate" for r in seen)
        verdict.bad_status += [r.status for r in seen if r.status not in RESULT_STATUSES]
        verdict.finals[final_status(seen)] += 1
        outcomes = [r.status for r in seen if r.status != "duplicate"]
        verdict.ever_unknown += "outcome_unknown" in outcomes
        verdict.repeated += len(outcomes) > 1
        if len(set(outcomes)) > 1:
            verdict.conflicting.append(command_id)
    verdict.missing = sorted(ours - results.keys())

    sends, verdict.other_requests = sends_of(requests)
    verdict.sends = len(sends)
    per_command = Counter(s.command_id for s in sends)
    verdict.double_sent = {c: n for c, n in sorted(per_command.items()) if n > 1}
    by_chat: dict[str, list[Sent]] = defaultdict(list)
    for sent in sorted(sends, key=lambda s: s.arrival):
        by_chat[sent.chat_id].append(sent)
    for chat_id, chat_sends in sorted(by_chat.items()):
        seqs = [s.seq for s in chat_sends]
        if backwards := [(a, b) for a, b in itertools.pairwise(seqs) if b <= a]:
            verdict.order_broken[chat_id] = backwards
    verdict.succeeded_unsent = sorted(
        c
        for c, seen in results.items()
        if final_status(seen) == "succeeded" and c not in per_command
    )
    by_arrival = {s.arrival: s.command_id for s in sends}
    for kill in kills:
        held = {by_arrival[h.arrival] for h in kill.held if h.arrival in by_arrival}
        late = _read_after(kill, sends)
        verdict.caught_held += len(held)
        verdict.caught_late += len(late - held)
        for command_id in held | late:
            seen = results.get(command_id)
            verdict.caught[command_id] = final_status(seen) if seen else "no result"
    verdict.unknown_unsent = sum(
        1
        for c, seen in results.items()
        if final_status(seen) == "outcome_unknown" and c not in per_command
    )
    return verdict


def keep_record(
    path: Path,
    requests: Iterable[RequestRecord],
    results: dict[str, list[SeenResult]],
    kills: list[Kill],
    timeline: list[str],
) -> Path:
    """Everything the verdict was drawn from, as JSON, for a look after a failed run."""
    record = {
        "timeline": timeline,
        "kills": [
            {
                **dataclasses.asdict(k),
                "held": [h.to_json() for h in k.held],
                "ports": sorted(k.ports),
            }
            for k in kills
        ],
        "results": {c: [dataclasses.asdict(r) for r in seen] for c, seen in results.items()},
        "requests": [r.to_json() for r in requests],
    }
    path.write_text(json.dumps(record))
    return path
