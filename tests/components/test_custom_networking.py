"""VPC CNI custom networking at scale (4,000 p5 nodes in four zones, the most p5 nodes one VPC's Network
Address Usage allows with it is near 4,900), and the 100k-GPU example's node groups and templates: what the
program registers for them."""

from __future__ import annotations

import base64
import email
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.cli.planrun import plan_stack

STACK = "commercial-100k"
NODES_PER_ZONE = 1000


def _custom_networking_stack() -> dict[str, Any]:
    """Four p5 capacity reservations, one a zone, under EKS with custom networking."""
    fleets = [
        {
            "name": f"res-{z}",
            "instanceType": "p5.48xlarge",
            "count": NODES_PER_ZONE,
            "availabilityZone": f"us-east-1{z}",
            "capacity": {"type": "capacity-reservation", "reservationId": f"cr-0a1b2c3d4e5f60{z}0{i}"},
        }
        for i, z in enumerate("abcd")
    ]
    example = yaml.safe_load(Path(f"stacks/Pulumi.{STACK}.yaml").read_text())["config"]
    return {
        "config": {
            "aws:region": "us-east-1",
            "aifactory:profile": "commercial",
            "aifactory:network": {
                "cidr": "10.96.0.0/16",
                "availabilityZones": [f"us-east-1{z}" for z in "abcd"],
                "zoneSlots": 4,
                "networkAddressUsageQuota": 256_000,
            },
            "aifactory:fleets": fleets,
            "aifactory:scheduler": {
                **example["aifactory:scheduler"],
                "podNetwork": {"addressing": "custom-networking", "trainingPodsPerNode": 8},
                "serviceQuotas": {"networkInterfacesPerRegion": 140_000},
                "queues": [{"name": "train", "namespace": "train", "gpuQuota": 4 * NODES_PER_ZONE * 8}],
            },
            "aifactory:images": example["aifactory:images"],
        }
    }


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("stacks")
    (folder / "Pulumi.custom-net.yaml").write_text(yaml.safe_dump(_custom_networking_stack()))
    return plan_stack("custom-net", str(folder)).as_json()


@pytest.fixture(scope="module")
def example() -> list[dict[str, Any]]:
    return plan_stack(STACK).as_json()["resources"]


