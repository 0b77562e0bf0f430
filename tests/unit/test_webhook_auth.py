"""Webhook authentication: query secret, HMAC-SHA512 header, both; refusing to run open."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import SecretStr

from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.sections import WebhookSettings
from wawp_gateway.webhook.checks import check_auth_configured, is_authentic

BODY = b'{"event":"message","session":"I"}'


def _sign(key: str, body: bytes = BODY) -> bytes:
    return hmac.new(key.encode(), body, hashlib.sha512).hexdigest().encode()


def _settings(**values: object) -> WebhookSettings:
    return WebhookSettings.model_validate(values)


def test_secret_must_match() -> None:
    """With only a secret, the query secret alone decides."""
    settings = _settings(secret=SecretStr("s3cret"))
    assert is_authentic(settings, b"s3cret", None, BODY)
    assert not is_authentic(settings, b"s3cre", None, BODY)
    assert not is_authentic(settings, None, None, BODY)
    assert not is_authentic(settings, b"", None, BODY)


def test_hmac_must_match_the_raw_body() -> None:
    """With only a key, the hex HMAC-SHA512 of the exact body decides (any hex case)."""
    settings = _settings(hmac_key=SecretStr("k"))
    assert is_authentic(settings, None, _sign("k"), BODY)
    assert is_authentic(settings, None, _sign("k").upper(), BODY)
    assert not is_authentic(settings, None, _sign("k"), BODY + b" ")
    assert not is_authentic(settings, None, _sign("other"), BODY)
    assert not is_authentic(settings, None, None, BODY)
    assert not is_authentic(settings, None, "é".encode(), BODY)


def test_with_both_configured_both_must_match() -> None:
    """Secret and HMAC key together: either one wrong or missing is refused."""
    settings = _settings(secret=SecretStr("s"), hmac_key=SecretStr("k"))
    assert is_authentic(settings, b"s", _sign("k"), BODY)
    assert not is_authentic(settings, b"s", None, BODY)
    assert not is_authentic(settings, None, _sign("k"), BODY)
    assert not is_authentic(settings, b"x", _sign("k"), BODY)


def test_open_receiver_accepts_anything_when_allowed() -> None:
    """ALLOW_UNAUTHENTICATED with neither check: every request passes."""
    settings = _settings(allow_unauthenticated=True)
    check_auth_configured(settings)
    assert is_authentic(settings, None, None, BODY)


def test_refuses_to_start_with_neither_secret_nor_key() -> None:
    """No secret, no key, not told to run open: a ConfigError naming the settings."""
    with pytest.raises(ConfigError) as raised:
        check_auth_configured(_settings())
    assert raised.value.setting == "GATEWAY_WEBHOOK__SECRET"
    assert "GATEWAY_WEBHOOK__ALLOW_UNAUTHENTICATED" in str(raised.value)


def test_refuses_an_empty_secret() -> None:
    """An empty secret would accept `?secret=`: refused at start."""
    with pytest.raises(ConfigError, match="GATEWAY_WEBHOOK__SECRET"):
        check_auth_configured(_settings(secret=SecretStr("")))
