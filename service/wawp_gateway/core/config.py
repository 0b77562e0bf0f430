"""Settings: environment variables ``GATEWAY_*`` (nested with ``__``) plus the instances TOML file.

The names of the contract's configuration table (docs/contract.md "Configuration") are fixed:
other suites start the gateway with exactly those variables. ``load_settings`` turns any
validation failure into a ``ConfigError`` naming the variable, so a misconfigured gateway refuses
to start with a useful message.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wawp_gateway.core.errors import ConfigError

__all__ = [
    "ClientSettings",
    "EngineSettings",
    "HttpStack",
    "InstanceConfig",
    "InstancesConfig",
    "KafkaSettings",
    "RateLimitConfig",
    "Settings",
    "TopicsSettings",
    "WawpSettings",
    "load_client_settings",
    "load_settings",
]

HttpStack = Literal["aiohttp", "httptools", "httpx", "httpx-aiohttp"]
_ENV_PREFIX = "GATEWAY_"
_S = TypeVar("_S", bound=BaseSettings)


class _SettingError(ValueError):
    """A validator's refusal that names its environment variable (a model-level validator's
    error has no field location of its own, so ``_load`` could not name the setting)."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(problem)
        self.setting = setting


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class KafkaSettings(_Section):
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

    @model_validator(mode="after")
    def _heartbeat_fits_session(self) -> Self:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise _SettingError(
                "GATEWAY_KAFKA__HEARTBEAT_INTERVAL_MS",
                "heartbeat_interval_ms must be lower than session_timeout_ms",
            )
        return self


class ShutdownSettings(_Section):
    grace_s: float = Field(30.0, ge=0)
    """Drain time on SIGTERM before in-flight work is cancelled."""


class TopicsSettings(_Section):
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

    def all(self) -> tuple[str, ...]:
        return (
            self.send,
            self.command,
            self.results,
            self.events,
            self.delivery,
            self.dlq,
            self.state,
        )


class WawpSettings(_Section):
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
    http_stack: HttpStack = "httptools"
    """HTTP client stack: httptools (default: HTTP/1.1 on asyncio protocols, measured ~3x less
    CPU per call than aiohttp), aiohttp, httpx-aiohttp or httpx."""

    @model_validator(mode="after")
    def _urls_are_http(self) -> Self:
        for name in ("base_url", "v2_base_url"):
            value: str = getattr(self, name)
            if not value.startswith(("http://", "https://")):
                raise _SettingError(
                    f"GATEWAY_WAWP__{name.upper()}", f"{name} must be an http(s) URL, got {value!r}"
                )
        return self


class RetrySettings(_Section):
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


class EngineSettings(_Section):
    max_in_flight: int = Field(256, ge=1)
    """Wawp calls in flight at once in one worker (at most GATEWAY_WAWP__MAX_CONNECTIONS); a
    command waiting for its instance (rate limit, circuit, Retry-After, back-off) holds none."""
    max_in_flight_per_instance: int = Field(16, ge=1)
    """Commands of one instance processed at once: a slow instance cannot take every slot."""
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


class IdempotencySettings(_Section):
    retention_s: float = Field(604_800.0, gt=0)
    """How long an idempotency record is kept."""
    restore_timeout_s: float = Field(300.0, gt=0)
    """Longest restore of newly assigned partitions' state; past it the worker stops (it must
    not run commands without their records)."""
    max_keys_per_partition: int = Field(1_000_000, ge=1)
    """Memory bound of the store: past it the least recently updated keys are forgotten first
    (logged and counted), as if their retention had ended."""


class ReconcileSettings(_Section):
    enabled: bool = False
    """Resolve outcome_unknown sends by looking the message up in the chat."""
    window_s: float = Field(60.0, gt=0)
    """How long after the first attempt a sent message may show up in its chat."""
    interval_s: float = Field(5.0, gt=0)
    """Pause between two lookups of the same command."""
    lookup_limit: int = Field(50, ge=1, le=1000)
    """Newest messages of the chat read per lookup."""


