"""The version is defined once (pyproject.toml); every manifest that repeats it must agree."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import aifactory
import yaml

REPO = Path(__file__).resolve().parent.parent


def project_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def test_package_reports_the_pyproject_version() -> None:
    assert aifactory.__version__ == project_version()


def test_policy_pack_manifest_has_the_same_version() -> None:
    manifest = yaml.safe_load((REPO / "policy" / "PulumiPolicy.yaml").read_text())
    assert manifest["version"] == project_version(), "bump policy/PulumiPolicy.yaml with pyproject.toml"


def test_component_provider_schema_has_the_same_version() -> None:
    schema = json.loads((REPO / "provider" / "schema.json").read_text())
    assert schema["version"] == project_version(), "regenerate provider/schema.json (UPDATE_GOLDEN=1)"
    plugin = yaml.safe_load((REPO / "provider" / "PulumiPlugin.yaml").read_text())
    # The plugin manifest carries no version of its own: the provider serves the package's.
    assert "version" not in plugin


def test_changelog_names_the_version() -> None:
    heading = re.search(r"^## (\S+)", (REPO / "CHANGELOG.md").read_text(), re.M)
    assert heading is not None and heading.group(1) in (project_version(), "Unreleased")
