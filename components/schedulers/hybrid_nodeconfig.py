"""nodeadm's `NodeConfig` for one EKS Hybrid Node: what `nodeadm init -c file://...` reads on the server.

EKS user guide, "Connect hybrid nodes" and "Hybrid nodes nodeadm reference": the hybrid NodeConfig names
the cluster (name and region; nodeadm looks up the rest with eks:DescribeCluster), the credential
provider (`spec.hybrid.ssm` or `spec.hybrid.iamRolesAnywhere`) and the kubelet's flags. The schema is
aws/eks-hybrid's `NodeConfig` CRD (v1.0.20). Pure: no Pulumi.

Deploy-time values are not known to a plan: the SSM activation's ID and code, the Roles Anywhere trust
anchor, profile and role ARNs. The file carries a placeholder for each that names the stack output to
fill it from. The activation code is a secret (whoever holds it can register machines as this cluster's
nodes until the activation expires), so it is never written to a rendered file: the stack exports it as
a Pulumi secret and the install step reads it with `pulumi stack output --show-secrets` on the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..spec.model import Taint
from ..spec.syntax import label_value_problem, qualified_name_problem

API_VERSION = "node.eks.aws/v1alpha1"
KIND = "NodeConfig"
OUTPUT = "hybridNodes"
"""The stack output that holds the deploy-time values (`AiFactory.exports`)."""


def placeholder(key: str, secret: bool = False) -> str:
    """What stands in a rendered file for the deploy-time value `hybridNodes.<key>`."""
    flag = " --show-secrets" if secret else ""
    return f"<pulumi stack output{flag} --json {OUTPUT} | jq -r .{key}>"


def kubelet_flags(labels: Mapping[str, str], taints: Sequence[Taint]) -> list[str]:
    """`--node-labels` and `--register-with-taints`, each value checked as Kubernetes would (kubelet
    refuses malformed labels and taints at start and the node never joins)."""
    for key, value in labels.items():
        problem = qualified_name_problem(key) or label_value_problem(value)
        if problem is not None:
            raise ValueError(f"node label {key}={value}: {problem}")
    flags = []
    if labels:
        flags.append("--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    if taints:
        flags.append("--register-with-taints=" + ",".join(str(t) for t in taints))
    return flags


def hybrid_node_config(
    *,
    cluster_name: str,
    region: str,
    node_name: str,
    credentials: Mapping[str, Any],
    labels: Mapping[str, str],
    taints: Sequence[Taint],
) -> dict[str, Any]:
    """One server's NodeConfig; `credentials` is `aifactory:hybrid.credentials` as the spec dumps it."""
    hybrid: dict[str, Any]
    if credentials["kind"] == "ssm":
        # With SSM the node's name is the managed instance ID (mi-...), which SSM picks; labels say which
        # server it is (EKS user guide, "Prepare credentials for hybrid nodes").
        hybrid = {
            "ssm": {
                "activationCode": placeholder("activationCode", secret=True),
                "activationId": placeholder("activationId"),
            }
        }
    else:
        # The node name is the role session name, which the trust policy ties to the certificate's CN.
        hybrid = {
            "iamRolesAnywhere": {
                "nodeName": node_name,
                "trustAnchorArn": placeholder("trustAnchorArn"),
                "profileArn": placeholder("profileArn"),
                "roleArn": placeholder("roleArn"),
                "certificatePath": credentials["certificate_path"],
                "privateKeyPath": credentials["private_key_path"],
            }
        }
    spec: dict[str, Any] = {"cluster": {"name": cluster_name, "region": region}, "hybrid": hybrid}
    flags = kubelet_flags(labels, taints)
    if flags:
        spec["kubelet"] = {"flags": flags}
    return {"apiVersion": API_VERSION, "kind": KIND, "spec": spec}


def server_labels_and_taints(
    fleet_name: str,
    server: str,
    fleet_labels: Mapping[str, str],
    server_labels: Mapping[str, str],
    fleet_taints: Sequence[Taint],
) -> tuple[dict[str, str], tuple[Taint, ...]]:
    """A hybrid server's labels (its rack, block and power cap from the plan, the fleet's) and taints: the
    same a managed node group of the fleet would give its nodes (`kubernetes.node_group`)."""
    from .kubernetes_manifests import FleetCapacity

    capacity = FleetCapacity(
        name=fleet_name,
        instance_type=None,
        server=server,
        nodes=1,
        labels=dict(fleet_labels),
        taints=tuple(fleet_taints),
    )
    labels = {**fleet_labels, **server_labels, **capacity.node_labels}
    if capacity.vendor == "nvidia":
        # The device plugin's and DCGM exporter's node selection (see kubernetes.node_group).
        labels["nvidia.com/gpu.present"] = "true"
    return labels, capacity.node_taints


__all__ = [
    "API_VERSION",
    "KIND",
    "OUTPUT",
    "hybrid_node_config",
    "kubelet_flags",
    "placeholder",
    "server_labels_and_taints",
]