class MetricsSettings(_Section):
    host: str = "0.0.0.0"
    """Address of /metrics, /healthz, /readyz of worker and tracker."""
    port: int = Field(9464, ge=0, le=65535)
    """Port of the same; 0 = a free port, logged as metrics.listening."""


class WebhookSettings(_Section):
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
    publish_timeout_s: float = Field(10.0, gt=0)
    """Longest wait for the broker's acknowledgement before answering 503."""
    linger_ms: int = Field(0, ge=0)
    """The receiver producer's batching delay (each request waits for its ack, so 0 is best)."""


class TrackerSettings(_Section):
    ack_timeout_s: float = Field(300.0, gt=0)
    """Time to a DEVICE ack before an ack_timeout delivery record."""


class LogSettings(_Section):
    format: Literal["auto", "json", "console"] = "auto"
    """json, console, or auto (console on a TTY)."""
    level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level logged."""


class RateLimitConfig(_Section):
    rate_per_minute: float = Field(60.0, gt=0)
    """Calls per minute of one instance."""
    burst: int = Field(5, ge=1)
    """Calls an idle instance may make at once."""


class InstanceConfig(_Section):
    rate_per_minute: float | None = Field(None, gt=0)
    burst: int | None = Field(None, ge=1)
    access_token: SecretStr | None = None


class InstancesConfig(_Section):
    """The instances file: ``[defaults]`` limits plus ``[instances.<ID>]`` overrides."""

    defaults: RateLimitConfig = RateLimitConfig()
    instances: dict[str, InstanceConfig] = Field(default_factory=dict)

    @classmethod
    def from_toml(cls, path: Path) -> InstancesConfig:
        with path.open("rb") as fh:
            return cls.model_validate(tomllib.load(fh))

    def limits_for(self, instance_id: str) -> RateLimitConfig:
        own = self.instances.get(instance_id)
        if own is None:
            return self.defaults
        return RateLimitConfig(
            rate_per_minute=own.rate_per_minute or self.defaults.rate_per_minute,
            burst=own.burst or self.defaults.burst,
        )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
        use_attribute_docstrings=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    shutdown: ShutdownSettings = ShutdownSettings()
    topics: TopicsSettings = TopicsSettings()
    wawp: WawpSettings = WawpSettings()
    retry: RetrySettings = RetrySettings()
    engine: EngineSettings = EngineSettings()
    idempotency: IdempotencySettings = IdempotencySettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    metrics: MetricsSettings = MetricsSettings()
    webhook: WebhookSettings = WebhookSettings()
    tracker: TrackerSettings = TrackerSettings()
    log: LogSettings = LogSettings()
    instances_file: Path | None = None
    """Instances TOML: [defaults] limits, [instances.<ID>] overrides and tokens."""
    allow_unlisted_instances: bool = False
    """Accept instances absent from the file (default limits, default token)."""
    # Filled from `instances_file` when that is set; tests may pass it directly.
    instances: InstancesConfig = InstancesConfig()

    @model_validator(mode="before")
    @classmethod
    def _read_instances_file(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("instances_file") and "instances" not in data:
            path = Path(str(data["instances_file"]))
            try:
                loaded = InstancesConfig.from_toml(path)
            except OSError as exc:
                raise _SettingError(
                    "GATEWAY_INSTANCES_FILE", f"cannot read instances file {path}: {exc.strerror}"
                ) from None
            except tomllib.TOMLDecodeError as exc:
                raise _SettingError(
                    "GATEWAY_INSTANCES_FILE", f"instances file {path} is not valid TOML: {exc}"
                ) from None
            except ValidationError as exc:
                first = exc.errors(include_input=False, include_url=False)[0]
                where = ".".join(str(part) for part in first["loc"])
                raise _SettingError(
                    "GATEWAY_INSTANCES_FILE", f"instances file {path}: {where}: {first['msg']}"
                ) from None
            return {**data, "instances": loaded}
        return data

    @model_validator(mode="after")
    def _instances_are_usable(self) -> Self:
        if not self.instances.instances and not self.allow_unlisted_instances:
            raise _SettingError(
                "GATEWAY_INSTANCES_FILE",
                "no instance configured: list instances in GATEWAY_INSTANCES_FILE "
                "or set GATEWAY_ALLOW_UNLISTED_INSTANCES=true",
            )
        for instance_id, cfg in self.instances.instances.items():
            if cfg.access_token is None and self.wawp.access_token is None:
                raise _SettingError(
                    "GATEWAY_WAWP__ACCESS_TOKEN",
                    f"instance {instance_id} has no access_token and "
                    "GATEWAY_WAWP__ACCESS_TOKEN is not set",
                )
        if self.allow_unlisted_instances and self.wawp.access_token is None:
            raise _SettingError(
                "GATEWAY_WAWP__ACCESS_TOKEN",
                "GATEWAY_ALLOW_UNLISTED_INSTANCES needs a default token "
                "in GATEWAY_WAWP__ACCESS_TOKEN",
            )
        if self.engine.max_in_flight > self.wawp.max_connections:
            # A call that waits for a pooled connection after taking its rate token could go
            # out together with the next one: keep every in-flight call its own connection.
            raise _SettingError(
                "GATEWAY_ENGINE__MAX_IN_FLIGHT",
                f"must be at most GATEWAY_WAWP__MAX_CONNECTIONS ({self.wawp.max_connections})",
            )
        return self

    def limits_for(self, instance_id: str) -> tuple[float, int]:
        limits = self.instances.limits_for(instance_id)
        return limits.rate_per_minute, limits.burst

    def token_for(self, instance_id: str) -> SecretStr | None:
        """The instance's own token, else the default; None when the instance is not allowed."""
        own = self.instances.instances.get(instance_id)
        if own is not None:
            return own.access_token or self.wawp.access_token
        return self.wawp.access_token if self.allow_unlisted_instances else None

    def is_known_instance(self, instance_id: str) -> bool:
        return instance_id in self.instances.instances or self.allow_unlisted_instances


