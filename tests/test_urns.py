"""URN stability: a rename replaces a resource in production, so every example stack's URNs are
checked in; a change must be deliberate (with an alias when a resource is renamed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aifactory.cli.planrun import plan_stack

from tests.stackfiles import EXAMPLE_STACKS

GOLDEN = Path(__file__).resolve().parent / "golden" / "urns"
STACKS = list(EXAMPLE_STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_urns_match_the_checked_in_list(stack: str) -> None:
    urns = sorted(r.urn for r in plan_stack(stack).resources)
    path = GOLDEN / f"{stack}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text("\n".join(urns) + "\n")
    expected = path.read_text().splitlines()
    removed = sorted(set(expected) - set(urns))
    added = sorted(set(urns) - set(expected))
    assert not removed and not added, (
        f"URNs changed for {stack}: {len(removed)} would be deleted (replaced), {len(added)} created.\n"
        f"removed: {removed[:5]}\nadded: {added[:5]}\n"
        "A rename or a new parent needs `pulumi.Alias` (tests/test_upgrade_urns.py checks 0.1.0's URNs); "
        "then refresh with UPDATE_GOLDEN=1."
    )
