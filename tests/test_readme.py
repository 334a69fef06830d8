"""The README's list of example stacks names exactly the stack files in `stacks/`."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_example_stacks(text: str) -> list[str]:
    """The stacks the README's "Example stacks:" paragraph names: each backticked name outside the
    parentheses that describe it (`dev` (two EFA-capable g6.8xlarge, ...), `commercial-us` (...))."""
    start = text.index("Example stacks:")
    paragraph = text[start : text.find("\n\n", start)]
    names: list[str] = []
    depth = 0
    for match in re.finditer(r"[()]|`([^`]*)`", paragraph):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            names.append(match.group(1))
    return names


def test_the_readme_lists_every_example_stack_once() -> None:
    listed = readme_example_stacks((ROOT / "README.md").read_text())
    files = sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (ROOT / "stacks").glob("Pulumi.*.yaml")
    )
    assert len(listed) == len(set(listed)), f"listed twice: {listed}"
    assert sorted(listed) == files


def test_the_list_format_is_read_as_written() -> None:
    text = "Example stacks: `a` (x `not-a-stack` (nested `b`)), `c-d` (y).\n\nnext"
    assert readme_example_stacks(text) == ["a", "c-d"]
