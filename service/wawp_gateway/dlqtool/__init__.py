"""``wawp-gateway dlq``: list, show and replay the dead letters of ``wawp.dlq``.

Pure modules: ``records`` (``DlqRecord``, one dead letter as read, and ``Filters``), ``plan``
(``plan_replay``: which records go back, which are skipped and why) and ``render`` (text and
JSON). ``io`` does the Kafka I/O: ``read_dlq`` reads every partition up to the high watermark its
first fetch reported (the embedded broker's ``end_offsets`` is wrong after multi-record batches,
docs/embedded-broker.md), ``read_one`` reads a single record, and ``publish`` replays a plan
through a token bucket with acks=all.

Replay follows docs/contract.md "Idempotency and replay": each record's value goes to its
``dlq-original-topic`` (or ``--to-topic``), keyed by instance, with ``dlq-replay-count`` one above
the record's. The worker executes failed commands anew; a second replay of the same records
repeats the same count, so the worker answers those from its state without sending anything.
"""

from __future__ import annotations

from wawp_gateway.dlqtool.io import Progress, publish, read_dlq, read_one
from wawp_gateway.dlqtool.plan import (
    DEFAULT_MAX_REPLAYS,
    DEFAULT_RATE,
    Replay,
    ReplayOptions,
    ReplayPlan,
    Skip,
    plan_replay,
    replay_burst,
    replay_headers,
)
from wawp_gateway.dlqtool.records import DlqRecord, Filters, parse_moment, parse_where, select
from wawp_gateway.dlqtool.render import (
    ReplayReport,
    format_plan,
    format_record,
    format_report,
    format_table,
    list_json,
    record_json,
)

__all__ = [
    "DEFAULT_MAX_REPLAYS",
    "DEFAULT_RATE",
    "DlqRecord",
    "Filters",
    "Progress",
    "Replay",
    "ReplayOptions",
    "ReplayPlan",
    "ReplayReport",
    "Skip",
    "format_plan",
    "format_record",
    "format_report",
    "format_table",
    "list_json",
    "parse_moment",
    "parse_where",
    "plan_replay",
    "publish",
    "read_dlq",
    "read_one",
    "record_json",
    "replay_burst",
    "replay_headers",
    "select",
]
