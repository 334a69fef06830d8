"""EKS at 100k GPUs: the address budget per AZ, custom networking's pod subnets and maxPods, and node
groups split at the nodes-per-group quota; an infeasible layout is a config-path error naming the fix."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aifactory.cli.planrun import plan_stack
from aifactory.planning.factory_plan import node_group_name, plan_from_config, split_nodes
from aifactory.schedulers.helm_values import node_daemonsets
from aifactory.schedulers.kubernetes import vpc_cni_environment
from aifactory.spec import ConfigError, spec_from_config
from aifactory.spec.errors import ConfigIssue
from aifactory.spec.numbers import NETWORK_ADDRESS_USAGE_MAX
from aifactory.spec.scheduler import DEFAULT_TRAINING_PODS_PER_NODE

from tests.stackfiles import EXAMPLE_STACKS, PINNED_IMAGES

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]


def config(
    nodes_per_zone: int = 3125, zones: list[str] | None = None, efa: bool = True, **scheduler: Any
) -> dict[str, Any]:
    """p5 fleets, one a zone; `efa=False` leaves out their 32 EFA-only interfaces, whose Network Address Usage
    alone puts 12,500 nodes above a VPC's maximum, so the other rules can be tested at that size."""
    zones = zones or ZONES
    return {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:network": {
            "cidr": "10.96.0.0/16",
            "availabilityZones": zones,
            "networkAddressUsageQuota": NETWORK_ADDRESS_USAGE_MAX,
        },
        "aifactory:fleets": [
            {
                "name": f"res-{z[-1]}",
                "instanceType": "p5.48xlarge",
                "count": nodes_per_zone,
                "availabilityZone": z,
                "efa": efa,
                "capacity": {"type": "capacity-reservation", "reservationId": f"cr-0a1b2c3d4e5f60{i:03d}"},
            }
            for i, z in enumerate(zones)
        ],
        "aifactory:scheduler": {
            "kind": "kubernetes",
            "endpoint": "public",
            "publicAccessCidrs": ["203.0.113.0/24"],
            **scheduler,
        },
    }


CUSTOM = {"podNetwork": {"addressing": "custom-networking"}}
RAISED = {"networkInterfacesPerRegion": 500_000}


def refused(cfg: dict[str, Any]) -> list[ConfigIssue]:
    """The errors (not the warnings) that stop a structurally valid config from planning."""
    spec_from_config(cfg)
    with pytest.raises(ConfigError) as info:
        plan_from_config(cfg, "t")
    return [i for i in info.value.issues if not i.is_warning]


def test_vpc_addressing_refuses_12500_nodes_and_names_custom_networking() -> None:
    errors = refused(config(serviceQuotas=RAISED))
    # 111 addresses a node are also far above the VPC's Network Address Usage maximum.
    assert {i.path for i in errors} == {"aifactory:network.cidr", "aifactory:fleets"}
    text = " ".join(f"{i.problem} {i.fix}" for i in errors)
    assert "3,125 nodes x 111 addresses" in text
    assert "custom-networking" in text


def test_custom_networking_holds_12500_p5_nodes() -> None:
    plan = plan_from_config(config(efa=False, **CUSTOM, serviceQuotas=RAISED), "t")
    budget = plan.address_budget
    assert budget is not None and budget.addressing == "custom-networking"
    expected_max_pods = len(node_daemonsets("nvidia")) + DEFAULT_TRAINING_PODS_PER_NODE
    assert set(budget.max_pods.values()) == {expected_max_pods}
    assert plan.pod_subnets == {z: f"100.{64 + i}.0.0/16" for i, z in enumerate(ZONES)}
    assert budget.cidr_blocks == 5
    for zone in budget.zones:
        assert zone.fits
        assert zone.pod_subnet == plan.pod_subnets[zone.availability_zone]
    assert sum(z.nodes for z in budget.zones) == 12_500 + 3  # the system nodes in the first zone
    # A node holds one host address in the node subnet (EFA-only interfaces would take none either).
    assert budget.zones[1].node_addresses == 3125
    # The GPU nodes' pod addresses: maxPods plus the pod interface's primary and one warm address.
    assert budget.zones[1].pod_addresses == 3125 * (expected_max_pods + 2)


