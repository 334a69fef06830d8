"""Golden files: compare what the code produces with the checked-in copy, or refresh the copy.

One switch for every golden file in the suite: `UPDATE_GOLDEN=1` rewrites the checked-in copies
(review the diff before committing). Without it a difference fails with the command that refreshes it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

VARIABLE = "UPDATE_GOLDEN"
DIFF_LINES = 40


def _diff(name: str, expected: str, actual: str) -> str:
    lines = list(
        difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), f"{name} (checked in)", f"{name} (now)", lineterm=""
        )
    )
    more = f"\n... {len(lines) - DIFF_LINES} more diff lines" if len(lines) > DIFF_LINES else ""
    return "\n".join(lines[:DIFF_LINES]) + more


def updating() -> bool:
    """True when this run refreshes the golden files instead of checking them."""
    return os.environ.get(VARIABLE) == "1"


def refresh_command(test_file: str | Path) -> str:
    """The command that rewrites the golden files `test_file` checks."""
    path = Path(test_file)
    root = Path(__file__).resolve().parent.parent
    shown = path.resolve().relative_to(root) if path.resolve().is_relative_to(root) else path
    return f"{VARIABLE}=1 pytest {shown}"


def check_text(
    golden: Path,
    actual: str,
    test_file: str | Path,
    explain: Callable[[str, str], str] | None = None,
) -> None:
    """Fail unless `actual` equals the golden file (with UPDATE_GOLDEN=1, write it first).

    `explain(expected, actual)` may describe the difference better than pytest's text diff."""
    if updating():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
    hint = f"review the change, then refresh with `{refresh_command(test_file)}`"
    if not golden.is_file():
        pytest.fail(f"missing golden file {golden}; {hint}")
    expected = golden.read_text()
    if actual != expected:
        detail = explain(expected, actual) if explain is not None else _diff(golden.name, expected, actual)
        pytest.fail(f"{golden} changed:\n{detail}\n{hint}")


def check_tree(directory: Path, actual: Mapping[str, str], test_file: str | Path) -> None:
    """Fail unless `directory` holds exactly the files of `actual` (name -> text), refreshing it with
    UPDATE_GOLDEN=1 (files no longer produced are removed)."""
    if updating():
        directory.mkdir(parents=True, exist_ok=True)
        for stale in set(p.name for p in directory.iterdir()) - set(actual):
            (directory / stale).unlink()
        for name, text in actual.items():
            (directory / name).write_text(text)
    hint = f"review the change, then refresh with `{refresh_command(test_file)}`"
    present = {p.name for p in directory.iterdir()} if directory.is_dir() else set()
    if present != set(actual):
        pytest.fail(
            f"{directory}: missing {sorted(set(actual) - present)}, unexpected {sorted(present - set(actual))}; {hint}"
        )
    changed = {name: text for name, text in sorted(actual.items()) if (directory / name).read_text() != text}
    if changed:
        diffs = "\n".join(_diff(name, (directory / name).read_text(), text) for name, text in changed.items())
        pytest.fail(f"{directory}: {', '.join(changed)} changed:\n{diffs}\n{hint}")
