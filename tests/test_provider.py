"""Other languages: the schema Pulumi infers from the components, generated offline and checked in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aifactory import COMPONENTS
from aifactory.provider import PROVIDER_NAME, provider_schema
from pulumi.provider.experimental.analyzer import Analyzer

from tests.golden import check_text

SCHEMA = Path(__file__).resolve().parent.parent / "provider" / "schema.json"


@pytest.mark.parametrize("component", COMPONENTS, ids=[c.__name__ for c in COMPONENTS])
def test_every_component_can_be_analyzed(component: type) -> None:
    result = Analyzer(PROVIDER_NAME).analyze([component])
    definition = result["component_definitions"][component.__name__]
    assert definition.inputs, f"{component.__name__} exposes no inputs"
    assert definition.outputs, f"{component.__name__} exposes no outputs"
    assert all(p.description for p in definition.inputs.values()), "every input is documented"


def test_checked_in_schema_is_current() -> None:
    schema = provider_schema()
    check_text(SCHEMA, json.dumps(schema, indent=2, sort_keys=True) + "\n", __file__)
    assert sorted(schema["resources"]) == sorted(f"aifactory:index:{c.__name__}" for c in COMPONENTS)
    for resource in schema["resources"].values():
        assert resource["isComponent"] is True


def test_provider_entry_point_hosts_every_component() -> None:
    text = (SCHEMA.parent / "__main__.py").read_text()
    assert "component_provider_host(list(COMPONENTS)" in text
    plugin = (SCHEMA.parent / "PulumiPlugin.yaml").read_text()
    assert "name: python" in plugin
