"""An IPv6 EKS cluster (`scheduler.podNetwork.addressing: ipv6`): what the program registers for it."""

from __future__ import annotations

import base64
import email
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.cli.planrun import plan_stack
from aifactory.planning.factory_plan import plan_from_config
from aifactory.spec import ConfigError

from tests.stackfiles import PINNED_IMAGES, write_stack

ZONES = ["us-east-1a", "us-east-1b"]


def config(**extra: Any) -> dict[str, Any]:
    return {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:network": {"cidr": "10.0.0.0/16", "availabilityZones": ZONES},
        "aifactory:fleets": [
            {
                "name": "train",
                "instanceType": "p5.48xlarge",
                "count": 100,
                "availabilityZone": "us-east-1b",
                "capacity": {"type": "capacity-reservation", "reservationId": "cr-0a1b2c3d4e5f60711"},
            }
        ],
        "aifactory:scheduler": {
            "kind": "kubernetes",
            "endpoint": "public",
            "publicAccessCidrs": ["203.0.113.0/24"],
            "podNetwork": {"addressing": "ipv6"},
        },
        **extra,
    }


@pytest.fixture(scope="module")
def resources(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path = write_stack(Path(tmp_path_factory.mktemp("ipv6")), "ipv6", config())
    return plan_stack(str(path)).as_json()["resources"]


def _of(resources: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["type"] == type_]


def test_the_cluster_is_ipv6_and_its_nodes_join_with_its_service_range(resources: list[dict[str, Any]]) -> None:
    (cluster,) = _of(resources, "aws:eks/cluster:Cluster")
    assert cluster["inputs"]["kubernetesNetworkConfig"] == {"ipFamily": "ipv6"}
    (template,) = [r for r in _of(resources, "aws:ec2/launchTemplate:LaunchTemplate") if "userData" in r["inputs"]]
    message = email.message_from_string(base64.b64decode(template["inputs"]["userData"]).decode())
    (part,) = [p for p in message.walk() if p.get_content_type() == "application/node.eks.aws"]
    spec = yaml.safe_load(part.get_payload())["spec"]
    assert ipaddress.ip_network(spec["cluster"]["cidr"]).version == 6
    assert spec["kubelet"]["config"] == {"maxPods": 16}


def test_the_vpc_and_node_subnets_carry_ipv6_blocks_by_zone_slot(resources: list[dict[str, Any]]) -> None:
    (vpc,) = _of(resources, "aws:ec2/vpc:Vpc")
    assert vpc["inputs"]["assignGeneratedIpv6CidrBlock"] is True
    private = [s for s in _of(resources, "aws:ec2/subnet:Subnet") if "-private-" in s["name"]]
    assert len(private) == 2
    blocks = {s["inputs"]["availabilityZone"]: ipaddress.IPv6Network(s["inputs"]["ipv6CidrBlock"]) for s in private}
    assert all(b.prefixlen == 64 for b in blocks.values())
    assert all(s["inputs"]["assignIpv6AddressOnCreation"] is True for s in private)
    assert int(blocks["us-east-1b"].network_address) - int(blocks["us-east-1a"].network_address) == 2**64
    routes = [r for r in _of(resources, "aws:ec2/route:Route") if r["inputs"].get("destinationIpv6CidrBlock") == "::/0"]
    assert len(routes) == 2 and len(_of(resources, "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway")) == 1


def test_the_vpc_cni_runs_in_ipv6_mode_with_the_ipv6_policy(resources: list[dict[str, Any]]) -> None:
    (cni,) = [r for r in _of(resources, "aws:eks/addon:Addon") if r["inputs"]["addonName"] == "vpc-cni"]
    env = json.loads(cni["inputs"]["configurationValues"])["env"]
    assert env["ENABLE_IPv6"] == "true" and env["ENABLE_PREFIX_DELEGATION"] == "true" and env["ENABLE_IPv4"] == "false"
    inline = [r for r in _of(resources, "aws:iam/rolePolicy:RolePolicy") if "vpc-cni" in r["name"]]
    (policy,) = inline
    actions = {a for s in json.loads(policy["inputs"]["policy"])["Statement"] for a in s["Action"]}
    assert "ec2:AssignIpv6Addresses" in actions
    attached = [
        r for r in _of(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment") if "vpc-cni" in r["name"]
    ]
    assert attached == []  # AmazonEKS_CNI_Policy is the IPv4 policy


def test_an_ipv6_cluster_cannot_mount_fsx_for_lustre() -> None:
    cfg = config(**{"aifactory:storage": {"capacityTiB": 4.8}})
    with pytest.raises(ConfigError) as info:
        plan_from_config(cfg, "t")
    (issue,) = [i for i in info.value.issues if not i.is_warning]
    assert issue.path == "aifactory:scheduler.podNetwork.addressing"
    assert "custom-networking" in issue.fix


def test_pod_subnets_are_refused_outside_custom_networking() -> None:
    cfg = config()
    cfg["aifactory:scheduler"]["podNetwork"]["cidrs"] = {"us-east-1a": "100.64.0.0/16"}
    with pytest.raises(ConfigError) as info:
        plan_from_config(cfg, "t")
    assert [i.path for i in info.value.issues if not i.is_warning] == ["aifactory:scheduler.podNetwork.cidrs"]
