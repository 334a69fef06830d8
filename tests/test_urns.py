"""URN stability: a rename replaces a resource in production, so every example stack's URNs are
checked in; a change must be deliberate (with an alias when a resource is renamed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aifactory.cli.planrun import plan_stack

from tests.golden import check_text

GOLDEN = Path(__file__).resolve().parent / "golden" / "urns"
STACKS = ["dev", "commercial-us", "sovereign-eu", "slurm-datahall"]


@pytest.mark.parametrize("stack", STACKS)
def test_urns_match_the_checked_in_list(stack: str) -> None:
    urns = sorted(r.urn for r in plan_stack(stack).resources)

    def explain(expected: str, actual: str) -> str:
        removed = sorted(set(expected.splitlines()) - set(actual.splitlines()))
        added = sorted(set(actual.splitlines()) - set(expected.splitlines()))
        return (
            f"URNs changed for {stack}: {len(removed)} would be deleted (replaced), {len(added)} created.\n"
            f"removed: {removed[:5]}\nadded: {added[:5]}\n"
            "A rename needs `aliases=[pulumi.Alias(name=<old>)]`."
        )

    check_text(GOLDEN / f"{stack}.txt", "\n".join(urns) + "\n", __file__, explain)
