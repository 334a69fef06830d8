"""Kubernetes label keys and API versions the factory writes, defined once.

A top-level module (not under `schedulers/`) because the pure planners (`planning.placement`,
`planning.topology`) emit these names too and must not import the scheduler components.
"""

from __future__ import annotations

HOSTNAME_LABEL = "kubernetes.io/hostname"
"""Well-known label the kubelet sets to the node's hostname (Kubernetes "Well-Known Labels,
Annotations and Taints"); Kueue requires it as the last Topology level."""

AWS_NETWORK_LAYERS: tuple[str, ...] = (
    "topology.k8s.aws/network-node-layer-1",
    "topology.k8s.aws/network-node-layer-2",
    "topology.k8s.aws/network-node-layer-3",
)
"""EC2 network topology labels the AWS cloud-controller-manager sets from DescribeInstanceTopology,
broadest first (https://docs.aws.amazon.com/eks/latest/userguide/ml-workload-topology.html)."""

KUEUE_API = "kueue.x-k8s.io/v1beta2"
"""Kueue's storage version since v0.16 (kubernetes-sigs/kueue config/components/crd/bases @v0.19.2)."""
