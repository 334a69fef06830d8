"""Every third-party package the library imports is a runtime dependency, so `pip install .`
alone is enough for `aifactory plan` and `render` (the README's first command)."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imported_top_level_modules() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "components").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"aifactory"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        _normalise(req.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip())
        for req in project["dependencies"]
    }


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


# Imported only by the CrossGuard pack's builder (`build_policies`), which runs in policy/'s own
# environment (policy/requirements.txt), never by plan or render.
PACK_ONLY = {"pulumi_policy"}
# Imported only by programs shipped into a container and run there with the image's own packages
# (`schedulers/registry_publish.py` in the MLflow image), never by plan or render.
CONTAINER_ONLY = {"mlflow"}


def test_every_imported_package_is_a_runtime_dependency() -> None:
    distributions = metadata.packages_distributions()
    missing = []
    for module in sorted(_imported_top_level_modules() - PACK_ONLY - CONTAINER_ONLY):
        owners = {_normalise(d) for d in distributions.get(module, [])}
        if not owners & _declared():
            missing.append(f"{module} (from {sorted(owners) or 'unknown distribution'})")
    assert not missing, f"imported by components/ but not in [project].dependencies: {missing}"


@pytest.mark.parametrize("module", sorted(PACK_ONLY | CONTAINER_ONLY))
def test_pack_and_container_only_modules_are_imported_lazily(module: str) -> None:
    for path in (ROOT / "components").rglob("*.py"):
        body = ast.parse(path.read_text()).body
        top_level: set[str] = set()
        for node in body:
            if isinstance(node, ast.Import):
                top_level.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top_level.add(node.module.split(".")[0])
        assert module not in top_level, path
