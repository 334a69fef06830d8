"""Other languages: the schema Pulumi infers from the components, generated offline and checked in."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pulumi
import pytest
from aifactory import COMPONENTS, FactoryNetwork
from aifactory.provider import PROVIDER_NAME, provider_schema
from pulumi.provider.experimental.analyzer import Analyzer

from tests.conftest import RunProgram
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


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


# Every component's args type, read from its constructor. AiFactory's two inputs are optional (a Python
# caller may pass `plan=` instead), so it has nothing Required and is checked for that below.
ARGS = [(c, typing.get_type_hints(c.__init__)["args"]) for c in COMPONENTS if c.__name__ != "AiFactory"]


@pytest.mark.parametrize(("component", "args"), ARGS, ids=[c.__name__ for c, _ in ARGS])
def test_required_args_are_required_in_the_schema(component: type, args: type) -> None:
    """Another language's SDK makes an input mandatory only when the schema lists it in requiredInputs."""
    schema = json.loads(SCHEMA.read_text())["resources"][f"aifactory:index:{component.__name__}"]
    required = {_camel(k) for k in args.__required_keys__}  # type: ignore[attr-defined]
    assert required, f"{args.__name__} marks no key Required"
    assert required == set(schema.get("requiredInputs", []))
    assert set(schema["inputProperties"]) == {_camel(k) for k in args.__annotations__}


def test_a_plan_time_arg_given_as_an_output_is_an_error_naming_it(run_program: RunProgram) -> None:
    def program() -> None:
        cidr = pulumi.Output.from_input("10.1.0.0/16")
        FactoryNetwork("net", {"cidr": cidr, "availability_zones": ["us-east-1a"], "region": "us-east-1"})  # type: ignore[typeddict-item]

    with pytest.raises(Exception, match="FactoryNetwork: `cidr` must be a plain value"):
        run_program(program)
