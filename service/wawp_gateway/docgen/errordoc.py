"""``docs/errors.md``: every error code and dead-letter reason, rendered from ``core.codes``."""

from __future__ import annotations

from wawp_gateway.core.codes import (
    DLQ_REASONS,
    GATEWAY_CODES,
    HTTP_STATUS_CODE,
    WAWP_CODES,
    CodeDoc,
)

__all__ = ["render_error_reference"]

_HEADER = """# Error reference

Generated from `service/wawp_gateway/core/codes.py` by `wawp-gateway generate`; do not edit by
hand. What each result status means, and when a command ends with which: [the
contract](contract.md) ("Results", "Outcomes", "Dead letters").

A result that is not `succeeded` or `duplicate` carries `error.code`, `error.message` and
`error.retryable` ("replaying this command may succeed"), and the command is also written to
`wawp.dlq` with headers `dlq-reason`, `dlq-error-code` and `dlq-error-message`. `wawp-gateway dlq
ls --reason R` lists the letters of one reason; [dlq.md](dlq.md) shows how to replay them.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code_table(docs: tuple[CodeDoc, ...]) -> list[str]:
    lines = [
        "| `error.code` | status | `dlq-reason` | retryable | meaning | what to do |",
        "|---|---|---|---|---|---|",
    ]
    for doc in docs:
        statuses = ", ".join(f"`{s}`" for s in doc.statuses) or "(no result)"
        reason = f"`{doc.dlq_reason}`" if doc.dlq_reason else "see meaning"
        lines.append(
            f"| `{doc.code}` | {statuses} | {reason} | {'yes' if doc.retryable else 'no'} "
            f"| {_cell(doc.meaning)} | {_cell(doc.remedy)} |"
        )
    return lines


def render_error_reference() -> str:
    parts = [_HEADER, "## The gateway's own codes", ""]
    parts += _code_table(GATEWAY_CODES)
    parts += [
        "",
        "## Wawp's codes",
        "",
        "Wawp's own error codes pass through unchanged; these are the ones the gateway acts on "
        "(any other code Wawp sends is treated by its HTTP status, as `http_<status>` below).",
        "",
    ]
    parts += _code_table(WAWP_CODES)
    parts += ["", "## Wawp errors without a code", ""]
    parts += _code_table((HTTP_STATUS_CODE,))
    parts += [
        "",
        "## Dead-letter reasons",
        "",
        "| `dlq-reason` | meaning | does a replay succeed? |",
        "|---|---|---|",
    ]
    parts += [
        f"| `{doc.reason}` | {_cell(doc.meaning)} | {_cell(doc.replay)} |" for doc in DLQ_REASONS
    ]
    return "\n".join(parts) + "\n"
