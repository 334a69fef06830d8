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
