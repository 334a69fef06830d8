"""Every example in `examples/` runs under the mock engine and declares its component's resources; every
public component has one."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import aifactory
import pytest

from tests.conftest import RunProgram

EXAMPLES = sorted(
    p.stem for p in (Path(__file__).resolve().parent.parent / "examples").glob("*.py") if p.stem != "__init__"
)


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_runs(run_program: RunProgram, example: str) -> None:
    module = importlib.import_module(f"examples.{example}")
    planned = run_program(module.main, stack="research")
    components = {r.type.removeprefix("aifactory:index:") for r in planned.resources if r.type.startswith("aifactory:")}
    assert components, f"examples/{example}.py declared no component"
    assert planned.outputs


def test_every_public_component_has_an_example() -> None:
    root = Path(__file__).resolve().parent.parent / "examples"
    constructed: set[str] = set()
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                constructed.add(node.func.id)
    missing = {c.__name__ for c in aifactory.COMPONENTS} - constructed
    assert not missing, f"no example constructs {sorted(missing)}"
