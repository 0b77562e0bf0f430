"""The checked-in JSON Schemas under ``schemas/``, rendered from the pydantic contracts."""

from __future__ import annotations

import json

from wawp_gateway.contracts import json_schemas

__all__ = ["render_schemas"]


def render_schemas() -> dict[str, str]:
    """File name -> file text; stable output so a test can compare it with the repository."""
    return {
        name: json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in json_schemas().items()
    }
