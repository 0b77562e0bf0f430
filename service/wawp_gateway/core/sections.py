"""The sections of the settings, one per environment prefix (``GATEWAY_KAFKA__*``, ...).

Field docstrings are the configuration reference (``docs/configuration.md`` is generated from
them). Validators that refuse a combination raise ``SettingError`` so the message names the
variable.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = [
    "EngineSettings",
    "HttpStack",
    "IdempotencySettings",
    "KafkaSettings",
    "LogSettings",
    "MetricsSettings",
    "ReconcileSettings",
    "RetrySettings",
    "SaslMechanism",
    "Section",
    "SecurityProtocol",
    "SettingError",
    "ShutdownSettings",
    "TopicsSettings",
    "TrackerSettings",
    "WawpSettings",
    "WebhookSettings",
    "ca_file_problem",
    "proxy_url_problem",
]

HttpStack = Literal["aiohttp", "httpx", "httptools"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class SettingError(ValueError):
    """A validator's refusal that names its environment variable (a model-level validator's
    error has no field location of its own, so the loader could not name the setting)."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(problem)
        self.setting = setting


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class KafkaSettings(Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    """Kafka bootstrap servers (comma-separated host:port)."""
    group_id: str = "wawp-gateway"
    """Consumer group of the workers."""
    group_instance_id: str | None = None
    """Static group membership: a stable name per process (e.g. the pod name) so a rolling
    restart within the session timeout does not rebalance the group."""
    client_id: str = "wawp-gateway"
    """Kafka client id (broker logs and quotas)."""
    session_timeout_ms: int = Field(45_000, gt=0)
    """Group session timeout; tests use 3000."""
    heartbeat_interval_ms: int = Field(3_000, gt=0)
    """Group heartbeat interval; tests use 500."""
    rebalance_timeout_ms: int = Field(60_000, gt=0)
    """Longest a rebalance waits for members; tests use 3000."""
    reply_to_timeout_s: float = Field(5.0, gt=0)
    """How long a publish to reply_to may take before the result goes to the results topic."""
    fetch_max_wait_ms: int = Field(50, ge=0)
    """Consumer fetch wait: latency on the embedded broker (docs/embedded-broker.md)."""
    request_timeout_ms: int = Field(30_000, gt=0)
    """Kafka request timeout of producers and admin calls."""
    commit_interval_ms: int = Field(1_000, gt=0)
    """How often completed offsets are committed."""
    linger_ms: int = Field(5, ge=0)
    """Producer batching delay."""
    max_batch_bytes: int = Field(262_144, gt=0)
    """Producer batch size per partition (aiokafka's 16 KiB default stalls senders under load)."""
    # Used by `topics create`; plan for the largest deployment, counts cannot grow later.
    partitions: int = Field(12, gt=0)
    """Partition count used by `topics create`; plan for the largest deployment."""
    replication_factor: int = Field(1, gt=0)
    """Replication factor used by `topics create` (3 in production)."""
    # Security: every Kafka client of every process is built with these (core/kafka.py).
    security_protocol: SecurityProtocol = "PLAINTEXT"
    """PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
    sasl_mechanism: SaslMechanism = "PLAIN"
    """PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with a SASL_* protocol)."""
    sasl_username: str | None = None
    """SASL user name (needed by the SASL_* protocols)."""
    sasl_password: SecretStr | None = None
    """SASL password (secret; needed by the SASL_* protocols)."""
    ssl_cafile: Path | None = None
    """PEM bundle that verifies the brokers' certificates (default: the system's CAs)."""
    ssl_certfile: Path | None = None
    """Client certificate (PEM) for mutual TLS; needs GATEWAY_KAFKA__SSL_KEYFILE."""
    ssl_keyfile: Path | None = None
    """Private key (PEM) of the client certificate; needs GATEWAY_KAFKA__SSL_CERTFILE."""
    ssl_check_hostname: bool = True
    """Verify the broker's host name against its certificate."""

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @model_validator(mode="after")
    def _security_is_complete(self) -> Self:
        if self.uses_sasl:
            password = self.sasl_password.get_secret_value() if self.sasl_password else ""
            for name, value in (("sasl_username", self.sasl_username), ("sasl_password", password)):
                if not value:
                    raise SettingError(
                        f"GATEWAY_KAFKA__{name.upper()}",
                        f"GATEWAY_KAFKA__SECURITY_PROTOCOL={self.security_protocol} needs "
                        f"GATEWAY_KAFKA__{name.upper()}",
                    )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            given, missing = (
                ("SSL_CERTFILE", "SSL_KEYFILE")
                if self.ssl_keyfile is None
                else ("SSL_KEYFILE", "SSL_CERTFILE")
            )
            raise SettingError(
                f"GATEWAY_KAFKA__{missing}",
                f"GATEWAY_KAFKA__{given} is set without GATEWAY_KAFKA__{missing}: mutual TLS "
                "needs both the client certificate and its key",
            )
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path: Path | None = getattr(self, name)
            if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
                raise SettingError(
                    f"GATEWAY_KAFKA__{name.upper()}", f"cannot read {name} {str(path)!r}"
                )
        return self

    @model_validator(mode="after")
    def _heartbeat_fits_session(self) -> Self:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise SettingError(
                "GATEWAY_KAFKA__HEARTBEAT_INTERVAL_MS",
                "heartbeat_interval_ms must be lower than session_timeout_ms",
            )
        return self


