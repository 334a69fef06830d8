"""KubernetesScheduler under Pulumi mocks: what it registers, with which inputs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Resource, RunProgram


def register(run_program: RunProgram, args: dict[str, Any]) -> dict[str, Resource]:
    """Build the component under the mock engine; returns URN -> registration (type, name, inputs, state)."""
    from aifactory.schedulers.kubernetes import KubernetesScheduler

    def build() -> None:
        KubernetesScheduler("k8s", args)  # type: ignore[arg-type]

    plan = run_program(build, stack="test", region=args["region"], partition=args["partition"])
    return {r.urn: r for r in plan.resources}


def base_args(**extra: Any) -> dict[str, Any]:
    return {
        "version": "1.35",
        "region": "us-gov-west-1",
        "partition": "aws-us-gov",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "endpoint": "private",
        "node_groups": [
            {
                "name": "block",
                "fleet": "block",
                "instance_type": "p5en.48xlarge",
                "nodes": 2,
                "launch_template_id": "lt-1",
                "launch_template_version": "3",
                "subnet_id": "subnet-a",
                "node_role_arn": "arn:aws-us-gov:iam::123456789012:role/block",
                "capacity_type": "capacity-block",
                "capacity_block_end": "2026-12-15T11:30:00Z",
            },
            {
                "name": "ondemand",
                "fleet": "ondemand",
                "instance_type": "p5.48xlarge",
                "nodes": 2,
                "launch_template_id": "lt-2",
                "launch_template_version": "1",
                "subnet_id": "subnet-b",
                "node_role_arn": "arn:aws-us-gov:iam::123456789012:role/od",
                "capacity_type": "on-demand",
            },
        ],
        "queues": [
            {"name": "research", "namespace": "research", "gpu_quota": 16, "cohort": "all"},
            {"name": "product", "namespace": "product", "gpu_quota": 16, "cohort": "all"},
        ],
        "priorities": ["production-training", "fine-tuning", "evaluation"],
        "filesystem": {
            "file_system_id": "fs-1",
            "dns_name": "fs-1.fsx",
            "mount_name": "abc",
            "capacity_gib": 1200,
        },
        **extra,
    }


def of(regs: dict[str, Any], typ: str) -> list[Any]:
    return [r for urn, r in regs.items() if urn.split("::")[-2].endswith(f"${typ}") or urn.split("::")[-2] == typ]


@pytest.fixture(scope="module")
def sovereign(run_program: RunProgram) -> dict[str, Any]:
    return register(
        run_program,
        base_args(
            sovereign=True,
            endpoint="public",
            kms_key_arn="arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            registry_mirror="registry.example.internal/af",
        ),
    )


@pytest.fixture(scope="module")
def commercial(run_program: RunProgram) -> dict[str, Any]:
    return register(run_program, base_args(endpoint="public", public_access_cidrs=["203.0.113.0/24"]))


def test_sovereign_cluster_is_private_encrypted_and_logged(sovereign: dict[str, Any]) -> None:
    (cluster,) = of(sovereign, "aws:eks/cluster:Cluster")
    state = cluster.state
    assert state["vpcConfig"]["endpointPublicAccess"] is False and state["vpcConfig"]["endpointPrivateAccess"] is True
    assert state["encryptionConfig"]["provider"]["keyArn"].startswith("arn:aws-us-gov:kms:")
    assert state["encryptionConfig"]["resources"] == ["secrets"]
    assert set(state["enabledClusterLogTypes"]) >= {"api", "audit", "authenticator"}
    assert state["accessConfig"]["authenticationMode"] == "API"
    assert state["version"] == "1.35"


def test_commercial_public_endpoint_limited_to_cidrs(commercial: dict[str, Any]) -> None:
    (cluster,) = of(commercial, "aws:eks/cluster:Cluster")
    assert cluster.state["vpcConfig"]["endpointPublicAccess"] is True
    assert cluster.state["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert "encryptionConfig" not in cluster.state or not cluster.state["encryptionConfig"]


def test_node_groups_capacity_type_repair_and_taint(sovereign: dict[str, Any]) -> None:
    groups = {r.state.get("nodeGroupName", "system"): r.state for r in of(sovereign, "aws:eks/nodeGroup:NodeGroup")}
    assert groups["block"]["capacityType"] == "CAPACITY_BLOCK"
    assert groups["ondemand"]["capacityType"] == "ON_DEMAND"
    for name in ("block", "ondemand", "system"):
        assert groups[name]["nodeRepairConfig"]["enabled"] is True
    assert groups["block"]["launchTemplate"] == {"id": "lt-1", "version": "3"}
    assert groups["block"]["labels"]["aifactory.io/fleet"] == "block"
    assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in groups["block"]["taints"]


def test_addons_and_partition_aware_arns(sovereign: dict[str, Any]) -> None:
    names = {r.state["addonName"] for r in of(sovereign, "aws:eks/addon:Addon")}
    assert names == {
        "vpc-cni",
        "coredns",
        "kube-proxy",
        "eks-pod-identity-agent",
        "eks-node-monitoring-agent",
    }
    attachments = of(sovereign, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachments
    for att in attachments:
        assert att.state["policyArn"].startswith("arn:aws-us-gov:iam::aws:policy/")
    assert of(sovereign, "aws:eks/podIdentityAssociation:PodIdentityAssociation")[0].state["serviceAccount"] == (
        "fsx-csi-controller-sa"
    )


def test_releases_pinned_and_mirrored(sovereign: dict[str, Any]) -> None:
    releases = {r.state["name"]: r.state for r in of(sovereign, "kubernetes:helm.sh/v3:Release")}
    assert set(releases) == {
        "kueue",
        "jobset",
        "nvidia-device-plugin",
        "efa",
        "aws-fsx-csi-driver",
        "dcgm-exporter",
    }
    assert releases["kueue"]["version"] == "0.19.2" and releases["jobset"]["version"] == "0.12.0"
    for state in releases.values():
        assert state["chart"].startswith("oci://registry.example.internal/af/charts/")


def test_kueue_objects_and_drain_through_the_provider(sovereign: dict[str, Any]) -> None:
    kinds = {urn.split("::")[-2].split("$")[-1] for urn in sovereign}
    for token in (
        "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue",
        "kubernetes:kueue.x-k8s.io/v1beta2:Topology",
        "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor",
        "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue",
        "kubernetes:kueue.x-k8s.io/v1beta2:WorkloadPriorityClass",
        "kubernetes:core/v1:PersistentVolume",
        "kubernetes:core/v1:PersistentVolumeClaim",
        "kubernetes:batch/v1:CronJob",
    ):
        assert token in kinds, token
    (cron,) = of(sovereign, "kubernetes:batch/v1:CronJob")
    image = cron.state["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("registry.example.internal/af/")
    flavors = of(sovereign, "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor")
    assert {f.state["metadata"]["name"] for f in flavors} == {"block", "ondemand"}


def test_reserved_node_groups_update_without_spare_capacity(sovereign: dict[str, Any]) -> None:
    """A capacity block holds exactly its nodes: its updates terminate before they launch (MINIMAL);
    on-demand groups keep EKS's default surge."""
    groups = {r.state.get("nodeGroupName", "system"): r.state for r in of(sovereign, "aws:eks/nodeGroup:NodeGroup")}
    assert groups["block"]["updateConfig"] == {"maxUnavailable": 1, "updateStrategy": "MINIMAL"}
    assert groups["ondemand"]["updateConfig"] == {"maxUnavailable": 1}


