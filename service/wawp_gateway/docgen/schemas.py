"""Files generated from the code and checked in: JSON Schemas, the AsyncAPI document, the
configuration and error references, the Grafana dashboard and the SDK's typed actions. A test
(and ``make test``) fails when one of them is stale."""

from __future__ import annotations

import json

from wawp_gateway.core.contracts import json_schemas
from wawp_gateway.docgen.asyncapi import asyncapi_document
from wawp_gateway.docgen.configdoc import render_config_reference
from wawp_gateway.docgen.errordoc import render_error_reference
from wawp_gateway.sdk.codegen import render_actions

__all__ = ["generated_files", "render_schemas"]


def render_schemas() -> dict[str, str]:
    """File name under ``schemas/`` -> text; stable output so a test can compare it."""
    documents = {**json_schemas(), "asyncapi.json": asyncapi_document()}
    return {
        name: json.dumps(document, indent=2, sort_keys=True) + "\n"
        for name, document in documents.items()
    }


def generated_files() -> dict[str, str]:
    """Path relative to the repository root -> text."""
    files = {f"schemas/{name}": text for name, text in render_schemas().items()}
    files["docs/configuration.md"] = render_config_reference()
    files["docs/errors.md"] = render_error_reference()
    # Imported on use: grafana-foundation-sdk is a dev dependency, not a runtime one.
    from wawp_gateway.ops.dashboard import render_dashboard

    files["deploy/grafana/wawp-gateway.json"] = render_dashboard()
    files["service/wawp_gateway/sdk/actions.py"] = render_actions()
    return files
