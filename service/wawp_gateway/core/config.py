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
from typing import Any, Self, TypeVar

from pydantic import SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.instances import InstancesConfig
from wawp_gateway.core.secrets import SecretsDirSource
from wawp_gateway.core.sections import (
    EngineSettings,
    IdempotencySettings,
    KafkaSettings,
    LogSettings,
    MetricsSettings,
    ReconcileSettings,
    RetrySettings,
    SettingError,
    ShutdownSettings,
    TopicsSettings,
    TrackerSettings,
    WawpSettings,
    WebhookSettings,
)

__all__ = [
    "ClientSettings",
    "ReceiverSettings",
    "RegistryClientSettings",
    "Settings",
    "TrackerProcessSettings",
    "load_client_settings",
    "load_receiver_settings",
    "load_registry_settings",
    "load_settings",
    "load_tracker_settings",
]

_ENV_PREFIX = "GATEWAY_"
_S = TypeVar("_S", bound=BaseSettings)


class _ProcessSettings(BaseSettings):
    """What every process's settings share: arguments, then the environment, then the files of
    ``GATEWAY_SECRETS_DIR`` (core/secrets.py), then the defaults. No ``.env`` file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, SecretsDirSource(settings_cls)


def _with_instances_file(data: Any) -> Any:
    """``instances`` filled from ``instances_file``, when that is set and it is not given."""
    if isinstance(data, Mapping) and data.get("instances_file") and "instances" not in data:
        path = Path(str(data["instances_file"]))
        try:
            loaded = InstancesConfig.from_toml(path)
        except OSError as exc:
            raise SettingError(
                "GATEWAY_INSTANCES_FILE", f"cannot read instances file {path}: {exc.strerror}"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingError(
                "GATEWAY_INSTANCES_FILE", f"instances file {path} is not valid TOML: {exc}"
            ) from None
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise SettingError(
                "GATEWAY_INSTANCES_FILE", f"instances file {path}: {where}: {first['msg']}"
            ) from None
        return {**data, "instances": loaded}
    return data


class Settings(_ProcessSettings):
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
        return _with_instances_file(data)

    @model_validator(mode="after")
    def _instances_are_usable(self) -> Self:
        for instance_id, cfg in self.instances.instances.items():
            if cfg.access_token is None and self.wawp.access_token is None:
                raise SettingError(
                    "GATEWAY_WAWP__ACCESS_TOKEN",
                    f"instance {instance_id} has no access_token and "
                    "GATEWAY_WAWP__ACCESS_TOKEN is not set",
                )
        if self.allow_unlisted_instances and self.wawp.access_token is None:
            raise SettingError(
                "GATEWAY_WAWP__ACCESS_TOKEN",
                "GATEWAY_ALLOW_UNLISTED_INSTANCES needs a default token "
                "in GATEWAY_WAWP__ACCESS_TOKEN",
            )
        if self.engine.max_in_flight > self.wawp.max_connections:
            # A call that waits for a pooled connection after taking its rate token could go
            # out together with the next one: keep every in-flight call its own connection.
            raise SettingError(
                "GATEWAY_ENGINE__MAX_IN_FLIGHT",
                f"must be at most GATEWAY_WAWP__MAX_CONNECTIONS ({self.wawp.max_connections})",
            )
        return self

    def refuse_without_instances(self, listed: int) -> None:
        """A worker with nothing to serve refuses to start: ``listed`` instances are known
        once the registry (the file and ``wawp.instances``) has been read."""
        if listed == 0 and not self.allow_unlisted_instances:
            raise ConfigError(
                "GATEWAY_INSTANCES_FILE",
                "no instance configured: list instances in GATEWAY_INSTANCES_FILE or with "
                "`wawp-gateway instances put`, or set GATEWAY_ALLOW_UNLISTED_INSTANCES=true",
            )

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


class ClientSettings(_ProcessSettings):
    """What producer-side commands (``send``, ``topics create``) need: no instances, no tokens."""

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX, env_nested_delimiter="__", extra="ignore", frozen=True
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicsSettings = TopicsSettings()
    idempotency: IdempotencySettings = IdempotencySettings()  # sizes wawp.state's retention


class RegistryClientSettings(_ProcessSettings):
    """What ``wawp-gateway instances`` needs: Kafka, the topics and, for ``ls``, the instances
    file (its tokens are never shown)."""

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX, env_nested_delimiter="__", extra="ignore", frozen=True
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicsSettings = TopicsSettings()
    instances_file: Path | None = None
    instances: InstancesConfig = InstancesConfig()

    @model_validator(mode="before")
    @classmethod
    def _read_instances_file(cls, data: Any) -> Any:
        return _with_instances_file(data)


class ReceiverSettings(_ProcessSettings):
    """What ``wawp-gateway webhook`` needs: no instances, no Wawp tokens (it routes by the
    instance the event names)."""

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX, env_nested_delimiter="__", extra="ignore", frozen=True
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicsSettings = TopicsSettings()
    webhook: WebhookSettings = WebhookSettings()
    log: LogSettings = LogSettings()


class TrackerProcessSettings(_ProcessSettings):
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


def load_registry_settings(**overrides: Any) -> RegistryClientSettings:
    return _load(RegistryClientSettings, overrides)


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
            cause.setting if isinstance(cause, SettingError) else _env_name(tuple(first["loc"]))
        )
        raise ConfigError(setting, first["msg"].removeprefix("Value error, ")) from None
