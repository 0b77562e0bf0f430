"""Kafka security settings: refusals that name the variable, the options every client gets, the
mapping of a refused connection to its cause, and secrets read from GATEWAY_SECRETS_DIR."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from faststream.security import BaseSecurity, SASLScram512

from wawp_gateway.core.checks import kafka_security_warnings
from wawp_gateway.core.config import (
    ClientSettings,
    ReceiverSettings,
    Settings,
    TrackerProcessSettings,
    load_client_settings,
)
from wawp_gateway.core.errors import ConfigError, KafkaAuthFailed, KafkaTlsFailed
from wawp_gateway.core.kafka import connection_options, ssl_context
from wawp_gateway.core.kafkaauth import refusal_of
from wawp_gateway.core.secrets import SecretsDirSource, secret_settings
from wawp_gateway.core.sections import KafkaSettings
from wawp_gateway.sdk.faststream import broker_security

PASSWORD = "pw-SECRET-3c9e1a"
SASL = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "gw",
    "sasl_password": PASSWORD,
}


@pytest.fixture(autouse=True)
def _no_gateway_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)


def _refusal(**kafka: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_client_settings(kafka=kafka)
    return caught.value


@pytest.mark.parametrize("missing", ["sasl_username", "sasl_password"])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_a_sasl_protocol_without_credentials_is_refused(missing: str, protocol: str) -> None:
    given = {**SASL, "security_protocol": protocol}
    del given[missing]

    error = _refusal(**given)

    assert error.setting == f"GATEWAY_KAFKA__{missing.upper()}"
    assert PASSWORD not in str(error)


def test_a_key_without_certificate_and_the_reverse_are_refused(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("x")

    assert _refusal(ssl_keyfile=pem).setting == "GATEWAY_KAFKA__SSL_CERTFILE"
    assert _refusal(ssl_certfile=pem).setting == "GATEWAY_KAFKA__SSL_KEYFILE"


@pytest.mark.parametrize("field", ["ssl_cafile", "ssl_certfile", "ssl_keyfile"])
def test_an_unreadable_file_is_refused_naming_its_variable(tmp_path: Path, field: str) -> None:
    pem = tmp_path / "present.pem"
    pem.write_text("x")
    files = {"ssl_certfile": pem, "ssl_keyfile": pem, field: tmp_path / "missing.pem"}

    error = _refusal(security_protocol="SSL", **files)

    assert error.setting == f"GATEWAY_KAFKA__{field.upper()}"
    assert "missing.pem" in error.problem


def test_a_file_that_is_not_pem_is_a_configuration_error(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    kafka = KafkaSettings(security_protocol="SSL", ssl_cafile=garbage)

    with pytest.raises(ConfigError) as caught:
        ssl_context(kafka)

    assert caught.value.setting == "GATEWAY_KAFKA__SSL_CAFILE"


def test_plaintext_clients_get_no_tls_and_no_login() -> None:
    assert connection_options(KafkaSettings()) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_clients_get_the_context_and_the_login() -> None:
    options = connection_options(KafkaSettings(**SASL, ssl_check_hostname=False))

    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("gw", PASSWORD)
    context: ssl.SSLContext = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is False


def test_the_settings_never_show_the_password() -> None:
    kafka = KafkaSettings(**SASL)

    assert PASSWORD not in repr(kafka)
    assert PASSWORD not in str(ClientSettings(kafka=kafka))


def test_faststream_gets_the_same_security() -> None:
    security = broker_security(KafkaSettings(**SASL))
    tls_only = broker_security(KafkaSettings(security_protocol="SSL"))

    assert isinstance(security, SASLScram512)
    assert (security.username, security.password, security.use_ssl) == ("gw", PASSWORD, True)
    assert type(tls_only) is BaseSecurity
    assert tls_only.use_ssl
    assert broker_security(KafkaSettings()) is None


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, message)
    error.verify_code, error.verify_message = code, message
    return error


def _closed_after_handshake() -> KafkaConnectionError:
    error = KafkaConnectionError("Connection at 127.0.0.1:9093 closed")
    error.__cause__ = ConnectionResetError()
    return error


TLS = {"security_protocol": "SSL", "ssl_context": ssl.create_default_context()}
LOGIN = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"}
LOGIN |= {"sasl_plain_username": "gw", "sasl_plain_password": PASSWORD}


@pytest.mark.parametrize(
    ("error", "options", "kind", "setting"),
    [
        (_verify_error(20, "unable to get local issuer"), TLS, KafkaTlsFailed, "SSL_CAFILE"),
        (_verify_error(62, "Hostname mismatch"), TLS, KafkaTlsFailed, "BOOTSTRAP_SERVERS"),
        (ssl.SSLError(1, "WRONG_VERSION_NUMBER"), TLS, KafkaTlsFailed, "SECURITY_PROTOCOL"),
        (_closed_after_handshake(), TLS, KafkaTlsFailed, "SSL_CERTFILE"),
        (SaslAuthenticationFailed("Invalid"), LOGIN, KafkaAuthFailed, "SASL_PASSWORD"),
        (UnsupportedSaslMechanismError("no"), LOGIN, KafkaAuthFailed, "SASL_MECHANISM"),
        (IllegalSaslStateError("no"), LOGIN, KafkaAuthFailed, "SECURITY_PROTOCOL"),
    ],
)
def test_a_refused_connection_is_mapped_to_its_cause(
    error: BaseException, options: dict[str, Any], kind: type, setting: str
) -> None:
    refusal = refusal_of(error, "broker-1:9093", options)

    assert isinstance(refusal, kind)
    assert refusal.setting == f"GATEWAY_KAFKA__{setting}"
    assert "broker-1:9093" in refusal.problem
    assert PASSWORD not in str(refusal)


@pytest.mark.parametrize(
    ("error", "options"),
    [
        (ConnectionRefusedError(111, "refused"), TLS),
        (TimeoutError(), LOGIN),
        (_closed_after_handshake(), LOGIN),  # no TLS: a closed connection says nothing
    ],
)
def test_an_unreachable_broker_is_not_a_refusal(error: BaseException, options: Any) -> None:
    assert refusal_of(error, "broker-1:9093", options) is None


def test_settings_the_protocol_ignores_are_warnings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    plaintext = KafkaSettings(sasl_mechanism="SCRAM-SHA-256", sasl_username="gw", ssl_cafile=ca)
    clear = KafkaSettings(
        **{**SASL, "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"}
    )

    warnings = kafka_security_warnings(plaintext)

    assert [w.split()[0] for w in warnings] == [
        "GATEWAY_KAFKA__SASL_MECHANISM",
        "GATEWAY_KAFKA__SASL_USERNAME",
        "GATEWAY_KAFKA__SSL_CAFILE",
    ]
    assert any("in the clear" in w for w in kafka_security_warnings(clear))
    assert kafka_security_warnings(KafkaSettings()) == []
    assert kafka_security_warnings(KafkaSettings(**SASL)) == []


# -- GATEWAY_SECRETS_DIR ---------------------------------------------------------------------


def test_every_secret_setting_of_every_process_can_come_from_a_file() -> None:
    """Each process's settings class lists its SecretStr settings under their variable names."""
    names = {cls: {v for v, _ in secret_settings(cls)} for cls in (Settings, ClientSettings)}
    names[ReceiverSettings] = {v for v, _ in secret_settings(ReceiverSettings)}
    names[TrackerProcessSettings] = {v for v, _ in secret_settings(TrackerProcessSettings)}

    assert {
        "GATEWAY_WAWP__ACCESS_TOKEN",
        "GATEWAY_KAFKA__SASL_PASSWORD",
        "GATEWAY_WEBHOOK__SECRET",
        "GATEWAY_WEBHOOK__HMAC_KEY",
    } <= names[Settings]
    assert names[ClientSettings] >= {"GATEWAY_KAFKA__SASL_PASSWORD"}
    assert names[ReceiverSettings] >= {
        "GATEWAY_KAFKA__SASL_PASSWORD",
        "GATEWAY_WEBHOOK__SECRET",
        "GATEWAY_WEBHOOK__HMAC_KEY",
    }
    assert names[TrackerProcessSettings] >= {"GATEWAY_KAFKA__SASL_PASSWORD"}