def test_a_domain_above_the_node_group_quota_is_split_with_stable_names() -> None:
    plan = plan_from_config(config(efa=False, **CUSTOM, serviceQuotas=RAISED), "t")
    groups = [g for g in plan.node_groups if g.fleet == "res-a"]
    assert len(groups) == 7
    assert sum(g.nodes for g in groups) == 3125
    assert max(g.nodes for g in groups) <= 450
    domain = groups[0].domain
    assert [g.name for g in groups] == [domain, *(f"{domain}-{i}" for i in range(2, 8))]
    assert {g.domain for g in groups} == {domain}


def test_small_domains_keep_one_group_named_as_before() -> None:
    plan = plan_from_config(config(nodes_per_zone=64, zones=ZONES[:2]), "t")
    assert [g.name for g in plan.node_groups] == [g.domain for g in plan.node_groups]
    assert plan.address_budget is not None and plan.address_budget.addressing == "vpc"
    assert plan.pod_subnets == {}


def test_split_nodes_is_balanced_and_minimal() -> None:
    assert split_nodes(3125, 450) == [447, 447, 447, 446, 446, 446, 446]
    assert split_nodes(450, 450) == [450]
    assert split_nodes(451, 450) == [226, 225]
    assert node_group_name("d0", 0) == "d0" and node_group_name("d0", 2) == "d0-3"


def test_more_node_groups_than_the_cluster_quota_is_refused_and_raising_it_plans() -> None:
    quotas = {**RAISED, "nodesPerManagedNodeGroup": 100}
    (issue,) = refused(config(efa=False, **CUSTOM, serviceQuotas=quotas))
    assert issue.path == "aifactory:scheduler.serviceQuotas.managedNodeGroupsPerCluster"
    assert "129 managed node groups" in issue.problem and "L-6D54EA21" in issue.problem
    raised = {**quotas, "managedNodeGroupsPerCluster": 129}
    plan = plan_from_config(config(efa=False, **CUSTOM, serviceQuotas=raised), "t")
    assert len(plan.node_groups) == 128


def test_a_pod_subnet_too_small_is_refused_at_its_path() -> None:
    cidrs = {z: f"100.{64 + i}.0.0/17" for i, z in enumerate(ZONES)}
    network = {"addressing": "custom-networking", "cidrs": cidrs}
    errors = refused(config(efa=False, podNetwork=network, serviceQuotas=RAISED))
    assert {i.path for i in errors} == {"aifactory:scheduler.podNetwork.cidrs"}
    assert "100.64.0.0/17" in errors[0].problem


def test_pod_subnets_above_the_vpc_cidr_block_quota_are_refused() -> None:
    zones = [*ZONES, "us-east-1f"]
    (issue,) = refused(config(nodes_per_zone=20, zones=zones, **CUSTOM))
    assert issue.path == "aifactory:scheduler.podNetwork.cidrs"
    assert "6 IPv4 CIDR blocks" in issue.problem and "L-83CA0A9D" in issue.problem
    plan = plan_from_config(
        config(nodes_per_zone=20, zones=zones, **CUSTOM, serviceQuotas={"ipv4CidrBlocksPerVpc": 6}), "t"
    )
    assert plan.address_budget is not None and plan.address_budget.cidr_blocks == 6


@pytest.mark.parametrize("cidr", ["10.200.0.0/16", "100.64.0.0/15", "100.64.0.1/16"])
def test_pod_cidrs_outside_cg_nat_or_not_a_vpc_block_are_spec_errors(cidr: str) -> None:
    cfg = config(podNetwork={"addressing": "custom-networking", "cidrs": {"us-east-1a": cidr}})
    with pytest.raises(ConfigError) as info:
        spec_from_config(cfg)
    assert info.value.issues[0].path.startswith("aifactory:scheduler.podNetwork.cidrs")


