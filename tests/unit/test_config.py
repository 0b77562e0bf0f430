"""Settings: the fixed GATEWAY_* names, the instances file, and refusals that name the setting."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from wawp_gateway.core.config import ClientSettings, Settings, load_client_settings, load_settings
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.instances import InstancesConfig

TOKEN = "default-SECRET-token-1"
OWN_TOKEN = "own-SECRET-token-2"


@pytest.fixture(autouse=True)
def _no_gateway_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the variables they set, whatever the shell or CI exported."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)


def _open_settings(**overrides: Any) -> Settings:
    return load_settings(allow_unlisted_instances=True, wawp={"access_token": TOKEN}, **overrides)


def _get(settings: Any, path: str) -> Any:
    for part in path.split("."):
        settings = getattr(settings, part)
    return settings.get_secret_value() if isinstance(settings, SecretStr) else settings


# docs/contract.md "Configuration": variable, a non-default value, where it lands, parsed value.
FIXED_NAMES: list[tuple[str, str, str, Any]] = [
    (
        "GATEWAY_KAFKA__BOOTSTRAP_SERVERS",
        "kafka-1:9093,kafka-2:9093",
        "kafka.bootstrap_servers",
        "kafka-1:9093,kafka-2:9093",
    ),
    ("GATEWAY_KAFKA__GROUP_ID", "gw-test", "kafka.group_id", "gw-test"),
    ("GATEWAY_KAFKA__SESSION_TIMEOUT_MS", "6000", "kafka.session_timeout_ms", 6000),
    ("GATEWAY_KAFKA__HEARTBEAT_INTERVAL_MS", "500", "kafka.heartbeat_interval_ms", 500),
    ("GATEWAY_KAFKA__REBALANCE_TIMEOUT_MS", "3000", "kafka.rebalance_timeout_ms", 3000),
    ("GATEWAY_KAFKA__REPLY_TO_TIMEOUT_S", "1.5", "kafka.reply_to_timeout_s", 1.5),
    ("GATEWAY_KAFKA__FETCH_MAX_WAIT_MS", "7", "kafka.fetch_max_wait_ms", 7),
    ("GATEWAY_SHUTDOWN__GRACE_S", "4", "shutdown.grace_s", 4.0),
    ("GATEWAY_TOPICS__SEND", "t.send", "topics.send", "t.send"),
    ("GATEWAY_TOPICS__COMMAND", "t.command", "topics.command", "t.command"),
    ("GATEWAY_TOPICS__RESULTS", "t.results", "topics.results", "t.results"),
    ("GATEWAY_TOPICS__EVENTS", "t.events", "topics.events", "t.events"),
    ("GATEWAY_TOPICS__DELIVERY", "t.delivery", "topics.delivery", "t.delivery"),
    ("GATEWAY_TOPICS__DLQ", "t.dlq", "topics.dlq", "t.dlq"),
    ("GATEWAY_TOPICS__STATE", "t.state", "topics.state", "t.state"),
    ("GATEWAY_TOPICS__INSTANCES", "t.instances", "topics.instances", "t.instances"),
    ("GATEWAY_TOPICS__SESSIONS", "t.sessions", "topics.sessions", "t.sessions"),
    (
        "GATEWAY_WAWP__BASE_URL",
        "http://127.0.0.1:8081/wp-json/awp/v1",
        "wawp.base_url",
        "http://127.0.0.1:8081/wp-json/awp/v1",
    ),
    (
        "GATEWAY_WAWP__V2_BASE_URL",
        "http://127.0.0.1:8081",
        "wawp.v2_base_url",
        "http://127.0.0.1:8081",
    ),
    ("GATEWAY_WAWP__ACCESS_TOKEN", "env-SECRET-token", "wawp.access_token", "env-SECRET-token"),
    ("GATEWAY_WAWP__TIMEOUT_S", "12", "wawp.timeout_s", 12.0),
    ("GATEWAY_RETRY__MAX_ATTEMPTS", "9", "retry.max_attempts", 9),
    ("GATEWAY_RETRY__MAX_ELAPSED_S", "45", "retry.max_elapsed_s", 45.0),
    ("GATEWAY_IDEMPOTENCY__RETENTION_S", "3600", "idempotency.retention_s", 3600.0),
    ("GATEWAY_RECONCILE__ENABLED", "true", "reconcile.enabled", True),
    ("GATEWAY_ALLOW_UNLISTED_INSTANCES", "true", "allow_unlisted_instances", True),
    ("GATEWAY_METRICS__HOST", "127.0.0.1", "metrics.host", "127.0.0.1"),
    ("GATEWAY_METRICS__PORT", "0", "metrics.port", 0),
    ("GATEWAY_WEBHOOK__HOST", "127.0.0.2", "webhook.host", "127.0.0.2"),
    ("GATEWAY_WEBHOOK__PORT", "18080", "webhook.port", 18080),
    ("GATEWAY_WEBHOOK__SECRET", "hook-SECRET", "webhook.secret", "hook-SECRET"),
    ("GATEWAY_WEBHOOK__HMAC_KEY", "hmac-SECRET", "webhook.hmac_key", "hmac-SECRET"),
    ("GATEWAY_WEBHOOK__ALLOW_UNAUTHENTICATED", "true", "webhook.allow_unauthenticated", True),
    ("GATEWAY_WEBHOOK__MAX_BODY_BYTES", "2048", "webhook.max_body_bytes", 2048),
    ("GATEWAY_WEBHOOK__DEDUPE_WINDOW_S", "30", "webhook.dedupe_window_s", 30.0),
    ("GATEWAY_WEBHOOK__PUBLISH_TIMEOUT_S", "2", "webhook.publish_timeout_s", 2.0),
    ("GATEWAY_TRACKER__ACK_TIMEOUT_S", "60", "tracker.ack_timeout_s", 60.0),
    ("GATEWAY_LOG__FORMAT", "json", "log.format", "json"),
    ("GATEWAY_KAFKA__SECURITY_PROTOCOL", "SSL", "kafka.security_protocol", "SSL"),
    ("GATEWAY_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512", "kafka.sasl_mechanism", "SCRAM-SHA-512"),
    ("GATEWAY_KAFKA__SASL_USERNAME", "gw", "kafka.sasl_username", "gw"),
    ("GATEWAY_KAFKA__SASL_PASSWORD", "pw-SECRET", "kafka.sasl_password", "pw-SECRET"),
    ("GATEWAY_KAFKA__SSL_CHECK_HOSTNAME", "false", "kafka.ssl_check_hostname", False),
]


@pytest.mark.parametrize(("variable", "value", "path", "expected"), FIXED_NAMES)
def test_every_fixed_variable_is_honoured(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, path: str, expected: Any
) -> None:
    """Each name of docs/contract.md's configuration table reaches its setting."""
    monkeypatch.setenv("GATEWAY_ALLOW_UNLISTED_INSTANCES", "true")
    monkeypatch.setenv("GATEWAY_WAWP__ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv(variable, value)
    assert _get(Settings(), path) == expected


def test_instances_file_variable_is_honoured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GATEWAY_INSTANCES_FILE names the TOML file that is read."""
    path = tmp_path / "instances.toml"
    path.write_text('[instances.ABC123DEF456]\naccess_token = "x"\n')
    monkeypatch.setenv("GATEWAY_INSTANCES_FILE", str(path))
    settings = Settings()
    assert settings.instances_file == path
    assert settings.is_known_instance("ABC123DEF456")


def test_defaults_match_the_architecture() -> None:
    """Without variables, the documented defaults apply."""
    settings = _open_settings()
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.kafka.group_id == "wawp-gateway"
    assert (
        settings.kafka.session_timeout_ms,
        settings.kafka.heartbeat_interval_ms,
        settings.kafka.rebalance_timeout_ms,
    ) == (45_000, 3_000, 60_000)
    assert settings.kafka.reply_to_timeout_s == 5
    assert settings.kafka.fetch_max_wait_ms == 50
    assert settings.shutdown.grace_s == 30
    assert settings.topics.all() == (
        "wawp.send",
        "wawp.command",
        "wawp.results",
        "wawp.events",
        "wawp.delivery",
        "wawp.dlq",
        "wawp.state",
        "wawp.instances",
        "wawp.sessions",
    )
    assert settings.wawp.base_url == "https://wawp.net/wp-json/awp/v1"
    assert settings.wawp.v2_base_url == "https://api.wawp.net"
    assert settings.wawp.timeout_s == 30
    assert (settings.retry.max_attempts, settings.retry.max_elapsed_s) == (5, 300)
    assert settings.idempotency.retention_s == 86_400
    assert settings.reconcile.enabled is False
    assert (settings.metrics.host, settings.metrics.port) == ("0.0.0.0", 9464)
    assert (settings.webhook.host, settings.webhook.port) == ("0.0.0.0", 8080)
    assert settings.webhook.secret is None
    assert settings.webhook.hmac_key is None
    assert settings.webhook.allow_unauthenticated is False
    assert settings.webhook.max_body_bytes == 1_048_576
    assert settings.webhook.dedupe_window_s == 600
    assert settings.webhook.publish_timeout_s == 10
    assert settings.tracker.ack_timeout_s == 300
    assert settings.log.format == "auto"
    assert settings.kafka.security_protocol == "PLAINTEXT"
    assert settings.kafka.sasl_mechanism == "PLAIN"
    assert settings.kafka.sasl_username is None
    assert settings.kafka.sasl_password is None
    assert (settings.kafka.ssl_cafile, settings.kafka.ssl_certfile) == (None, None)
    assert settings.kafka.ssl_keyfile is None
    assert settings.kafka.ssl_check_hostname is True
    assert settings.instances.defaults.rate_per_minute == 60
    assert settings.instances.defaults.burst == 5


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "instances.toml"
    path.write_text(text, encoding="utf-8")
    return path


INSTANCES = f"""
[defaults]
rate_per_minute = 120
burst = 8

[instances.ABC123DEF456]
rate_per_minute = 30

[instances.OWNTOKEN0001]
burst = 2
access_token = "{OWN_TOKEN}"
"""


def test_instances_file_gives_defaults_overrides_and_tokens(tmp_path: Path) -> None:
    """[defaults] limits, per-instance overrides, and a per-instance token over the default."""
    settings = load_settings(
        instances_file=_write(tmp_path, INSTANCES), wawp={"access_token": TOKEN}
    )
    assert settings.instances.limits_for("ABC123DEF456").rate_per_minute == 30
    assert settings.instances.limits_for("ABC123DEF456").burst == 8
    assert settings.instances.limits_for("OWNTOKEN0001").rate_per_minute == 120
    assert settings.instances.limits_for("OWNTOKEN0001").burst == 2
    assert settings.instances.limits_for("UNLISTED0000").rate_per_minute == 120
    own = settings.token_for("OWNTOKEN0001")
    default = settings.token_for("ABC123DEF456")
    assert own is not None
    assert own.get_secret_value() == OWN_TOKEN
    assert default is not None
    assert default.get_secret_value() == TOKEN
    assert settings.token_for("UNLISTED0000") is None
    assert not settings.is_known_instance("UNLISTED0000")


def test_instances_with_own_tokens_need_no_default_token(tmp_path: Path) -> None:
    """Every instance having its own token is enough."""
    text = f'[instances.OWNTOKEN0001]\naccess_token = "{OWN_TOKEN}"\n'
    settings = load_settings(instances_file=_write(tmp_path, text))
    assert settings.token_for("OWNTOKEN0001") is not None


def test_unlisted_instances_use_the_default_token_and_limits() -> None:
    """With unlisted instances allowed, any id is known and gets the default token."""
    settings = _open_settings()
    token = settings.token_for("ANYTHING0000")
    assert settings.is_known_instance("ANYTHING0000")
    assert token is not None
    assert token.get_secret_value() == TOKEN


def _refusal(**overrides: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    assert caught.value.setting in str(caught.value)
    return caught.value


def test_no_instance_and_not_allow_unlisted_is_refused() -> None:
    """A gateway with nothing to serve (no instance in the file nor in the registry topic)
    refuses to start, naming the instances file."""
    settings = load_settings(wawp={"access_token": TOKEN})  # the registry may list some
    with pytest.raises(ConfigError) as caught:
        settings.refuse_without_instances(0)
    assert caught.value.setting == "GATEWAY_INSTANCES_FILE"
    settings.refuse_without_instances(1)


def test_check_config_warns_when_only_the_registry_can_list_instances() -> None:
    from wawp_gateway.core.checks import config_warnings

    warnings = config_warnings(load_settings(wawp={"access_token": TOKEN}))
    assert any("no instance in GATEWAY_INSTANCES_FILE" in w for w in warnings)
    assert not any("no instance" in w for w in config_warnings(_open_settings()))


def test_an_instance_without_any_token_is_refused(tmp_path: Path) -> None:
    """An instance with neither its own token nor the default is refused."""
    path = _write(tmp_path, "[instances.ABC123DEF456]\nrate_per_minute = 30\n")
    error = _refusal(instances_file=path)
    assert error.setting == "GATEWAY_WAWP__ACCESS_TOKEN"
    assert "ABC123DEF456" in error.problem


def test_allow_unlisted_without_a_default_token_is_refused() -> None:
    """Unlisted instances need the default token."""
    assert _refusal(allow_unlisted_instances=True).setting == "GATEWAY_WAWP__ACCESS_TOKEN"


@pytest.mark.parametrize(("heartbeat", "session"), [(3000, 3000), (5000, 3000)])
def test_heartbeat_not_below_session_timeout_is_refused(heartbeat: int, session: int) -> None:
    """The heartbeat must be shorter than the session timeout."""
    error = _refusal(
        allow_unlisted_instances=True,
        wawp={"access_token": TOKEN},
        kafka={"heartbeat_interval_ms": heartbeat, "session_timeout_ms": session},
    )
    assert error.setting == "GATEWAY_KAFKA__HEARTBEAT_INTERVAL_MS"


@pytest.mark.parametrize(
    ("field", "variable"),
    [("base_url", "GATEWAY_WAWP__BASE_URL"), ("v2_base_url", "GATEWAY_WAWP__V2_BASE_URL")],
)
@pytest.mark.parametrize("url", ["wawp.net/wp-json/awp/v1", "ftp://wawp.net", ""])
def test_non_url_base_url_is_refused(field: str, variable: str, url: str) -> None:
    """Wawp roots are http(s) URLs."""
    error = _refusal(allow_unlisted_instances=True, wawp={"access_token": TOKEN, field: url})
    assert error.setting == variable


def test_unreadable_instances_file_is_refused(tmp_path: Path) -> None:
    """A missing instances file is refused, naming GATEWAY_INSTANCES_FILE."""
    error = _refusal(instances_file=tmp_path / "missing.toml", wawp={"access_token": TOKEN})
    assert error.setting == "GATEWAY_INSTANCES_FILE"


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    """An instances file that is not TOML is refused, naming GATEWAY_INSTANCES_FILE."""
    path = _write(tmp_path, "[instances.ABC\nrate = = 3\n")
    assert _refusal(instances_file=path, wawp={"access_token": TOKEN}).setting == (
        "GATEWAY_INSTANCES_FILE"
    )


@pytest.mark.parametrize(
    "text",
    [
        "[instances.ABC123DEF456]\nrate_per_minute = 0\n",
        "[instances.ABC123DEF456]\ncolour = 'red'\n",
        "[defaults]\nburst = 0\n[instances.A]\n",
    ],
)
def test_invalid_instances_content_is_refused(tmp_path: Path, text: str) -> None:
    """Wrong values or unknown keys in the file name the file."""
    error = _refusal(instances_file=_write(tmp_path, text), wawp={"access_token": TOKEN})
    assert error.setting == "GATEWAY_INSTANCES_FILE"
    assert "instances.toml" in error.problem


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed variable is refused by its environment name."""
    monkeypatch.setenv("GATEWAY_RETRY__MAX_ATTEMPTS", "zero")
    error = _refusal(allow_unlisted_instances=True, wawp={"access_token": TOKEN})
    assert error.setting == "GATEWAY_RETRY__MAX_ATTEMPTS"


def test_tokens_are_secret_and_not_in_repr(tmp_path: Path) -> None:
    """Tokens are SecretStr: repr and str of the settings never show them."""
    settings = load_settings(
        instances_file=_write(tmp_path, INSTANCES),
        wawp={"access_token": TOKEN},
        webhook={"secret": "hook-SECRET-3", "hmac_key": "hmac-SECRET-4"},
    )
    assert isinstance(settings.wawp.access_token, SecretStr)
    assert isinstance(settings.instances.instances["OWNTOKEN0001"].access_token, SecretStr)
    for text in (repr(settings), str(settings), repr(settings.instances)):
        for secret in (TOKEN, OWN_TOKEN, "hook-SECRET-3", "hmac-SECRET-4"):
            assert secret not in text


def test_refusal_messages_do_not_leak_tokens(tmp_path: Path) -> None:
    """A refusal caused by another setting does not print the token."""
    error = _refusal(
        allow_unlisted_instances=True, wawp={"access_token": TOKEN, "base_url": "nope"}
    )
    assert TOKEN not in str(error)


def test_client_settings_need_no_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    """Producer-side commands start without instances or tokens."""
    monkeypatch.setenv("GATEWAY_TOPICS__SEND", "orders.send")
    settings = load_client_settings()
    assert isinstance(settings, ClientSettings)
    assert settings.topics.send == "orders.send"
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"


def test_instances_config_defaults_without_a_file() -> None:
    """An empty instances table has the built-in defaults: 60/min, burst 5."""
    limits = InstancesConfig().limits_for("X")
    assert (limits.rate_per_minute, limits.burst) == (60, 5)


def test_the_state_topic_keeps_records_twice_the_idempotency_retention() -> None:
    from wawp_gateway.core.kafka import topic_configs
    from wawp_gateway.core.sections import IdempotencySettings, TopicsSettings

    configs = topic_configs(TopicsSettings(), IdempotencySettings(retention_s=3600))
    assert configs["wawp.state"] == {"cleanup.policy": "delete", "retention.ms": "7200000"}


def test_the_registry_and_session_topics_are_compacted() -> None:
    from wawp_gateway.core.kafka import topic_configs
    from wawp_gateway.core.sections import IdempotencySettings, TopicsSettings

    configs = topic_configs(TopicsSettings(), IdempotencySettings())
    assert configs["wawp.instances"] == {"cleanup.policy": "compact"}
    assert configs["wawp.sessions"] == {"cleanup.policy": "compact"}
