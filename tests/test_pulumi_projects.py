"""Both Pulumi projects are valid project files and read the same stack files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "pulumi" / "project.schema.json").read_text())
PROJECTS = {"aifactory": ROOT / "Pulumi.yaml", "aifactory-cluster": ROOT / "cluster" / "Pulumi.yaml"}


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("project", PROJECTS)
def test_project_file_matches_the_pulumi_schema(project: str) -> None:
    document = load(PROJECTS[project])
    jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate(document)
    assert document["name"] == project


def test_schema_rejects_what_pulumi_rejects() -> None:
    validator = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
    assert not validator.is_valid({"name": "aifactory"})  # no runtime
    assert not validator.is_valid({"name": "x", "runtime": {"name": "python", "toolchain": "pip"}})


def test_both_projects_read_the_same_stack_files_and_have_a_program() -> None:
    dirs = set()
    for path in PROJECTS.values():
        document = load(path)
        config_dir = (path.parent / document["stackConfigDir"]).resolve()
        dirs.add(config_dir)
        main = path.parent / document.get("main", "")
        assert (main if main.suffix == ".py" else main / "__main__.py").is_file()
    assert dirs == {(ROOT / "stacks").resolve()}


def test_cluster_program_runs_the_cluster_entry_point() -> None:
    source = (ROOT / "cluster" / "__main__.py").read_text()
    assert "main_cluster()" in source


# Pulumi project file reference, "config options" (pulumi/pulumi sdk/go/common/workspace/project.go):
# a project-namespaced key declares `type` (string, integer, boolean, array of those) and may have a
# default; without one, every stack must set it.
PULUMI_TYPES = {"string": str, "integer": int, "boolean": bool}


def _declared() -> dict[str, Any]:
    return load(PROJECTS["aifactory"]).get("config") or {}


def test_infrastructure_project_declares_the_config_the_model_derives() -> None:
    from aifactory.spec.schema import project_config

    assert _declared() == project_config(), "copy aifactory.spec.schema.project_config() into Pulumi.yaml"


def test_declared_keys_are_exactly_the_model_keys_pulumi_can_type() -> None:
    from aifactory.spec.model import FactorySpec
    from aifactory.spec.schema import stack_schema

    config = stack_schema()["properties"]["config"]
    model_keys = {f.alias or n for n, f in FactorySpec.model_fields.items() if n != "region"}
    declared = set(_declared())
    assert declared <= model_keys, f"Pulumi.yaml declares keys the model does not have: {declared - model_keys}"
    for key in model_keys - declared:
        prop = config["properties"][f"aifactory:{key}"]
        scalar = prop.get("type") in PULUMI_TYPES or (
            prop.get("type") == "array" and prop.get("items", {}).get("type") in PULUMI_TYPES
        )
        optional_without_default = key not in config["required"] and prop.get("default") is None
        assert not scalar or optional_without_default, f"aifactory:{key} can be declared in Pulumi.yaml"
    assert "profile" in declared


def test_every_example_stack_meets_the_declared_config() -> None:
    """What `pulumi up` checks before the program runs: every declared key without a default is set, with
    a value of its declared type."""
    for stack in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        config = load(stack)["config"]
        for key, declaration in _declared().items():
            value = config.get(f"aifactory:{key}")
            if value is None:
                assert "default" in declaration, f"{stack.name} lacks aifactory:{key}, which Pulumi.yaml requires"
                continue
            assert isinstance(value, PULUMI_TYPES[declaration["type"]]), (stack.name, key)


def test_cluster_project_declares_no_keys_outside_its_namespace() -> None:
    # Its stacks' keys are aifactory:* and aws:region: not the aifactory-cluster namespace, so a project
    # file could only pin them to one value (`value:`) for every stack.
    assert "config" not in load(PROJECTS["aifactory-cluster"])