def test_system_node_group_release_is_pinned_when_given(run_program: RunProgram, sovereign: dict[str, Any]) -> None:
    (unpinned,) = [r for r in of(sovereign, "aws:eks/nodeGroup:NodeGroup") if r.name.endswith("-system")]
    assert unpinned.inputs["amiType"] == "AL2023_x86_64_STANDARD" and "releaseVersion" not in unpinned.inputs
    regs = register(run_program, base_args(system_release_version="1.35.0-20261118"))
    (system,) = [r for r in of(regs, "aws:eks/nodeGroup:NodeGroup") if r.name.endswith("-system")]
    assert system.inputs["releaseVersion"] == "1.35.0-20261118"


def test_a_malformed_system_release_is_refused(run_program: RunProgram) -> None:
    with pytest.raises(Exception, match="not an EKS AMI release version"):
        register(run_program, base_args(system_release_version="latest"))


def test_node_repair_per_group_reaches_eks(run_program: RunProgram) -> None:
    from aifactory.planning.node_repair import node_repair_args
    from aifactory.spec.scheduler import NodeRepair

    args = base_args()
    args["node_groups"][0]["node_repair"] = node_repair_args(NodeRepair(), 64, "nvidia")
    args["system_node_repair"] = node_repair_args(NodeRepair(maxParallelNodesRepairedPercentage=50), 2, None)
    regs = register(run_program, args)
    groups = {r.state.get("nodeGroupName", "system"): r.state for r in of(regs, "aws:eks/nodeGroup:NodeGroup")}
    block = groups["block"]["nodeRepairConfig"]
    assert block["enabled"] is True
    assert block["maxUnhealthyNodeThresholdCount"] == 7 and block["maxParallelNodesRepairedCount"] == 2
    assert {
        "nodeMonitoringCondition": "AcceleratedHardwareReady",
        "nodeUnhealthyReason": "NvidiaXID79Error",
        "minRepairWaitTimeMins": 5,
        "repairAction": "Replace",
    } in block["nodeRepairConfigOverrides"]
    system = groups["system"]["nodeRepairConfig"]
    assert system["maxParallelNodesRepairedPercentage"] == 50 and system["maxUnhealthyNodeThresholdCount"] == 1
    # The system nodes have no accelerators: no GPU override.
    assert not system.get("nodeRepairConfigOverrides")
    # A group without settings keeps 0.1's plain `enabled`.
    assert groups["ondemand"]["nodeRepairConfig"] == {"enabled": True}