@pytest.fixture(scope="module")
def resources(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return plan["resources"]


def test_the_plan_json_carries_the_address_budget_per_zone(plan: dict[str, Any]) -> None:
    budget = plan["address_budget"]
    assert budget["addressing"] == "custom-networking" and budget["cidr_blocks"] == 5
    assert budget["network_interfaces"] == 4 * NODES_PER_ZONE * 34 + 3 * 2
    zones = {z["availability_zone"]: z for z in budget["zones"]}
    assert zones["us-east-1b"] == {
        "availability_zone": "us-east-1b",
        "nodes": NODES_PER_ZONE,
        "node_subnet": zones["us-east-1b"]["node_subnet"],
        "node_addresses": NODES_PER_ZONE,
        "node_capacity": zones["us-east-1b"]["node_capacity"],
        "pod_subnet": "100.65.0.0/16",
        "pod_addresses": NODES_PER_ZONE * 18,
        "pod_capacity": 65_531,
        "network_interfaces": NODES_PER_ZONE * 34,
    }


def _of(resources: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["type"] == type_]


def test_each_zone_has_a_pod_subnet_in_a_secondary_cidr_block(resources: list[dict[str, Any]]) -> None:
    blocks = {
        r["inputs"]["cidrBlock"]
        for r in _of(resources, "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation")
    }
    assert blocks == {"100.64.0.0/16", "100.65.0.0/16", "100.66.0.0/16", "100.67.0.0/16"}
    pod_subnets = {
        r["inputs"]["availabilityZone"]: r["inputs"]["cidrBlock"]
        for r in _of(resources, "aws:ec2/subnet:Subnet")
        if r["inputs"]["cidrBlock"] in blocks
    }
    assert sorted(pod_subnets.values()) == sorted(blocks)
    assert set(pod_subnets) == {"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"}


def test_the_vpc_cni_addon_turns_custom_networking_on_with_an_eniconfig_per_zone(
    resources: list[dict[str, Any]],
) -> None:
    (cni,) = [r for r in _of(resources, "aws:eks/addon:Addon") if r["inputs"]["addonName"] == "vpc-cni"]
    values = json.loads(cni["inputs"]["configurationValues"])
    assert values["env"]["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] == "true"
    assert values["env"]["ENI_CONFIG_LABEL_DEF"] == "topology.kubernetes.io/zone"
    assert values["eniConfig"]["create"] is True
    assert set(values["eniConfig"]["subnets"]) == {"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"}
    (cluster,) = _of(resources, "aws:eks/cluster:Cluster")
    (nodes,) = [
        r for r in _of(resources, "aws:ec2/securityGroup:SecurityGroup") if r["name"].endswith("-network-nodes")
    ]
    # The node group and the cluster group (the control plane reaches the controllers' webhooks).
    expected = [nodes["id"], cluster["outputs"]["vpcConfig"]["clusterSecurityGroupId"]]
    for subnet in values["eniConfig"]["subnets"].values():
        assert subnet["securityGroups"] == expected
    others = [r for r in _of(resources, "aws:eks/addon:Addon") if r["inputs"]["addonName"] != "vpc-cni"]
    assert all("configurationValues" not in r["inputs"] for r in others)


def test_gpu_nodes_boot_with_the_planned_max_pods(resources: list[dict[str, Any]]) -> None:
    templates = [r for r in _of(resources, "aws:ec2/launchTemplate:LaunchTemplate") if "userData" in r["inputs"]]
    assert len(templates) == 4
    for template in templates:
        message = email.message_from_string(base64.b64decode(template["inputs"]["userData"]).decode())
        (part,) = [p for p in message.walk() if p.get_content_type() == "application/node.eks.aws"]
        doc = yaml.safe_load(part.get_payload())
        assert doc["spec"]["kubelet"]["config"] == {"maxPods": 16}


def test_node_groups_stay_within_the_quotas(example: list[dict[str, Any]]) -> None:
    groups = _of(example, "aws:eks/nodeGroup:NodeGroup")
    assert len(groups) == 29  # 4 domains x 7 groups and the system group, within L-6D54EA21's 30
    gpu = [
        g for g in groups if g["inputs"].get("capacityType") == "ON_DEMAND" and "aifactory:fleet" in g["inputs"]["tags"]
    ]
    assert sum(g["inputs"]["scalingConfig"]["desiredSize"] for g in gpu) == 12_500
    assert max(g["inputs"]["scalingConfig"]["maxSize"] for g in gpu) <= 450


def test_launch_templates_and_security_group_rules_stay_far_below_their_quotas(
    example: list[dict[str, Any]],
) -> None:
    resources = example
    # EC2 User Guide, "Restrictions" of launch templates: 5,000 launch templates per Region. VPC User
    # Guide, "Amazon VPC quotas": 60 inbound and 60 outbound rules per security group (L-0EA8095F), 5
    # security groups per network interface (L-2AFB9258). One template per placement domain, whatever
    # the fleet's size, and rules per group, not per node, keep a 12,500-node factory at a handful.
    assert len(_of(resources, "aws:ec2/launchTemplate:LaunchTemplate")) == 5
    groups = {r["name"] for r in _of(resources, "aws:ec2/securityGroup:SecurityGroup")}
    for kind in (
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    ):
        assert len(_of(resources, kind)) <= 60 * len(groups)
    interfaces = [
        i
        for t in _of(resources, "aws:ec2/launchTemplate:LaunchTemplate")
        for i in t["inputs"].get("networkInterfaces", [])
    ]
    assert len(interfaces) == 4 * 9  # p6-b200: the primary and 8 EFA-only interfaces
    assert all(1 <= len(i["securityGroups"]) <= 5 for i in interfaces)