def test_secret_files_fill_their_settings(tmp_path: Path) -> None:
    (tmp_path / "GATEWAY_KAFKA__SASL_PASSWORD").write_text(PASSWORD + "\n")
    (tmp_path / "GATEWAY_WEBHOOK__SECRET").write_text("hook")
    (tmp_path / "GATEWAY_KAFKA__BOOTSTRAP_SERVERS").write_text("not a secret: ignored")
    (tmp_path / "..data").mkdir()  # what a Kubernetes secret volume holds besides the files

    values = SecretsDirSource(ReceiverSettings, str(tmp_path))()

    assert values == {"kafka": {"sasl_password": PASSWORD}, "webhook": {"secret": "hook"}}


def test_a_secret_file_beside_the_environment_loses_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "GATEWAY_KAFKA__SASL_PASSWORD").write_text("from-file")
    (tmp_path / "GATEWAY_WAWP__ACCESS_TOKEN").write_text("token-from-file")
    monkeypatch.setenv("GATEWAY_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_KAFKA__SASL_PASSWORD", "from-env")
    monkeypatch.setenv("GATEWAY_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("GATEWAY_KAFKA__SASL_USERNAME", "gw")
    monkeypatch.setenv("GATEWAY_ALLOW_UNLISTED_INSTANCES", "true")

    settings = Settings()

    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "from-env"
    assert settings.wawp.access_token is not None
    assert settings.wawp.access_token.get_secret_value() == "token-from-file"
    assert settings.kafka.sasl_username == "gw"  # the environment's other values stay


def test_a_missing_secrets_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        SecretsDirSource(ClientSettings, str(tmp_path / "nowhere"))()

    assert caught.value.setting == "GATEWAY_SECRETS_DIR"


def test_an_unreadable_secret_file_names_its_variable(tmp_path: Path) -> None:
    (tmp_path / "GATEWAY_KAFKA__SASL_PASSWORD").mkdir()  # a directory cannot be read as text

    with pytest.raises(ConfigError) as caught:
        SecretsDirSource(ClientSettings, str(tmp_path))()

    assert caught.value.setting == "GATEWAY_KAFKA__SASL_PASSWORD"
