"""Configuration checks that are warnings, not errors: ``wawp-gateway check-config``."""

from __future__ import annotations

from wawp_gateway.core.config import Settings

__all__ = ["config_warnings"]


def config_warnings(settings: Settings) -> list[str]:
    kafka = settings.kafka
    warnings = []
    drain_s = (
        min(kafka.session_timeout_ms, kafka.rebalance_timeout_ms) - kafka.heartbeat_interval_ms
    ) / 1000
    if settings.wawp.timeout_s > drain_s:
        warnings.append(
            f"GATEWAY_WAWP__TIMEOUT_S={settings.wawp.timeout_s:g} does not fit inside the "
            f"rebalance drain ({drain_s:g} s = min(session, rebalance timeout) - heartbeat): "
            "calls still running at a revoke will be reported outcome_unknown"
        )
    if settings.wawp.timeout_s > settings.shutdown.grace_s:
        warnings.append(
            f"GATEWAY_WAWP__TIMEOUT_S={settings.wawp.timeout_s:g} is longer than "
            f"GATEWAY_SHUTDOWN__GRACE_S={settings.shutdown.grace_s:g}"
        )
    if kafka.heartbeat_interval_ms * 3 > kafka.session_timeout_ms:
        warnings.append(
            "GATEWAY_KAFKA__HEARTBEAT_INTERVAL_MS should be at most a third of the session timeout"
        )
    return warnings