class ShutdownSettings(Section):
    grace_s: float = Field(30.0, ge=0)
    """Drain time on SIGTERM before in-flight work is cancelled."""


class TopicsSettings(Section):
    send: str = "wawp.send"
    """Input topic for message sends."""
    command: str = "wawp.command"
    """Input topic for every other action."""
    results: str = "wawp.results"
    """One result per command."""
    events: str = "wawp.events"
    """Wawp webhook bodies."""
    delivery: str = "wawp.delivery"
    """WhatsApp ack levels joined to commands."""
    dlq: str = "wawp.dlq"
    """Dead letters."""
    state: str = "wawp.state"
    """Idempotency changelog (same partition count as the input topics)."""
    instances: str = "wawp.instances"
    """Live instance registry (one partition, compacted)."""
    sessions: str = "wawp.sessions"
    """Last session status of each instance (compacted)."""

    def all(self) -> tuple[str, ...]:
        return (*self.partitioned(), *self.compacted())

    def partitioned(self) -> tuple[str, ...]:
        """The topics created with ``GATEWAY_KAFKA__PARTITIONS`` partitions."""
        return (
            self.send,
            self.command,
            self.results,
            self.events,
            self.delivery,
            self.dlq,
            self.state,
        )

    def compacted(self) -> tuple[str, ...]:
        """The keyed, last-value-wins topics: one partition, compacted where the broker
        compacts (docs/contract.md "Instance registry", "Session status")."""
        return (self.instances, self.sessions)