def test_vpc_cni_environment_turns_custom_networking_on_by_zone() -> None:
    env = vpc_cni_environment(16)
    assert env["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] == "true"
    assert env["ENI_CONFIG_LABEL_DEF"] == "topology.kubernetes.io/zone"
    assert env["MINIMUM_IP_TARGET"] == "16" and env["WARM_IP_TARGET"] == "1"
    assert json.loads(json.dumps(env)) == env


def test_the_regions_network_interface_quota_counts_every_efa_only_interface() -> None:
    (issue,) = [i for i in refused(config(**CUSTOM)) if i.path.endswith("networkInterfacesPerRegion")]
    assert issue.path == "aifactory:scheduler.serviceQuotas.networkInterfacesPerRegion"
    # 12,500 p5 nodes x (primary + 32 EFA-only + pod interface) and the 3 system nodes' two each.
    assert f"{12_500 * 34 + 3 * 2:,} network interfaces" in issue.problem and "L-DF5E4CA3" in issue.problem


def test_network_address_usage_above_the_vpc_maximum_is_refused_with_its_count() -> None:
    # VPC User Guide, "Network Address Usage for your VPC": a p5 node with custom networking is its host
    # address, 32 EFA-only interfaces and the pod interface (one unit each), and 18 pod-interface addresses.
    errors = refused(config(**CUSTOM, serviceQuotas=RAISED))
    (issue,) = [i for i in errors if i.path == "aifactory:fleets"]
    assert "above the 256,000 a VPC can have" in issue.problem and "EFA-only" in issue.problem
    assert "split the fleets over several factories" in issue.fix and "ipv6" in issue.fix
    assert f"{12_500 * 52 + 3 * 114 + 12 * 4 * 6 + 4 * 6:,} units" in issue.problem


def test_network_address_usage_above_the_quota_names_the_quota_key() -> None:
    cfg = config(nodes_per_zone=1250, zones=ZONES[:2], **CUSTOM, serviceQuotas=RAISED)
    cfg["aifactory:network"].pop("networkAddressUsageQuota")
    (issue,) = refused(cfg)
    assert issue.path == "aifactory:network.networkAddressUsageQuota"
    assert f"{2500 * 52 + 3 * 114 + 12 * 2 * 6 + 2 * 6:,} units" in issue.problem and "64,000" in issue.problem
    cfg["aifactory:network"]["networkAddressUsageQuota"] = 131_000
    assert plan_from_config(cfg, "t").address_usage.units == 130_498


def test_100k_gpus_fit_one_vpc_with_p6_b200_and_ipv6_pods() -> None:
    # 8 network cards a node, one /80 prefix a node for its pods: 20 units a node (2 addresses, 8 EFA-only
    # interfaces, the prefix, 9 pods), the system nodes' 113 each, 12 endpoints in 2 zones, 2 NAT gateways.
    cfg = config(
        nodes_per_zone=12_500, zones=["us-east-1c"], podNetwork={"addressing": "ipv6", "trainingPodsPerNode": 1}
    )
    cfg["aifactory:network"]["availabilityZones"] = ["us-east-1a", "us-east-1c"]
    cfg["aifactory:fleets"][0]["instanceType"] = "p6-b200.48xlarge"
    cfg["aifactory:scheduler"]["serviceQuotas"] = {
        "networkInterfacesPerRegion": 115_000,
        "nodesPerManagedNodeGroup": 450,
    }
    usage = plan_from_config(cfg, "t").address_usage
    assert (usage.addresses, usage.interfaces, usage.prefixes, usage.pods) == (
        2 * 12_503,
        8 * 12_500,
        12_503,
        9 * 12_500 + 3 * 110,
    )
    assert usage.units == 12_500 * 20 + 3 * 113 + 6 * (12 * 2 + 2) <= NETWORK_ADDRESS_USAGE_MAX
    assert usage.as_json()["maximum"] == 256_000 and usage.as_json()["peered_maximum"] == 512_000


def test_small_stacks_stay_below_the_default_quota() -> None:
    usage = plan_from_config(config(nodes_per_zone=64, zones=ZONES[:2]), "t").address_usage
    assert usage.units <= 64_000


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_the_zonal_units_count_what_the_program_registers(stack: str) -> None:
    # Six units for each interface endpoint in each of its subnets' zones and for each NAT gateway.
    result = plan_stack(stack)
    usage = result.plan.address_usage
    interface = [
        r
        for r in result.resources
        if r.type == "aws:ec2/vpcEndpoint:VpcEndpoint" and r.inputs["vpcEndpointType"] == "Interface"
    ]
    assert usage.endpoints == sum(len(r.inputs["subnetIds"]) for r in interface)
    assert usage.nat_gateways == len([r for r in result.resources if r.type == "aws:ec2/natGateway:NatGateway"])
    assert result.as_json()["network_address_usage"]["units"] == usage.units <= usage.quota
