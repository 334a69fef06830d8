"""GpuFleet on every catalog type and capacity: EFA layout, IMDSv2, encryption, no public IP, and a
placement group exactly when the capacity allows one."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.catalog.instance_types import instance_types
from aifactory.catalog.regions import regions_offering, zones_offering
from aifactory.cli.engine import PlannedResource, run_program
from aifactory.invariants import block_device_violations, interface_layout_violations, metadata_violations
from aifactory.program import main as program_main
from aifactory.spec import spec_from_config

from tests.stackfiles import PINNED_IMAGES

EFA_TYPES = sorted(n for n, t in instance_types().items() if t.efa_capable)
CAPACITY = {
    "on-demand": {"type": "on-demand"},
    "spot": {"type": "spot"},
    "capacity-reservation": {"type": "capacity-reservation", "reservationId": "cr-0123456789abcdef0"},
    "capacity-block": {
        "type": "capacity-block",
        "reservationId": "cr-0123456789abcdef0",
        "endTime": "2026-12-01T12:00:00Z",
    },
}


def _region_and_zone(instance_type: str) -> tuple[str, str]:
    region = "us-east-2" if "us-east-2" in regions_offering(instance_type) else regions_offering(instance_type)[0]
    return region, (zones_offering(instance_type, region) or (f"{region}a",))[0]


def _plan(
    instance_type: str, capacity: dict[str, Any], scheduler: dict[str, Any] | None = None, profile: str = "commercial"
) -> list[PlannedResource]:
    region, zone = _region_and_zone(instance_type)
    config: dict[str, Any] = {
        "aws:region": region,
        "aifactory:profile": profile,
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": [
            {"name": "gpu", "instanceType": instance_type, "count": 4, "availabilityZone": zone, "capacity": capacity}
        ],
    }
    if profile == "sovereign":
        config["aifactory:sovereignty"] = {"allowedRegions": [region], "registryMirror": "mirror.internal"}
    if scheduler:
        config["aifactory:scheduler"] = scheduler
    spec = spec_from_config(config)
    return run_program(config, "fleet", spec.region, spec.partition, program_main).resources


def _launch_templates(resources: list[PlannedResource]) -> list[PlannedResource]:
    return [r for r in resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"]


@pytest.mark.parametrize("instance_type", EFA_TYPES)
def test_every_catalog_type_gets_a_valid_node_template(instance_type: str) -> None:
    resources = _plan(instance_type, CAPACITY["on-demand"])
    (lt,) = _launch_templates(resources)
    inputs = lt.inputs
    assert interface_layout_violations(inputs["networkInterfaces"], instance_type) == []
    cards = instance_types()[instance_type].network_cards
    assert {int(i["networkCardIndex"]) for i in inputs["networkInterfaces"]} == set(range(cards))
    assert metadata_violations(inputs["metadataOptions"]) == []
    assert block_device_violations(inputs["blockDeviceMappings"], require_cmk=False) == []
    assert all(i["associatePublicIpAddress"] == "false" for i in inputs["networkInterfaces"])
    assert inputs["instanceType"] == instance_type
    assert inputs["userData"]


def test_sovereign_root_volumes_use_the_factorys_key() -> None:
    resources = _plan("p5en.48xlarge", CAPACITY["capacity-reservation"], profile="sovereign")
    (lt,) = _launch_templates(resources)
    ebs = lt.inputs["blockDeviceMappings"][0]["ebs"]
    assert ebs["kmsKeyId"].startswith("arn:aws:kms:")
    assert block_device_violations(lt.inputs["blockDeviceMappings"], require_cmk=True) == []


@pytest.mark.parametrize("capacity", sorted(CAPACITY))
def test_placement_group_only_where_capacity_allows_one(capacity: str) -> None:
    resources = _plan("p5.48xlarge", CAPACITY[capacity])
    groups = [r for r in resources if r.type == "aws:ec2/placementGroup:PlacementGroup"]
    (lt,) = _launch_templates(resources)
    if capacity in ("on-demand", "spot"):
        assert len(groups) == 1 and groups[0].inputs["strategy"] == "cluster"
        assert "groupName" in lt.inputs["placement"]
    else:
        assert groups == [] and "placement" not in lt.inputs
        target = lt.inputs["capacityReservationSpecification"]["capacityReservationTarget"]
        assert target["capacityReservationId"] == "cr-0123456789abcdef0"
    market = lt.inputs.get("instanceMarketOptions", {}).get("marketType")
    assert market == {"capacity-block": "capacity-block", "spot": "spot"}.get(capacity)


@pytest.mark.parametrize("scheduler", [None, {"kind": "kubernetes"}])
def test_reservation_launches_into_the_cluster_group_it_was_made_in(scheduler: dict[str, Any] | None) -> None:
    arn = "arn:aws:ec2:us-east-2:123456789012:placement-group/train-cpg"
    resources = _plan("p5.48xlarge", {**CAPACITY["capacity-reservation"], "placementGroup": arn}, scheduler)
    (lt,) = [r for r in _launch_templates(resources) if "-gpu-" in r.name]
    assert lt.inputs["placement"] == {"groupName": "train-cpg"}  # the existing group, by name
    assert [r for r in resources if r.type == "aws:ec2/placementGroup:PlacementGroup"] == []
    target = lt.inputs["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target["capacityReservationId"] == "cr-0123456789abcdef0"


def test_partition_group_only_when_the_fleet_asks() -> None:
    region, zone = _region_and_zone("p5.48xlarge")
    fleet = {"name": "kv", "instanceType": "p5.48xlarge", "count": 6, "availabilityZone": zone}
    config: dict[str, Any] = {
        "aws:region": region,
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": [{**fleet, "placement": {"strategy": "partition", "partitions": 3}}],
    }
    resources = run_program(config, "fleet", region, "aws", program_main).resources
    (group,) = [r for r in resources if r.type == "aws:ec2/placementGroup:PlacementGroup"]
    assert (group.name, group.inputs["strategy"], group.inputs["partitionCount"]) == (
        "fleet-kv-kv-partition-0",
        "partition",
        3,
    )
    numbers = sorted(int(lt.inputs["placement"]["partitionNumber"]) for lt in _launch_templates(resources))
    assert numbers == [1, 2, 3]


def test_fleet_without_efa_gets_no_placement_group() -> None:
    region = "us-east-1"
    config: dict[str, Any] = {
        "aws:region": region,
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": [{"name": "inf", "instanceType": "g6.8xlarge", "count": 2, "efa": False}],
    }
    resources = run_program(config, "fleet", region, "aws", program_main).resources
    assert [r for r in resources if r.type == "aws:ec2/placementGroup:PlacementGroup"] == []
    (lt,) = _launch_templates(resources)
    assert "placement" not in lt.inputs


def test_autoscaling_group_per_domain_without_a_scheduler() -> None:
    resources = _plan("p5.48xlarge", CAPACITY["on-demand"])
    (group,) = [r for r in resources if r.type == "aws:autoscaling/group:Group"]
    assert group.inputs["desiredCapacity"] == group.inputs["minSize"] == group.inputs["maxSize"] == 4
    assert len(group.inputs["vpcZoneIdentifiers"]) == 1  # one subnet, one AZ


def test_kubernetes_node_templates_carry_the_eks_ami_and_no_subnet_or_profile() -> None:
    resources = _plan(
        "p5.48xlarge",
        CAPACITY["capacity-block"],
        scheduler={"kind": "kubernetes", "queues": [{"name": "q", "namespace": "t", "gpuQuota": 32}]},
    )
    (lt,) = [r for r in _launch_templates(resources) if "GpuFleet" in r.urn]
    assert lt.inputs["imageId"].startswith("ami-")
    assert "iamInstanceProfile" not in lt.inputs  # EKS managed node groups reject one
    assert all("subnetId" not in i for i in lt.inputs["networkInterfaces"])
    groups = [r for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup" and r.inputs.get("capacityType")]
    assert {g.inputs["capacityType"] for g in groups} >= {"CAPACITY_BLOCK"}
    assert all(g.inputs["nodeRepairConfig"]["enabled"] for g in groups)


def test_instance_role_has_no_wildcard_admin() -> None:
    resources = _plan("p5.48xlarge", CAPACITY["on-demand"])
    attachments = [r for r in resources if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"]
    attached = {r.inputs["policyArn"] for r in attachments}
    assert attached == {
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
    }


def test_capacity_block_drain_deadline_is_30_minutes_before_the_end() -> None:
    from aifactory.fleet import drain_deadline

    assert drain_deadline("2026-12-01T12:00:00Z") == "2026-12-01T11:30:00+00:00"
    assert drain_deadline(None) is None


def test_eks_node_interfaces_carry_the_cluster_security_group(run_program: Any) -> None:
    """A launch template that names security groups keeps EKS from adding its cluster group, the one
    that lets the control plane reach the kubelet and the nodes reach CoreDNS on the system nodes."""
    region, zone = _region_and_zone("p5.48xlarge")
    config: dict[str, Any] = {
        "aws:region": region,
        "aifactory:profile": "commercial",
        "aifactory:fleets": [{"name": "gpu", "instanceType": "p5.48xlarge", "count": 2, "availabilityZone": zone}],
        "aifactory:scheduler": {"kind": "kubernetes", "queues": [{"name": "q", "namespace": "t", "gpuQuota": 16}]},
        "aifactory:images": PINNED_IMAGES,
    }
    resources = run_program(program_main, config, region=region).resources
    (cluster,) = [r for r in resources if r.type == "aws:eks/cluster:Cluster"]
    cluster_sg = cluster.state["vpcConfig"]["clusterSecurityGroupId"]
    groups = {r.name.rsplit("-", 1)[1]: r.id for r in resources if r.type == "aws:ec2/securityGroup:SecurityGroup"}
    templates = [r for r in resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"]
    (gpu,) = [t for t in templates if "GpuFleet" in t.urn]
    assert len(gpu.inputs["networkInterfaces"]) == 33
    for interface in gpu.inputs["networkInterfaces"]:
        assert interface["securityGroups"] == [groups["efa"], groups["nodes"], cluster_sg]
    # The system nodes' template names no groups, so EKS puts them in the cluster group.
    (system,) = [t for t in templates if "KubernetesScheduler" in t.urn]
    assert "networkInterfaces" not in system.inputs and "vpcSecurityGroupIds" not in system.inputs
    (system_group,) = [r for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup" and r.name.endswith("-system")]
    assert "remoteAccess" not in system_group.inputs


def test_fleets_without_eks_carry_the_efa_and_node_groups_only() -> None:
    resources = _plan("p5.48xlarge", CAPACITY["on-demand"])
    (lt,) = _launch_templates(resources)
    assert {len(i["securityGroups"]) for i in lt.inputs["networkInterfaces"]} == {2}


@pytest.mark.parametrize(
    ("scheduler", "hops"),
    [
        (None, 2.0),
        ({"kind": "slurm", "partitions": [{"name": "p", "fleets": ["gpu"]}]}, 1.0),
        ({"kind": "kubernetes", "queues": [{"name": "q", "namespace": "t", "gpuQuota": 32}]}, 1.0),
    ],
)
def test_node_hop_limit_is_one_unless_containers_on_a_bridge_may_need_two(
    scheduler: dict[str, Any] | None, hops: float
) -> None:
    # 0.1 gave every fleet hop limit 2: pods and jobs could take the node role from IMDS.
    resources = _plan("p5.48xlarge", CAPACITY["on-demand"], scheduler)
    templates = _launch_templates(resources)
    assert templates
    for lt in templates:
        assert lt.inputs["metadataOptions"]["httpPutResponseHopLimit"] == hops, lt.name
        assert lt.inputs["metadataOptions"]["httpTokens"] == "required"


def test_gpu_power_limit_with_its_reason_is_applied_at_boot() -> None:
    import base64

    region = "us-east-1"
    fleet = {"name": "study", "instanceType": "p5.48xlarge", "count": 2, "availabilityZone": "us-east-1a"}
    config: dict[str, Any] = {
        "aws:region": region,
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": [{**fleet, "gpuPowerLimit": {"watts": 500, "reason": "throughput-study"}}],
    }
    resources = run_program(config, "fleet", region, "aws", program_main).resources
    (lt,) = _launch_templates(resources)
    user_data = base64.b64decode(lt.inputs["userData"]).decode()
    assert "ExecStart=/usr/bin/nvidia-smi -pl 500" in user_data
    uncapped = run_program({**config, "aifactory:fleets": [fleet]}, "fleet", region, "aws", program_main).resources
    (lt,) = _launch_templates(uncapped)
    assert "nvidia-smi -pl" not in base64.b64decode(lt.inputs["userData"]).decode()