class WawpSettings(Section):
    base_url: str = "https://wawp.net/wp-json/awp/v1"
    """Wawp v1 API root."""
    v2_base_url: str = "https://api.wawp.net"
    """Root of the catalog's v2 paths, for actions without a v1 path."""
    access_token: SecretStr | None = None
    """Default account token (secret)."""
    timeout_s: float = Field(30.0, gt=0)
    """Total time of one HTTP call to Wawp."""
    connect_timeout_s: float = Field(5.0, gt=0)
    """Time to open a connection (a connect failure is never 'maybe sent')."""
    max_connections: int = Field(256, gt=0)
    """HTTP connection pool size of the process."""
    http_stack: HttpStack = "aiohttp"
    """HTTP client stack: aiohttp (default), httpx, or httptools (opt-in: least CPU per call, no
    proxy support; bench/README.md "HTTP stacks")."""
    proxy_url: SecretStr | None = None
    """`http://[user:password@]host:port`: every Wawp call goes through this proxy (HTTPS by
    CONNECT); a secret, since it may hold the proxy's credentials."""
    ca_file: Path | None = None
    """Extra PEM bundle trusted for the Wawp connection, besides the system's CAs
    (TLS-inspecting egress proxies, private test CAs)."""

    @model_validator(mode="after")
    def _urls_are_http(self) -> Self:
        for name in ("base_url", "v2_base_url"):
            value: str = getattr(self, name)
            if not value.startswith(("http://", "https://")):
                raise SettingError(
                    f"GATEWAY_WAWP__{name.upper()}", f"{name} must be an http(s) URL, got {value!r}"
                )
        return self

    @model_validator(mode="after")
    def _proxy_is_usable(self) -> Self:
        if self.proxy_url is None:
            return self
        problem = proxy_url_problem(self.proxy_url.get_secret_value())
        if problem is not None:
            raise SettingError("GATEWAY_WAWP__PROXY_URL", problem)
        if self.http_stack == "httptools":
            raise SettingError(
                "GATEWAY_WAWP__HTTP_STACK",
                "the httptools stack does not support a proxy: unset GATEWAY_WAWP__PROXY_URL "
                "or choose GATEWAY_WAWP__HTTP_STACK=aiohttp (the default) or httpx",
            )
        return self

    @model_validator(mode="after")
    def _ca_file_is_readable(self) -> Self:
        if self.ca_file is not None:
            problem = ca_file_problem(self.ca_file)
            if problem is not None:
                raise SettingError("GATEWAY_WAWP__CA_FILE", problem)
        return self


def proxy_url_problem(url: str) -> str | None:
    """What is wrong with a proxy URL, in words that never repeat its credentials; None if fine."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "proxy_url must look like http://[user:password@]host:port"
    if parts.scheme != "http":
        return "proxy_url must start with http:// (the proxy is reached in plain HTTP)"
    if not parts.hostname or port is None:
        return "proxy_url must name a host and a port: http://[user:password@]host:port"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "proxy_url takes no path, query or fragment: http://[user:password@]host:port"
    if parts.username is not None and parts.password is None:
        return "proxy_url has a user name without a password (user:password@)"
    return None


def ca_file_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable PEM bundle of CA certificates; None if it is."""
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except FileNotFoundError:
        return f"ca_file {path} does not exist"
    except PermissionError:
        return f"ca_file {path} cannot be read (permission denied)"
    except IsADirectoryError:
        return f"ca_file {path} is a directory, not a PEM file"
    except ssl.SSLError:
        return f"ca_file {path} holds no PEM certificate"
    return None


class RetrySettings(Section):
    max_attempts: int = Field(5, ge=1)
    """Most calls per command (first try included)."""
    max_elapsed_s: float = Field(300.0, gt=0)
    """Retries stop this long after the command was received."""
    backoff_initial_s: float = Field(0.5, ge=0)
    """First backoff; doubles per retry, with equal jitter."""
    backoff_max_s: float = Field(30.0, ge=0)
    """Longest backoff between two calls."""
    # Longest Retry-After the gateway honours; a longer one is capped (Wawp is undocumented here).
    retry_after_max_s: float = Field(60.0, ge=0)
    """Longest Retry-After honoured; longer ones are capped."""


