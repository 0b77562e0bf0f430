"""The sandbox's start-up configuration (a plain model: the CLI fills it, tests build it)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

__all__ = ["SandboxConfig"]


class SandboxConfig(BaseModel):
    """Instances start WORKING; `account_tokens` may create sessions without an instance yet."""

    instances: dict[str, SecretStr] = Field(default_factory=dict)  # instance_id -> token
    account_tokens: list[SecretStr] = Field(default_factory=list)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_hmac_key: SecretStr | None = None
    latency_ms: float = Field(default=0, ge=0)  # added to every Wawp answer
    latency_jitter_ms: float = Field(default=0, ge=0)  # plus a random 0..this, per request
    ack_delays_ms: tuple[float, float, float] = (20, 50, 100)  # SERVER, DEVICE, READ after send
    seed: int = 0
    # Failed webhook posts: attempts in all, and the first back-off (doubling, capped at 60 s).
    webhook_attempts: int = Field(default=15, ge=1)
    webhook_retry_s: float = Field(default=2.0, ge=0)
    webhook_max_pending: int = Field(default=100_000, ge=1)  # deliveries waiting; more dropped
