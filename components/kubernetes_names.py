"""Kubernetes label keys and API versions the factory writes, defined once.

A top-level module (not under `schedulers/`) because the pure planners (`planning.placement`,
`planning.topology`) emit these names too and must not import the scheduler components.
"""

from __future__ import annotations

HOSTNAME_LABEL = "kubernetes.io/hostname"
"""Well-known label the kubelet sets to the node's hostname (Kubernetes "Well-Known Labels,
Annotations and Taints"); Kueue requires it as the last Topology level."""

AWS_NETWORK_LAYER_PREFIX = "topology.k8s.aws/network-node-layer-"
"""EC2 network topology labels EKS sets from DescribeInstanceTopology: `-1` is the top of the
network hierarchy (broadest), `-3` the bottom for most types, `-4` only on types with four layers
(EKS user guide, "Place distributed AI/ML workloads with network topology labels"). The numbering
follows the order of DescribeInstanceTopology's NetworkNodes, a top-down view with the bottom node
connected to the instance (EC2 user guide, "How Amazon EC2 topology works")."""


def aws_network_layers(layers: int) -> tuple[str, ...]:
    """The network-node-layer label keys of a type with `layers` layers, broadest first."""
    return tuple(f"{AWS_NETWORK_LAYER_PREFIX}{n}" for n in range(1, layers + 1))


AWS_NETWORK_LAYERS: tuple[str, ...] = aws_network_layers(3)
"""The three layers every supported type reports."""

TOPOLOGY_NAME = "aifactory"
"""0.1's one Kueue Topology: the one a caller's own levels get, and EC2's three-layer one."""

DATAHALL_TOPOLOGY_NAME = f"{TOPOLOGY_NAME}-datahall"
"""The Kueue Topology of a data hall's servers (block, rack, host). Its own name, so a stack with EC2
fleets beside the hall keeps both (a flavor's `topologyName` is immutable, see below)."""

AWS_TOPOLOGY_NAMES: dict[int, str] = {3: TOPOLOGY_NAME, 4: f"{TOPOLOGY_NAME}-4-layer"}
"""Kueue Topology per EC2 layer count. The three-layer one keeps 0.1's name and levels: a
ResourceFlavor's `topologyName` is immutable (ResourceFlavor CEL rule, kueue
apis/kueue/v1beta2/resourceflavor_types.go @v0.19.2), so renaming it would strand every flavor."""


def aws_topology_levels(layers: int) -> tuple[str, ...]:
    """Kueue levels for an EC2 type with `layers` layers: the layers broadest first, hostname last
    (Kueue accepts `kubernetes.io/hostname` only as the last level, apis/kueue/v1beta2/topology_types.go)."""
    return (*aws_network_layers(layers), HOSTNAME_LABEL)


KUEUE_API = "kueue.x-k8s.io/v1beta2"
"""Kueue's storage version since v0.16 (kubernetes-sigs/kueue config/components/crd/bases @v0.19.2)."""
