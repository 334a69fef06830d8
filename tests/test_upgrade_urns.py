"""Upgrading from a release replaces nothing: every URN that 0.1.0 deployed is still a resource, or
is an alias of one (Pulumi moves an aliased resource instead of replacing it), or, for the
Kubernetes side of a private-endpoint factory, is moved to the cluster stack by the documented
`pulumi state move` and adopted there through an alias of its moved URN."""

from __future__ import annotations

from pathlib import Path

import pytest
from aifactory.cli.planrun import plan_stack

ROOT = Path(__file__).resolve().parent.parent
RELEASED = ROOT / "tests" / "golden" / "urns" / "released-0.1.0"
# 0.1.0's slurm-datahall example racked EC2 instances; it is replaced by slurm-aws (EC2, no site) and
# sovereign-datahall (the customer's own servers), neither of which 0.1.0 deployed.
STACKS = ["dev", "commercial-us", "sovereign-eu"]
SPLIT_STACKS = ["commercial-us", "sovereign-eu"]


def moved(urn: str) -> str:
    """Where `pulumi state move --dest <org>/aifactory-cluster/<stack>` puts a 0.1 URN: only the
    project changes (pulumi/pulumi pkg/cmd/pulumi/state/state_move.go, renameStackAndProject)."""
    return urn.replace("::aifactory::", "::aifactory-cluster::", 1)


@pytest.mark.parametrize("stack", STACKS)
def test_every_released_urn_is_kept_aliased_or_moved(stack: str) -> None:
    result = plan_stack(stack)
    resources = result.resources
    current = {r.urn for r in resources}
    aliased = {alias: r.urn for r in resources for alias in r.aliases}
    released = (RELEASED / f"{stack}.txt").read_text().splitlines()
    lost = [urn for urn in released if urn not in current and urn not in aliased]
    # Moved to the cluster stack: adopted there by an alias of the moved URN (providers are copied
    # by the move, the rest listed in the move command the plan prints).
    cluster = {alias for r in result.stacks.get("aifactory-cluster", []) for alias in r.aliases}
    dropped = [urn for urn in lost if moved(urn) not in cluster]
    assert not dropped, f"{len(dropped)} resources of 0.1.0 would be replaced on upgrade: {dropped[:3]}"
    movable = [urn for urn in lost if "$pulumi:providers:" not in urn]
    assert sorted(movable) == result.moves


@pytest.mark.parametrize("stack", SPLIT_STACKS)
def test_private_endpoint_stacks_move_exactly_their_kubernetes_side(stack: str) -> None:
    result = plan_stack(stack)
    released = (RELEASED / f"{stack}.txt").read_text().splitlines()
    kubernetes_side = [u for u in released if "$kubernetes:" in u or "$pulumi:providers:kubernetes" in u]
    current = {r.urn for r in result.resources} | {a for r in result.resources for a in r.aliases}
    assert kubernetes_side and not [u for u in kubernetes_side if u in current]
    assert sorted(u for u in kubernetes_side if "$pulumi:providers:" not in u) == result.moves


def test_changelog_documents_the_move() -> None:
    notes = (ROOT / "CHANGELOG.md").read_text()
    assert "pulumi state move --source" in notes and "aifactory-cluster" in notes


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
