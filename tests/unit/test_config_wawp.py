"""The Wawp connection's settings: stack, proxy, CA file, and refusals that name the variable
without repeating the proxy's password."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from egress import make_test_ca
from wawp_gateway.core.config import Settings, load_settings
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.sections import WawpSettings

TOKEN = "default-SECRET-token-1"
PASSWORD = "proxy-SECRET-pw"


@pytest.fixture(autouse=True)
def _no_gateway_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)


def _load(**wawp: Any) -> Settings:
    return load_settings(allow_unlisted_instances=True, wawp={"access_token": TOKEN, **wawp})


def _refusal(**wawp: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _load(**wawp)
    assert PASSWORD not in str(caught.value)
    return caught.value


def test_defaults_are_aiohttp_direct_with_the_system_cas() -> None:
    wawp = WawpSettings()
    assert (wawp.http_stack, wawp.proxy_url, wawp.ca_file) == ("aiohttp", None, None)


def test_the_variables_reach_their_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GATEWAY_WAWP__PROXY_URL, __CA_FILE, __HTTP_STACK from the environment."""
    ca = make_test_ca(tmp_path)
    monkeypatch.setenv("GATEWAY_ALLOW_UNLISTED_INSTANCES", "true")
    monkeypatch.setenv("GATEWAY_WAWP__ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("GATEWAY_WAWP__PROXY_URL", f"http://user:{PASSWORD}@proxy.internal:3128")
    monkeypatch.setenv("GATEWAY_WAWP__CA_FILE", str(ca.ca_file))
    monkeypatch.setenv("GATEWAY_WAWP__HTTP_STACK", "httpx")

    wawp = Settings().wawp

    assert wawp.proxy_url is not None
    assert wawp.proxy_url.get_secret_value() == f"http://user:{PASSWORD}@proxy.internal:3128"
    assert (wawp.ca_file, wawp.http_stack) == (ca.ca_file, "httpx")
    assert PASSWORD not in repr(wawp) + str(wawp) + repr(Settings())


@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{PASSWORD}@proxy.internal:3128",  # the proxy itself is reached in HTTP
        f"socks5://user:{PASSWORD}@proxy.internal:1080",
        f"http://user:{PASSWORD}@proxy.internal",  # no port
        f"http://user:{PASSWORD}@proxy.internal:notaport",
        f"http://user:{PASSWORD}@proxy.internal:3128/path",
        f"proxy.internal:3128?{PASSWORD}",
        "http://user@proxy.internal:3128",  # a user without a password
    ],
)
def test_a_bad_proxy_url_is_refused_without_echoing_it(url: str) -> None:
    assert _refusal(proxy_url=url).setting == "GATEWAY_WAWP__PROXY_URL"


def test_httptools_with_a_proxy_is_refused() -> None:
    """The httptools stack cannot tunnel: refused at start, naming the stack variable."""
    error = _refusal(http_stack="httptools", proxy_url=f"http://u:{PASSWORD}@proxy:3128")
    assert error.setting == "GATEWAY_WAWP__HTTP_STACK"
    assert "GATEWAY_WAWP__PROXY_URL" in error.problem


@pytest.mark.parametrize("stack", ["aiohttp", "httpx"])
def test_proxying_stacks_take_a_proxy(stack: str) -> None:
    wawp = _load(http_stack=stack, proxy_url=f"http://u:{PASSWORD}@proxy:3128").wawp
    assert wawp.proxy_url is not None


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "does not exist"), (b"not a certificate\n", "holds no PEM certificate")],
)
def test_an_unusable_ca_file_is_refused(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    error = _refusal(ca_file=str(path))
    assert error.setting == "GATEWAY_WAWP__CA_FILE"
    assert problem in error.problem


def test_a_directory_as_ca_file_is_refused(tmp_path: Path) -> None:
    assert _refusal(ca_file=str(tmp_path)).setting == "GATEWAY_WAWP__CA_FILE"


def test_check_config_warns_when_the_proxy_or_the_ca_cannot_apply(tmp_path: Path) -> None:
    from wawp_gateway.core.checks import config_warnings

    ca = make_test_ca(tmp_path)
    plain = {"base_url": "http://wawp.test/wp-json/awp/v1", "v2_base_url": "http://wawp.test"}
    proxied = _load(proxy_url=f"http://u:{PASSWORD}@proxy:3128", ca_file=str(ca.ca_file), **plain)
    secure = _load(proxy_url=f"http://u:{PASSWORD}@proxy:3128", ca_file=str(ca.ca_file))

    warnings = config_warnings(proxied)
    assert any("GATEWAY_WAWP__PROXY_URL" in w and "plain http://" in w for w in warnings)
    assert any(w.startswith("GATEWAY_WAWP__CA_FILE") for w in warnings)
    assert not any("GATEWAY_WAWP__" in w for w in config_warnings(secure))
    assert PASSWORD not in " ".join(warnings)
