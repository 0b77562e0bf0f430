"""Configuration checks that are warnings, not errors: ``wawp-gateway check-config``."""

from __future__ import annotations

from wawp_gateway.core.config import Settings
from wawp_gateway.core.sections import KafkaSettings

__all__ = ["config_warnings", "kafka_security_warnings"]


def kafka_security_warnings(kafka: KafkaSettings) -> list[str]:
    """Security settings that have no effect with the chosen protocol, and a password sent in
    the clear. Warnings, not errors: the gateway runs the same with or without them
    (docs/security.md)."""
    given = kafka.model_fields_set
    protocol = f"GATEWAY_KAFKA__SECURITY_PROTOCOL={kafka.security_protocol}"
    warnings: list[str] = []
    ignored: list[str] = []
    if not kafka.uses_sasl:
        ignored = [n for n in ("sasl_mechanism", "sasl_username", "sasl_password") if n in given]
        warnings += [f"GATEWAY_KAFKA__{n.upper()} is ignored with {protocol}" for n in ignored]
    if not kafka.uses_tls:
        ignored = [n for n in ("ssl_cafile", "ssl_certfile", "ssl_keyfile") if n in given]
        warnings += [f"GATEWAY_KAFKA__{n.upper()} is ignored with {protocol}" for n in ignored]
    if kafka.security_protocol == "SASL_PLAINTEXT" and kafka.sasl_mechanism == "PLAIN":
        warnings.append(
            f"{protocol} with GATEWAY_KAFKA__SASL_MECHANISM=PLAIN sends the password in the "
            "clear: use SASL_SSL or a SCRAM mechanism"
        )
    if kafka.uses_tls and not kafka.ssl_check_hostname:
        warnings.append(
            "GATEWAY_KAFKA__SSL_CHECK_HOSTNAME=false: any certificate the CA signed is accepted "
            "for any broker"
        )
    return warnings


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
    if not settings.instances.instances and not settings.allow_unlisted_instances:
        warnings.append(
            "no instance in GATEWAY_INSTANCES_FILE: a worker starts only once "
            f"{settings.topics.instances} lists one (`wawp-gateway instances put`)"
        )
    warnings += _wawp_connection_warnings(settings)
    return warnings + kafka_security_warnings(kafka)


def _wawp_connection_warnings(settings: Settings) -> list[str]:
    wawp = settings.wawp
    plain = [
        name
        for name, url in (("BASE_URL", wawp.base_url), ("V2_BASE_URL", wawp.v2_base_url))
        if url.startswith("http://")
    ]
    warnings = []
    if wawp.proxy_url is not None and plain:
        warnings.append(
            f"GATEWAY_WAWP__PROXY_URL is set and GATEWAY_WAWP__{plain[0]} is plain http://: the "
            "proxy forwards such calls instead of tunnelling them, and an error answer of the "
            "proxy would read as Wawp's"
        )
    if wawp.ca_file is not None and len(plain) == 2:
        warnings.append(
            "GATEWAY_WAWP__CA_FILE is set but both Wawp URLs are plain http://: it is never used"
        )
    return warnings
