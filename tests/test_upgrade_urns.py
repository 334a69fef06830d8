"""Upgrading from a release replaces nothing: every URN that 0.1.0 deployed is still a resource, or
is an alias of one (Pulumi moves an aliased resource instead of replacing it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aifactory.cli.planrun import plan_stack

RELEASED = Path(__file__).resolve().parent / "golden" / "urns" / "released-0.1.0"
STACKS = ["dev", "commercial-us", "sovereign-eu", "slurm-datahall"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_released_urn_is_kept_or_aliased(stack: str) -> None:
    resources = plan_stack(stack).resources
    current = {r.urn for r in resources}
    aliased = {alias: r.urn for r in resources for alias in r.aliases}
    released = (RELEASED / f"{stack}.txt").read_text().splitlines()
    lost = [urn for urn in released if urn not in current and urn not in aliased]
    assert not lost, f"{len(lost)} resources of 0.1.0 would be replaced on upgrade: {lost[:3]}"


def test_node_groups_moved_under_their_component_alias_their_scheduler_urns() -> None:
    resources = plan_stack("commercial-us").resources
    moved = {r.urn: r.aliases for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup" and r.aliases}
    assert moved == {
        "urn:pulumi:commercial-us::aifactory::aifactory:index:KubernetesNodeGroups$aws:eks/nodeGroup:NodeGroup::"
        f"commercial-us-eks-{group}": (
            "urn:pulumi:commercial-us::aifactory::aifactory:index:KubernetesScheduler$aws:eks/nodeGroup:NodeGroup::"
            f"commercial-us-eks-{group}",
        )
        for group in ("block-d0", "ondemand-d0")
    }
