"""Valid params for every catalog action, built from the examples in the catalog data itself."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

CHAT = "447441429009@c.us"
GROUP = "120363012345678901@g.us"
CHANNEL = "120363098765432109@newsletter"

# Where the catalog's example is not something the gateway accepts (and why).
_FIXES: dict[str, dict[str, Any]] = {
    # The catalog's examples use a group id where a channel is meant, or the other way round.
    "channels": {"id": CHANNEL},
    "groups": {"id": GROUP},
}
_OVERRIDES: dict[str, dict[str, Any]] = {
    "sendFile": {
        "file": {
            "url": "https://example.com/a.pdf",
            "filename": "a.pdf",
            "mimetype": "application/pdf",
        }
    },
    "sendVoice": {
        "file": {
            "url": "https://example.com/v.ogg",
            "filename": "v.ogg",
            "mimetype": "audio/ogg; codecs=opus",
        },
        "convert": False,
    },
    "sendVideo": {
        "file": {"url": "https://example.com/v.mp4", "filename": "v.mp4", "mimetype": "video/mp4"}
    },
    "statusVoice": {
        "file": {
            "url": "https://example.com/v.ogg",
            "filename": "v.ogg",
            "mimetype": "audio/ogg; codecs=opus",
        }
    },
    "statusVideo": {
        "file": {"url": "https://example.com/v.mp4", "filename": "v.mp4", "mimetype": "video/mp4"}
    },
}


@cache
def _rows() -> dict[str, dict[str, Any]]:
    text = (resources.files("wawp_gateway.wawp") / "endpoints.json").read_text("utf-8")
    return {row["action"]: row for row in json.loads(text)}


def _nest(params: dict[str, Any], name: str, value: Any) -> None:
    if "[" in name:
        top, sub = name.split("[", 1)
        params.setdefault(top, {})[sub.rstrip("]")] = value
    else:
        params[name] = value


def valid_params(action: str, *, required_only: bool = False) -> dict[str, Any]:
    """Params that pass the gateway's validation for ``action``, from the catalog examples."""
    row = _rows()[action]
    params: dict[str, Any] = {}
    for param in row["params"]:
        name = param["name"]
        if name in ("instance_id", "access_token") or (required_only and not param["required"]):
            continue
        example = copy.deepcopy(param.get("example"))
        if example is None:
            continue
        if name == "format":
            continue  # getQrRaw's format is fixed by the gateway
        if param["type"].startswith("integer") and isinstance(example, str):
            example = int(example)
        _nest(params, name, example)
    for key, value in _FIXES.get(row["group"], {}).items():
        if key in params:
            params[key] = value
    for key in ("reply_to", "messageId", "messageIds"):
        params.pop(key, None) if not any(
            p["name"] == key and p["required"] for p in row["params"]
        ) else None
    params.update(copy.deepcopy(_OVERRIDES.get(action, {})))
    return params
