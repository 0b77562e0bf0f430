"""configure_logging: the structlog chain. Tokens are dropped and phone numbers masked in every
event, whatever module emits it; third-party loggers that print URLs are kept quiet."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from wawp_gateway.config import LogSettings

__all__ = ["configure_logging", "scrub_event"]

_SECRET_KEYS = re.compile(r"token|secret|password|hmac|authorization", re.IGNORECASE)
_TOKEN_IN_TEXT = re.compile(r"(access_token|secret)=[^&\s]+")
# 7-15 digits standing alone or in a chat or message id (``true_<number>@c.us_<id>``), but not
# inside a hex id, a UUID or a dashed name (``gw-12345678``): those are not phone numbers, and
# masking them made command ids and topic names unreadable in the logs.
_PHONE = re.compile(r"(?<![A-Za-z0-9-])(\+?\d{2})\d{3,11}(\d{2})(?![A-Za-z0-9-])")
# These log full request URLs (with the token in the query) at INFO.
_URL_LOGGERS = ("httpx", "httpcore", "uvicorn.access", "aiohttp.access")


def _scrub_text(text: str) -> str:
    text = _TOKEN_IN_TEXT.sub(r"\1=***", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {k: "***" if _SECRET_KEYS.search(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def scrub_event(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: no tokens, no phone numbers, in any field."""
    for key in list(event):
        if _SECRET_KEYS.search(key):
            event[key] = "***"
        else:
            event[key] = _scrub(event[key])
    return event


def configure_logging(settings: LogSettings) -> None:
    level = getattr(logging, settings.level.upper())
    json_output = settings.format == "json" or (
        settings.format == "auto" and not sys.stderr.isatty()
    )
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info if json_output else structlog.dev.set_exc_info,
            scrub_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                scrub_event,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.INFO))
    for name in _URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
