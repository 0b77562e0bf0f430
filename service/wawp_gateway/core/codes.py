"""Every ``error.code`` and ``dlq-reason`` the gateway produces, with what each means.

The codes themselves are fixed by the contract (docs/contract.md "Error codes" and "Dead
letters"); this module is where they are described once, for the generated error reference
(``docs/errors.md``) and the result schema's enumeration. A test collects the codes the package
emits and compares them with these tables, so a new code cannot ship undocumented.

Three families reach ``error.code``: the gateway's own codes (``GATEWAY_CODES``), Wawp's own
codes passed through unchanged (``WAWP_CODES`` lists the ones the gateway acts on; any other
string Wawp sends passes through too), and ``http_<status>`` for a Wawp error without a code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from wawp_gateway.core.contracts import DlqReason, ErrorCode, ResultStatus

__all__ = [
    "DLQ_REASONS",
    "GATEWAY_CODES",
    "HTTP_STATUS_CODE",
    "WAWP_CODES",
    "CodeDoc",
    "ReasonDoc",
    "gateway_code_values",
]


@dataclass(frozen=True, slots=True)
class CodeDoc:
    """One code: the result it appears on, its dead letter, and what an operator does about it.

    ``retryable`` is the result's ``error.retryable``: "replaying this command may succeed".
    """

    code: str
    statuses: tuple[ResultStatus, ...]
    dlq_reason: DlqReason | None
    retryable: bool
    meaning: str
    remedy: str


_R = ResultStatus
_D = DlqReason

GATEWAY_CODES: Final[tuple[CodeDoc, ...]] = (
    CodeDoc(
        ErrorCode.INVALID_COMMAND,
        (_R.REJECTED,),
        _D.VALIDATION,
        False,
        "The command envelope is wrong: `schema` missing or not `wawp.command.v1`, a field of "
        "the wrong type or too long, `not_after` / `created_at` not RFC 3339 with a timezone.",
        "Fix the producer; the message names the field. Publish the fixed command (same "
        "idempotency key is fine: nothing was recorded).",
    ),
    CodeDoc(
        ErrorCode.UNKNOWN_ACTION,
        (_R.REJECTED,),
        _D.VALIDATION,
        False,
        "`action` is not one of the catalog's actions (`wawp-gateway actions` lists them).",
        "Fix the action name in the producer.",
    ),
    CodeDoc(
        ErrorCode.INVALID_PARAMS,
        (_R.REJECTED,),
        _D.VALIDATION,
        False,
        "A param is missing, unknown, of the wrong type or breaks a rule (chat id shape, media "
        "type, text length, poll options, URL scheme); also `instance_id` or `access_token` "
        "inside params, and params over 64 KiB.",
        "Fix the params; the message names the param and the rule.",
    ),
    CodeDoc(
        ErrorCode.UNKNOWN_INSTANCE,
        (_R.REJECTED, _R.FAILED),
        _D.UNKNOWN_INSTANCE,
        False,
        "`instance_id` is neither in the instances file nor in the registry (or was removed "
        "before the command's call; `failed` when it had made calls and would retry), and "
        "unlisted instances are not allowed.",
        "`wawp-gateway instances put ID` (or add it to the instances file, or fix the id), "
        "then `dlq replay` the letters.",
    ),
    CodeDoc(
        ErrorCode.IDEMPOTENCY_CONFLICT,
        (_R.REJECTED,),
        _D.IDEMPOTENCY_CONFLICT,
        False,
        "The idempotency key is held by a different command (other action or params) that "
        "succeeded, ended `outcome_unknown`, or is still in flight.",
        "Use a new idempotency key for a different command; a key names one command.",
    ),
    CodeDoc(
        ErrorCode.NOT_AFTER_PASSED,
        (_R.EXPIRED,),
        _D.EXPIRED,
        False,
        "`not_after` passed before the command could be sent (waiting for its turn, a rate "
        "token, an open circuit or a retry).",
        "Usually nothing: the deadline did its job. `dlq replay --ignore-deadline` sends it "
        "anyway.",
    ),
    CodeDoc(
        ErrorCode.MAYBE_SENT,
        (_R.OUTCOME_UNKNOWN,),
        _D.OUTCOME_UNKNOWN,
        False,
        "A POST may have reached Wawp (timeout or disconnect after sending, a 5xx, a crash or a "
        "revoke mid-call) and reconciliation, where enabled, could not confirm it. Never resent "
        "blindly: Wawp has no idempotency key.",
        "Check the chat (or Wawp's dashboard). If the message is not there, `dlq replay "
        "--include-unknown`.",
    ),
    CodeDoc(
        ErrorCode.INSTANCE_UNAVAILABLE,
        (_R.FAILED,),
        _D.RETRIES_EXHAUSTED,
        True,
        "The instance was held (its session status not `WORKING`, circuit open after "
        "failures, a long `Retry-After`) past `GATEWAY_RETRY__MAX_ELAPSED_S`, or its buffer "
        "was full while held.",
        "Repair the instance's session (scan the QR code, restart it), then `dlq replay`.",
    ),
    CodeDoc(
        ErrorCode.CONNECT_ERROR,
        (_R.FAILED,),
        _D.RETRIES_EXHAUSTED,
        True,
        "No connection to Wawp (refused, DNS, TLS, connect or pool timeout): nothing was sent. "
        "Retried; this is the last error once the retries ran out.",
        "Check the egress path to Wawp (`GATEWAY_WAWP__BASE_URL`, DNS, firewall), then "
        "`dlq replay`.",
    ),
    CodeDoc(
        ErrorCode.TIMEOUT,
        (_R.FAILED,),
        _D.RETRIES_EXHAUSTED,
        True,
        "A GET, PUT or DELETE got no full answer within `GATEWAY_WAWP__TIMEOUT_S` (or the "
        "connection dropped after sending), on every try. A POST in that case is "
        "`outcome_unknown` (`maybe_sent`) instead.",
        "Check Wawp's status and latency, then `dlq replay`.",
    ),
    CodeDoc(
        ErrorCode.QUOTA_EXCEEDED,
        (_R.FAILED,),
        _D.PERMANENT,
        False,
        "Wawp answered 2xx with its monthly-quota text and no message id: nothing was sent.",
        "Raise the plan's quota or wait for the next month, then `dlq replay`.",
    ),
    CodeDoc(
        ErrorCode.INTERNAL_ERROR,
        (_R.FAILED,),
        _D.INTERNAL,
        False,
        "A bug in the gateway while handling the command (the log line `message.failed` has "
        "the traceback). If a call was in flight the result is `outcome_unknown` instead.",
        "Report it with the log line; `dlq replay` once fixed.",
    ),
    CodeDoc(
        ErrorCode.UNDECODABLE,
        (),
        _D.UNDECODABLE,
        False,
        "Dead letters only (`dlq-error-code`): the record is not JSON, not an object, or has "
        "no usable `id`, so no result can name it.",
        "Fix the producer; the record's bytes are in the dead letter as they came.",
    ),
)

WAWP_CODES: Final[tuple[CodeDoc, ...]] = (
    CodeDoc(
        "invalid_access_token",
        (_R.FAILED,),
        _D.AUTH,
        False,
        "Wawp refused the token (also any 401 without a code).",
        "Fix `GATEWAY_WAWP__ACCESS_TOKEN` or the instance's token, restart, `dlq replay`.",
    ),
    CodeDoc(
        "invalid_instance",
        (_R.FAILED,),
        _D.PERMANENT,
        False,
        "Wawp does not know the instance id (deleted, or a typo in the configuration).",
        "Fix the instance id in the configuration.",
    ),
    CodeDoc(
        "quota_reached",
        (_R.FAILED,),
        _D.PERMANENT,
        False,
        "The plan's limit (for example sessions per account) is reached.",
        "Change the plan or free a session, then `dlq replay`.",
    ),
    CodeDoc(
        "session_not_working",
        (_R.FAILED,),
        _D.PERMANENT,
        False,
        "The instance's WhatsApp session is not connected; the instance is held at once "
        "(its circuit opens) until a `WORKING` status arrives or a trial after the cool-down "
        "succeeds.",
        "Repair the session (`startSession`, scan the QR code), then `dlq replay`.",
    ),
    CodeDoc(
        "proxy_error",
        (_R.FAILED,),
        _D.RETRIES_EXHAUSTED,
        True,
        "Wawp could not reach its engine: not processed, retried; last error after the "
        "retries ran out.",
        "Wait for Wawp to recover, then `dlq replay`.",
    ),
    CodeDoc(
        "wawp_upstream_error",
        (_R.FAILED, _R.OUTCOME_UNKNOWN),
        _D.RETRIES_EXHAUSTED,
        True,
        "Wawp's engine failed: it may have acted. GET/PUT/DELETE are retried (this code after "
        "the retries ran out); a POST ends `outcome_unknown` (`maybe_sent`).",
        "Wait for Wawp to recover, then `dlq replay`.",
    ),
    CodeDoc(
        "server_not_found",
        (_R.FAILED, _R.OUTCOME_UNKNOWN),
        _D.RETRIES_EXHAUSTED,
        True,
        "The instance is not mapped to a running engine server: treated like "
        "`wawp_upstream_error`.",
        "Restart the instance's session in Wawp, then `dlq replay`.",
    ),
)

HTTP_STATUS_CODE: Final = CodeDoc(
    "http_<status>",
    (_R.FAILED, _R.OUTCOME_UNKNOWN),
    None,
    False,
    "A Wawp error answer without a code string, named by its status: `http_400`, `http_403`, "
    "`http_404` and other 4xx fail at once (DLQ `permanent`, not retryable); `http_429`, "
    "`http_503` and 5xx/3xx of GET/PUT/DELETE are retried and appear once the retries ran out "
    "(DLQ `retries_exhausted`, retryable); a 5xx or 3xx of a POST is `outcome_unknown` "
    "(`maybe_sent`).",
    "Read `error.message` (Wawp's text) and the dead letter's `dlq-error-message`.",
)


@dataclass(frozen=True, slots=True)
class ReasonDoc:
    reason: DlqReason
    meaning: str
    replay: str


DLQ_REASONS: Final[tuple[ReasonDoc, ...]] = (
    ReasonDoc(
        _D.VALIDATION,
        "A bad command: `invalid_command`, `unknown_action` or `invalid_params`.",
        "Replaying the same bytes fails again; fix the producer.",
    ),
    ReasonDoc(
        _D.UNKNOWN_INSTANCE,
        "The instance is not configured (file or registry), or was removed before the call.",
        "Succeeds once the instance is configured (`instances put`).",
    ),
    ReasonDoc(
        _D.AUTH,
        "Wawp refused the token (401, `invalid_access_token`).",
        "Succeeds once the token is fixed.",
    ),
    ReasonDoc(
        _D.PERMANENT,
        "Wawp refused the command (403, 404, other 4xx, the 2xx quota text).",
        "Succeeds only if what Wawp objected to changed (quota, plan, session).",
    ),
    ReasonDoc(
        _D.RETRIES_EXHAUSTED,
        "Retryable failures until `GATEWAY_RETRY__MAX_ATTEMPTS` calls or "
        "`GATEWAY_RETRY__MAX_ELAPSED_S`; `dlq-error-code` is the last error's code.",
        "Usually succeeds once Wawp or the instance recovered.",
    ),
    ReasonDoc(
        _D.EXPIRED,
        "`not_after` passed before the command could be sent.",
        "Only with `dlq replay --ignore-deadline`.",
    ),
    ReasonDoc(
        _D.OUTCOME_UNKNOWN,
        "The command may have been sent (`maybe_sent`).",
        "Only with `dlq replay --include-unknown`, after checking that it was not sent.",
    ),
    ReasonDoc(
        _D.IDEMPOTENCY_CONFLICT,
        "The idempotency key belongs to a different command.",
        "Fails again while the key blocks; use a new key.",
    ),
    ReasonDoc(
        _D.INTERNAL,
        "A bug in the gateway (`internal_error`).",
        "Succeeds once the bug is fixed.",
    ),
    ReasonDoc(
        _D.UNDECODABLE,
        "Not JSON, not an object, or no usable `id`.",
        "Fails again; the bytes are for the producer's owners to read.",
    ),
)


def gateway_code_values() -> tuple[str, ...]:
    """The codes a result's ``error.code`` may hold that the gateway itself names."""
    return tuple(doc.code for doc in GATEWAY_CODES if doc.statuses)
