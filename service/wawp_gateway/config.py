"""Settings: environment variables ``GATEWAY_*`` (nested with ``__``) plus the instances TOML file.

The names of ARCHITECTURE.md's configuration table are fixed: other suites start the gateway with
exactly those variables. ``load_settings`` turns any validation failure into a ``ConfigError``
naming the variable, so a misconfigured gateway refuses to start with a useful message.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wawp_gateway.errors import ConfigError

__all__ = [
    "ClientSettings",
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

HttpStack = Literal["aiohttp", "httpx", "httpx-aiohttp"]
_ENV_PREFIX = "GATEWAY_"
_S = TypeVar("_S", bound=BaseSettings)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "wawp-gateway"
    client_id: str = "wawp-gateway"
    session_timeout_ms: int = Field(45_000, gt=0)
    heartbeat_interval_ms: int = Field(3_000, gt=0)
    rebalance_timeout_ms: int = Field(60_000, gt=0)
    reply_to_timeout_s: float = Field(5.0, gt=0)
    fetch_max_wait_ms: int = Field(50, ge=0)
    request_timeout_ms: int = Field(30_000, gt=0)
    commit_interval_ms: int = Field(1_000, gt=0)
    linger_ms: int = Field(5, ge=0)
    # Used by `topics create`; plan for the largest deployment, counts cannot grow later.
    partitions: int = Field(12, gt=0)
    replication_factor: int = Field(1, gt=0)

    @model_validator(mode="after")
    def _heartbeat_fits_session(self) -> Self:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be lower than session_timeout_ms")
        return self


class ShutdownSettings(_Section):
    grace_s: float = Field(30.0, ge=0)


class TopicsSettings(_Section):
    send: str = "wawp.send"
    command: str = "wawp.command"
    results: str = "wawp.results"
    events: str = "wawp.events"
    delivery: str = "wawp.delivery"
    dlq: str = "wawp.dlq"
    state: str = "wawp.state"

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
    v2_base_url: str = "https://api.wawp.net"
    access_token: SecretStr | None = None
    timeout_s: float = Field(30.0, gt=0)
    connect_timeout_s: float = Field(5.0, gt=0)
    max_connections: int = Field(256, gt=0)
    http_stack: HttpStack = "aiohttp"

    @model_validator(mode="after")
    def _urls_are_http(self) -> Self:
        for name in ("base_url", "v2_base_url"):
            value: str = getattr(self, name)
            if not value.startswith(("http://", "https://")):
                raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
        return self


class RetrySettings(_Section):
    max_attempts: int = Field(5, ge=1)
    max_elapsed_s: float = Field(300.0, gt=0)
    backoff_initial_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    # Longest Retry-After the gateway honours; a longer one is capped (Wawp is undocumented here).
    retry_after_max_s: float = Field(60.0, ge=0)


class IdempotencySettings(_Section):
    retention_s: float = Field(604_800.0, gt=0)


class ReconcileSettings(_Section):
    enabled: bool = False


class MetricsSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(9464, ge=0, le=65535)


class WebhookSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535)
    secret: SecretStr | None = None
    hmac_key: SecretStr | None = None
    allow_unauthenticated: bool = False
    max_body_bytes: int = Field(1_048_576, gt=0)
    dedupe_window_s: float = Field(600.0, ge=0)
    publish_timeout_s: float = Field(10.0, gt=0)


class TrackerSettings(_Section):
    ack_timeout_s: float = Field(300.0, gt=0)


class LogSettings(_Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class RateLimitConfig(_Section):
    rate_per_minute: float = Field(60.0, gt=0)
    burst: int = Field(5, ge=1)


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
    )

    kafka: KafkaSettings = KafkaSettings()
    shutdown: ShutdownSettings = ShutdownSettings()
    topics: TopicsSettings = TopicsSettings()
    wawp: WawpSettings = WawpSettings()
    retry: RetrySettings = RetrySettings()
    idempotency: IdempotencySettings = IdempotencySettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    metrics: MetricsSettings = MetricsSettings()
    webhook: WebhookSettings = WebhookSettings()
    tracker: TrackerSettings = TrackerSettings()
    log: LogSettings = LogSettings()
    instances_file: Path | None = None
    allow_unlisted_instances: bool = False
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
                raise ValueError(f"cannot read instances file {path}: {exc.strerror}") from None
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"instances file {path} is not valid TOML: {exc}") from None
            return {**data, "instances": loaded}
        return data

    @model_validator(mode="after")
    def _instances_are_usable(self) -> Self:
        if not self.instances.instances and not self.allow_unlisted_instances:
            raise ValueError(
                "no instance configured: list instances in GATEWAY_INSTANCES_FILE "
                "or set GATEWAY_ALLOW_UNLISTED_INSTANCES=true"
            )
        for instance_id, cfg in self.instances.instances.items():
            if cfg.access_token is None and self.wawp.access_token is None:
                raise ValueError(
                    f"instance {instance_id} has no access_token and "
                    "GATEWAY_WAWP__ACCESS_TOKEN is not set"
                )
        if self.allow_unlisted_instances and self.wawp.access_token is None:
            raise ValueError(
                "GATEWAY_ALLOW_UNLISTED_INSTANCES needs a default token "
                "in GATEWAY_WAWP__ACCESS_TOKEN"
            )
        return self

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


def _load(cls: type[_S], overrides: dict[str, Any]) -> _S:
    try:
        return cls(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        setting = _env_name(tuple(first["loc"]))
        raise ConfigError(setting, first["msg"].removeprefix("Value error, ")) from None
