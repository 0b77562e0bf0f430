"""The checked-in JSON Schemas under schemas/ are exactly what the contracts render."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wawp_gateway.docgen.schemas import render_schemas

SCHEMAS = Path(__file__).parents[2] / "schemas"
RENDERED = render_schemas()
TOPIC_SCHEMAS = sorted(name for name in RENDERED if name.endswith(".v1.json"))


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_checked_in_schema_is_fresh(name: str) -> None:
    """schemas/<name> equals the rendering of the pydantic contracts."""
    path = SCHEMAS / name
    assert path.is_file(), f"schemas/{name} is missing: run `make generate` (wawp-gateway generate)"
    assert path.read_text("utf-8") == RENDERED[name], (
        f"schemas/{name} is stale: run `make generate` (wawp-gateway generate)"
    )


def test_no_stray_schema_files() -> None:
    """Every file under schemas/ is one the code renders."""
    assert {p.name for p in SCHEMAS.glob("*.json")} == set(RENDERED)


def test_every_topic_value_has_a_schema() -> None:
    """command, result, delivery, state, events and the DLQ headers are each described."""
    assert set(TOPIC_SCHEMAS) >= {
        "event.v1.json",
        "command.v1.json",
        "result.v1.json",
        "delivery.v1.json",
        "state.v1.json",
        "dlq-headers.v1.json",
    }


@pytest.mark.parametrize("name", TOPIC_SCHEMAS)
def test_schemas_are_json_schema_objects_with_properties(name: str) -> None:
    """Each topic schema is a JSON Schema object with properties and its required fields."""
    schema = json.loads(RENDERED[name])
    assert schema["type"] == "object"
    assert schema["properties"]
    assert set(schema.get("required", [])) <= set(schema["properties"])


def test_command_schema_uses_the_wire_names() -> None:
    """The command schema names `schema` (not the Python alias) and requires the id."""
    schema = json.loads(RENDERED["command.v1.json"])
    assert "schema" in schema["properties"]
    assert "schema_" not in schema["properties"]
    assert {"schema", "id", "instance_id", "action"} <= set(schema["required"])
    assert schema["properties"]["id"]["maxLength"] == 128


def test_every_catalog_webhook_example_is_a_valid_event() -> None:
    """The 24 example envelopes of webhooks.json validate against the events schema, and
    their unknown fields are kept (events pass through unchanged)."""
    from importlib import resources

    from wawp_gateway.core.contracts import WebhookEnvelope

    catalog = json.loads((resources.files("wawp_gateway.wawp") / "webhooks.json").read_text())
    examples = [item["example"] for item in catalog["events"]]
    assert len(examples) == 24
    for example in examples:
        envelope = WebhookEnvelope.model_validate(example)
        assert envelope.model_dump(exclude_unset=True) == example
