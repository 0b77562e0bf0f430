"""configure_logging: the structlog chain. Tokens are dropped and phone numbers masked in every
event, whatever module emits it; third-party loggers that print URLs are kept quiet."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import MutableMapping
from types import NoneType
from typing import Any

import structlog

from wawp_gateway.core.sections import LogSettings

__all__ = ["configure_logging", "scrub_event"]

_SECRET_KEYS = re.compile(r"token|secret|password|hmac|authorization", re.IGNORECASE)
# One pass over a text finds both: a secret in a query string (group 1 names it), or 7-15 digits
# standing alone or in a chat or message id (``true_<number>@c.us_<id>``), but not inside a hex
# id, a UUID or a dashed name (``gw-12345678``): those are not phone numbers, and masking them
# made command ids and topic names unreadable in the logs. Also the credentials of a URL
# (``http://user:password@proxy:3128``, group 4): the egress proxy's URL holds them.
_SCRUB = re.compile(
    r"(access_token|secret)=[^&\s]+"
    r"|(?<![A-Za-z0-9-])(\+?\d{2})\d{3,11}(\d{2})(?![A-Za-z0-9-])"
    r"|(://)[^/\s:@]*:[^/\s@]*@"
)
# Written by the chain itself (TimeStamper, add_log_level): nothing to scrub in them.
_OWN_KEYS = frozenset({"timestamp", "level"})
# These log full request URLs (with the token in the query) at INFO.
_URL_LOGGERS = ("httpx", "httpcore", "uvicorn.access", "aiohttp.access")


def _masked(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return f"{match.group(1)}=***"
    if match.group(4) is not None:
        return "://***@"
    return f"{match.group(2)}****{match.group(3)}"


def _scrub_text(text: str) -> str:
    return _SCRUB.sub(_masked, text)


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    """Field names are few and repeat on every line: the answer is cached."""
    return _SECRET_KEYS.search(key) is not None


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {k: "***" if _is_secret_key(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def scrub_event(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: no tokens, no phone numbers, in any field. It runs on every log line
    (one per command at least), so the common case is kept cheap: cached key checks, one regex
    pass per text, numbers and the chain's own fields left alone."""
    for key, value in event.items():
        if _is_secret_key(key):
            event[key] = "***"
        elif key not in _OWN_KEYS and not isinstance(value, int | float | NoneType):
            event[key] = _scrub(value)
    return event


# aiokafka lines the gateway says better itself. Each failed bootstrap connection is logged
# before aiokafka raises: the gateway reports that failure once, with its cause
# (``kafka.tls_failed``, ``kafka.auth_failed``, or a configuration error). SASL PLAIN without TLS
# is warned about on every connection: ``check-config`` warns about it once.
_AIOKAFKA_REPEATS = (
    ("aiokafka", "Unable connect to"),
    ("aiokafka.conn", "Sending username and password in the clear"),
)


def _without_bootstrap_failures(record: logging.LogRecord) -> bool:
    message = str(record.msg)
    return not any(
        record.name == name and message.startswith(start) for name, start in _AIOKAFKA_REPEATS
    )


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
    handler.addFilter(_without_bootstrap_failures)
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