class EngineSettings(Section):
    max_in_flight: int = Field(256, ge=1)
    """Wawp calls in flight at once in one worker (at most GATEWAY_WAWP__MAX_CONNECTIONS); a
    command waiting for its instance (rate limit, circuit, Retry-After, back-off) holds none."""
    max_in_flight_per_instance: int = Field(16, ge=1)
    """Commands of one instance processed at once: a slow instance cannot take every slot. Its
    session and auth actions have as many again of their own (held sends never keep them out)."""
    max_buffered_per_partition: int = Field(1000, ge=1)
    """Fetched commands waiting per partition; the partition is paused when it is full."""
    max_buffered_per_instance: int = Field(500, ge=1)
    """Fetched commands waiting per instance; a held instance's extra commands fail at once."""
    circuit_threshold: int = Field(5, ge=1)
    """Consecutive not-working answers that open an instance's circuit."""
    circuit_cooldown_s: float = Field(30.0, gt=0)
    """How long an open circuit holds an instance's sends before one trial command."""
    send_jitter_ms: float = Field(0.0, ge=0)
    """Random extra gap (0..this) after each send of an instance."""
    uvloop: bool = True
    """Run the worker on uvloop (measured faster; `false` for the standard asyncio loop)."""


class IdempotencySettings(Section):
    retention_s: float = Field(86_400.0, gt=0)
    """How long an idempotency record is kept (24 hours: a producer's retries and a same-day
    replay; longer costs disk and hand-over time, not memory)."""
    restore_timeout_s: float = Field(300.0, gt=0)
    """Longest restore of newly assigned partitions' state; past it the worker stops (it must
    not run commands without their records)."""
    max_keys_per_partition: int = Field(50_000_000, ge=1)
    """Disk bound of the store per partition: past it the oldest keys are forgotten first
    (counted), as if their retention had ended."""
    store_dir: str | None = None
    """Directory of the worker's on-disk idempotency store (one per worker process: give each
    pod a volume). Kept across restarts, its checkpoints spare a hand-over most of the state
    topic. Unset: a temporary directory, removed when the worker exits."""
    store_memory_mb: int = Field(16, ge=8)
    """Memory of the on-disk store (read cache and write buffers), for the whole process."""


class ReconcileSettings(Section):
    enabled: bool = False
    """Resolve outcome_unknown sends by looking the message up in the chat."""
    window_s: float = Field(60.0, gt=0)
    """How long after the first attempt a sent message may show up in its chat."""
    interval_s: float = Field(5.0, gt=0)
    """Pause between two lookups of the same command."""
    lookup_limit: int = Field(50, ge=1, le=1000)
    """Newest messages of the chat read per lookup."""


class MetricsSettings(Section):
    host: str = "0.0.0.0"
    """Address of /metrics, /healthz, /readyz of worker and tracker."""
    port: int = Field(9464, ge=0, le=65535)
    """Port of the same; 0 = a free port, logged as metrics.listening."""


class WebhookSettings(Section):
    host: str = "0.0.0.0"
    """Webhook receiver address."""
    port: int = Field(8080, ge=0, le=65535)
    """Webhook receiver port (serves its own /metrics too)."""
    secret: SecretStr | None = None
    """Shared secret expected in query `secret`."""
    hmac_key: SecretStr | None = None
    """Key of the X-Webhook-Hmac header (HMAC-SHA512 of the body)."""
    allow_unauthenticated: bool = False
    """Run the receiver with neither secret nor HMAC key."""
    max_body_bytes: int = Field(1_048_576, gt=0)
    """Largest webhook body (413 above)."""
    dedupe_window_s: float = Field(600.0, ge=0)
    """De-duplication window of webhook event ids."""
    dedupe_max_ids: int = Field(200_000, ge=1)
    """Most event ids the de-duplication window holds (about 220 bytes of memory each); past it
    the oldest are forgotten first (counted in gateway_webhook_dedupe_evicted_ids), as if their
    window had ended."""
    publish_timeout_s: float = Field(10.0, gt=0)
    """Longest wait for the broker's acknowledgement before answering 503."""
    linger_ms: int = Field(0, ge=0)
    """The receiver producer's batching delay (each request waits for its ack, so 0 is best)."""


class TrackerSettings(Section):
    ack_timeout_s: float = Field(300.0, gt=0)
    """Time to a DEVICE ack before an ack_timeout delivery record."""


class LogSettings(Section):
    format: Literal["auto", "json", "console"] = "auto"
    """json, console, or auto (console on a TTY)."""
    level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level logged."""