class ClientSettings(BaseSettings):
    """What producer-side commands (``send``, ``topics create``) need: no instances, no tokens."""

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX, env_nested_delimiter="__", extra="ignore", frozen=True
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicsSettings = TopicsSettings()
    idempotency: IdempotencySettings = IdempotencySettings()  # sizes wawp.state's retention


class ReceiverSettings(BaseSettings):
    """What ``wawp-gateway webhook`` needs: no instances, no Wawp tokens (it routes by the
    instance the event names)."""

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX, env_nested_delimiter="__", extra="ignore", frozen=True
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicsSettings = TopicsSettings()
    webhook: WebhookSettings = WebhookSettings()
    log: LogSettings = LogSettings()


class TrackerProcessSettings(BaseSettings):
    """What ``wawp-gateway tracker`` needs: no instances, no Wawp tokens."""

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX, env_nested_delimiter="__", extra="ignore", frozen=True
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicsSettings = TopicsSettings()
    metrics: MetricsSettings = MetricsSettings()
    tracker: TrackerSettings = TrackerSettings()
    log: LogSettings = LogSettings()


def _env_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if parts and parts[0] == "instances":
        return "GATEWAY_INSTANCES_FILE"
    return _ENV_PREFIX + "__".join(p.upper() for p in parts) if parts else "GATEWAY_*"


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment (and ``overrides``), or raise ConfigError."""
    return _load(Settings, overrides)


def load_client_settings(**overrides: Any) -> ClientSettings:
    return _load(ClientSettings, overrides)


def load_receiver_settings(**overrides: Any) -> ReceiverSettings:
    return _load(ReceiverSettings, overrides)


def load_tracker_settings(**overrides: Any) -> TrackerProcessSettings:
    return _load(TrackerProcessSettings, overrides)


def _load(cls: type[_S], overrides: dict[str, Any]) -> _S:
    try:
        return cls(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        cause = first.get("ctx", {}).get("error")
        setting = (
            cause.setting if isinstance(cause, _SettingError) else _env_name(tuple(first["loc"]))
        )
        raise ConfigError(setting, first["msg"].removeprefix("Value error, ")) from None
