"""`KubernetesNodeGroups`: the EKS managed node groups of the factory's GPU fleets.

They are their own component because of the order AWS imposes: a launch template that sets the AMI
must carry a full nodeadm `NodeConfig` with the cluster's endpoint and CA (EKS user guide,
"Customize managed nodes with launch templates"), so the fleets' launch templates come after the
cluster, and the node groups after them. This component receives all of that at construction.
"""

from collections.abc import Mapping
from typing import NotRequired, Required, TypedDict

import pulumi

from .kubernetes import KubernetesScheduler, NodeGroupArgs, node_group


class KubernetesNodeGroupsArgs(TypedDict):
    cluster_name: Required[pulumi.Input[str]]
    """The EKS cluster the groups join."""
    resource_prefix: Required[str]
    """Prefix of the node groups' resource names (the scheduler component's name, for stable URNs)."""
    groups: Required[list[NodeGroupArgs]]
    """One group per placement domain, each with its launch template, node role and subnet."""
    tags: NotRequired[Mapping[str, str]]
    """Tags on every node group."""


class KubernetesNodeGroups(pulumi.ComponentResource):
    """One managed node group per placement domain, exact size, from the fleet's launch template."""

    node_group_names: pulumi.Output[list[str]]

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
        self.register_outputs({"node_group_names": self.node_group_names})
