"""The gateway's error tree.

Classification travels with the type: ``retryable`` says whether *the gateway* may try the same
call again, ``maybe_processed`` whether Wawp may have acted on it (docs/contract.md "Outcomes").

    GatewayError
    ├── ConfigError                      a setting is wrong; the process refuses to start
    ├── KafkaRefused                     the brokers refuse this process; it exits (code 3)
    │   ├── KafkaAuthFailed              SASL login refused            event kafka.auth_failed
    │   └── KafkaTlsFailed               TLS not established/verified  event kafka.tls_failed
    ├── CommandRejected                  never sent: bad command, params or instance
    ├── CallRefused                      control flow: this worker may start no call for it
    └── WawpError                        anything a Wawp call ended with
        ├── WawpNotProcessed             Wawp did not act: safe to retry       (retryable)
        │   ├── WawpConnectError         refused, DNS, TLS, pool: never sent   connect_error
        │   ├── WawpRateLimited          429, carries retry_after_s
        │   └── WawpUnavailable          503, proxy_error
        ├── WawpMaybeProcessed           Wawp may have acted: retry GET/PUT/DELETE, never a POST
        │   ├── WawpTimeout              timeout or disconnect after sending   timeout
        │   └── WawpServerError          500/502/504, other 5xx and 3xx, wawp_upstream_error,
        │                                server_not_found
        └── WawpRejected                 4xx other than 429: permanent
            ├── WawpAuthError            401 (dlq reason ``auth``)
            └── WawpQuotaExceeded        2xx quota text without a message id

Messages never contain URLs, query strings or tokens: every error is built from safe parts.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CallRefused",
    "CommandRejected",
    "ConfigError",
    "GatewayError",
    "KafkaAuthFailed",
    "KafkaRefused",
    "KafkaTlsFailed",
    "WawpAuthError",
    "WawpConnectError",
    "WawpError",
    "WawpMaybeProcessed",
    "WawpNotProcessed",
    "WawpQuotaExceeded",
    "WawpRateLimited",
    "WawpRejected",
    "WawpServerError",
    "WawpTimeout",
    "WawpUnavailable",
]


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    retryable: ClassVar[bool] = False


class ConfigError(GatewayError):
    """A setting is missing or wrong; ``setting`` names it as an environment variable."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class KafkaRefused(GatewayError):
    """The brokers refused this process's connections: retrying cannot help, so it stops
    (docs/security.md). ``event`` is the log event that reports it; ``setting`` names the
    variable to look at; ``problem`` never contains a password."""

    event: ClassVar[str] = "kafka.refused"

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class KafkaAuthFailed(KafkaRefused):
    event = "kafka.auth_failed"


class KafkaTlsFailed(KafkaRefused):
    event = "kafka.tls_failed"


class CommandRejected(GatewayError):
    """A command that is never sent: its ``code`` goes into the result, ``dlq_reason`` the DLQ."""

    def __init__(self, code: str, message: str, *, dlq_reason: str = "validation") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.dlq_reason = dlq_reason


class CallRefused(GatewayError):
    """This worker may no longer start a call for the command: its partition was revoked or the
    worker is shutting down. The command is left unfinished for the partition's next owner."""


class WawpError(GatewayError):
    """A Wawp call did not succeed. ``http_status`` is None when no answer came back."""

    maybe_processed: ClassVar[bool] = False
    default_code: ClassVar[str] = "wawp_error"
    dlq_reason: ClassVar[str] = "permanent"

    def __init__(
        self, message: str, *, code: str | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.http_status = http_status


class WawpNotProcessed(WawpError):
    retryable = True
    dlq_reason = "retries_exhausted"


class WawpConnectError(WawpNotProcessed):
    default_code = "connect_error"


class WawpRateLimited(WawpNotProcessed):
    default_code = "http_429"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = 429,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.retry_after_s = retry_after_s


class WawpUnavailable(WawpNotProcessed):
    default_code = "http_503"


class WawpMaybeProcessed(WawpError):
    """Retried only for idempotent methods; a POST ends ``outcome_unknown``."""

    retryable = True
    maybe_processed = True
    dlq_reason = "retries_exhausted"


class WawpTimeout(WawpMaybeProcessed):
    default_code = "timeout"


class WawpServerError(WawpMaybeProcessed):
    default_code = "http_500"


class WawpRejected(WawpError):
    default_code = "http_400"


class WawpAuthError(WawpRejected):
    default_code = "invalid_access_token"
    dlq_reason = "auth"


class WawpQuotaExceeded(WawpRejected):
    default_code = "quota_exceeded"
