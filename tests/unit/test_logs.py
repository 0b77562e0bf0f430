"""scrub_event: tokens dropped, phone numbers masked, ids and names left readable."""

from __future__ import annotations

from typing import Any

import pytest

from wawp_gateway.core.logs import scrub_event


def _scrubbed(**fields: Any) -> dict[str, Any]:
    return dict(scrub_event(None, "info", dict(fields)))


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("447911123456", "44****56"),
        ("447911123456@c.us", "44****56@c.us"),
        ("true_447911123456@c.us_3EB0629F6FBED82C07CD", "true_44****56@c.us_3EB0629F6FBED82C07CD"),
        ("call +12025550143 now", "call +12****43 now"),
        ("chat 4479111 (7 digits)", "chat 44****11 (7 digits)"),
    ],
)
def test_phone_numbers_are_masked_wherever_they_stand(text: str, masked: str) -> None:
    assert _scrubbed(event="x", detail=text)["detail"] == masked


@pytest.mark.parametrize(
    "text",
    [
        "72153486-8adc-4bf3-8ea8-b15a783874fc",  # a command id
        "3EB0629F6FBED82C07CD",  # a message id
        "gw-12345678.send",  # a topic named after a run
        "127.0.0.1:45853",
        "partition 123456",  # six digits: not a number anyone dials
    ],
)
def test_ids_and_names_are_left_readable(text: str) -> None:
    assert _scrubbed(event="x", detail=text)["detail"] == text


def test_secrets_are_dropped_by_key_and_in_urls() -> None:
    out = _scrubbed(
        event="x",
        access_token="tok",
        headers={"Authorization": "Bearer tok", "accept": "json"},
        url="https://w/api?instance_id=I&access_token=tok&x=1",
        nested=[{"webhook_secret": "s"}],
    )
    assert out["access_token"] == "***"
    assert out["headers"] == {"Authorization": "***", "accept": "json"}
    assert out["url"] == "https://w/api?instance_id=I&access_token=***&x=1"
    assert out["nested"] == [{"webhook_secret": "***"}]


def test_credentials_in_a_url_are_masked() -> None:
    """An egress proxy's URL carries its password: any text showing one is masked."""
    out = _scrubbed(
        event="x",
        reason="Cannot connect to proxy http://gateway:s3cr%40t@proxy.internal:3128 (refused)",
        target="https://api.wawp.net/v2/send/text",
    )
    assert out["reason"] == "Cannot connect to proxy http://***@proxy.internal:3128 (refused)"
    assert out["target"] == "https://api.wawp.net/v2/send/text"
