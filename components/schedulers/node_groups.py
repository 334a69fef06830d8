"""`KubernetesNodeGroups`: the EKS managed node groups of the factory's GPU fleets.

They are their own component because of the order AWS imposes: a launch template that sets the AMI
must carry a full nodeadm `NodeConfig` with the cluster's endpoint and CA (EKS user guide,
"Customize managed nodes with launch templates"), so the fleets' launch templates come after the
cluster, and the node groups after them. This component receives all of that at construction.
"""

import shlex
from collections.abc import Mapping
from typing import NotRequired, Required, TypedDict

import pulumi

# `pulumi.Input[T]` is `T | Awaitable[T] | "Output[T]"`, the last a string that `typing.get_type_hints`
# of this module's Args TypedDicts resolves in this module's namespace.
from pulumi.output import Output, T  # noqa: F401

from ..component_args import kubernetes_node_groups_issues, validate_component_args
from .kubernetes import KubernetesScheduler, NodeGroupArgs, node_group


def capacity_block_update_steps(region: str | None, cluster: str, group: str, nodes: int) -> list[str]:
    """The operator's procedure to update a capacity-block node group (new launch template or AMI).

    EKS requires a capacity-block node group to be scaled to zero before it is updated (EKS user
    guide, "Create a managed node group with Capacity Blocks for ML"): the block has no spare
    instance for a replacement. Drain the jobs first (Kueue or the drain deadline), then: scale to
    zero, `pulumi up` (the update finds no node to replace; without `--refresh`, so the program's
    size is not pushed back first), scale back to the planned size.
    """
    where = ["--region", region] if region else []
    base = ["aws", "eks", "update-nodegroup-config", *where, "--cluster-name", cluster, "--nodegroup-name", group]
    wait = ["aws", "eks", "wait", "nodegroup-active", *where, "--cluster-name", cluster, "--nodegroup-name", group]
    return [
        shlex.join([*base, "--scaling-config", f"minSize=0,maxSize={nodes},desiredSize=0"]),
        shlex.join(wait),
        "pulumi up",
        shlex.join([*base, "--scaling-config", f"minSize={nodes},maxSize={nodes},desiredSize={nodes}"]),
    ]


class KubernetesNodeGroupsArgs(TypedDict):
    cluster_name: Required[pulumi.Input[str]]
    """The EKS cluster the groups join."""
    resource_prefix: Required[str]
    """Prefix of the node groups' resource names (the scheduler component's name, for stable URNs)."""
    groups: Required[list[NodeGroupArgs]]
    """One group per placement domain, each with its launch template, node role and subnet."""
    tags: NotRequired[Mapping[str, str]]
    """Tags on every node group."""
    region: NotRequired[str]
    """The cluster's region, named in the capacity-block update commands."""


class KubernetesNodeGroups(pulumi.ComponentResource):
    """One managed node group per placement domain, exact size, from the fleet's launch template."""

    node_group_names: pulumi.Output[list[str]]
    capacity_block_updates: pulumi.Output[dict[str, list[str]]]
    """Per capacity-block node group, the commands that update it without spare capacity."""

    def __init__(
        self,
        name: str,
        args: KubernetesNodeGroupsArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        moved_from: KubernetesScheduler | None = None,
    ):
        """`moved_from`: the scheduler these groups were children of in 0.1; each group carries an alias
        to its old URN there, so upgrading moves them instead of replacing them (Pulumi docs,
        "Resource option: aliases")."""
        # The stack config's rules, before anything registers (`component_args`).
        validate_component_args(KubernetesNodeGroupsArgs, args, kubernetes_node_groups_issues)
        super().__init__("aifactory:index:KubernetesNodeGroups", name, None, opts)
        tags = dict(args.get("tags", {}))
        aliases = [pulumi.Alias(parent=moved_from)] if moved_from is not None else None
        groups = [
            node_group(
                f"{args['resource_prefix']}-{group['name']}",
                args["cluster_name"],
                group,
                tags,
                pulumi.ResourceOptions(parent=self, aliases=aliases),
            )
            for group in args["groups"]
        ]
        self.node_group_names = pulumi.Output.all(*[g.node_group_name for g in groups])
        region = args.get("region")
        blocks = [(g["name"], g["nodes"]) for g in args["groups"] if g.get("capacity_type") == "capacity-block"]

        def steps(cluster: str) -> dict[str, list[str]]:
            return {group: capacity_block_update_steps(region, cluster, group, nodes) for group, nodes in blocks}

        self.capacity_block_updates = pulumi.Output.from_input(args["cluster_name"]).apply(steps)
        self.register_outputs(
            {"node_group_names": self.node_group_names, "capacity_block_updates": self.capacity_block_updates}
        )
