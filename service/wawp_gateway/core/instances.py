"""The instances file: ``[defaults]`` rate limits plus ``[instances.<ID>]`` overrides and tokens."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import Field, SecretStr

from wawp_gateway.core.sections import Section

__all__ = ["InstanceConfig", "InstancesConfig", "RateLimitConfig"]


class RateLimitConfig(Section):
    rate_per_minute: float = Field(60.0, gt=0)
    """Calls per minute of one instance."""
    burst: int = Field(5, ge=1)
    """Calls an idle instance may make at once."""


class InstanceConfig(Section):
    rate_per_minute: float | None = Field(None, gt=0)
    burst: int | None = Field(None, ge=1)
    access_token: SecretStr | None = None


class InstancesConfig(Section):
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
