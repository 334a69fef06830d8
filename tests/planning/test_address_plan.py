"""EKS at 100k GPUs: the address budget per AZ, custom networking's pod subnets and maxPods, and node
groups split at the nodes-per-group quota; an infeasible layout is a config-path error naming the fix."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aifactory.planning.factory_plan import node_group_name, plan_from_config, split_nodes
from aifactory.schedulers.helm_values import node_daemonsets
from aifactory.schedulers.kubernetes import vpc_cni_environment
from aifactory.spec import ConfigError, spec_from_config
from aifactory.spec.errors import ConfigIssue
from aifactory.spec.scheduler import DEFAULT_TRAINING_PODS_PER_NODE

from tests.stackfiles import PINNED_IMAGES

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]


def config(nodes_per_zone: int = 3125, zones: list[str] | None = None, **scheduler: Any) -> dict[str, Any]:
    zones = zones or ZONES
    return {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:network": {"cidr": "10.96.0.0/16", "availabilityZones": zones},
        "aifactory:fleets": [
            {
                "name": f"res-{z[-1]}",
                "instanceType": "p5.48xlarge",
                "count": nodes_per_zone,
                "availabilityZone": z,
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
    assert {i.path for i in errors} == {"aifactory:network.cidr"}
    text = " ".join(f"{i.problem} {i.fix}" for i in errors)
    assert "3,125 nodes x 111 addresses" in text
    assert "custom-networking" in text


def test_custom_networking_holds_12500_p5_nodes() -> None:
    plan = plan_from_config(config(**CUSTOM, serviceQuotas=RAISED), "t")
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
    # EFA-only interfaces take no address: a node holds one host address in the node subnet.
    assert budget.zones[1].node_addresses == 3125
    # The GPU nodes' pod addresses: maxPods plus the pod interface's primary and one warm address.
    assert budget.zones[1].pod_addresses == 3125 * (expected_max_pods + 2)


def test_a_domain_above_the_node_group_quota_is_split_with_stable_names() -> None:
    plan = plan_from_config(config(**CUSTOM, serviceQuotas=RAISED), "t")
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
    (issue,) = refused(config(**CUSTOM, serviceQuotas=quotas))
    assert issue.path == "aifactory:scheduler.serviceQuotas.managedNodeGroupsPerCluster"
    assert "129 managed node groups" in issue.problem and "L-6D54EA21" in issue.problem
    plan = plan_from_config(config(**CUSTOM, serviceQuotas={**quotas, "managedNodeGroupsPerCluster": 129}), "t")
    assert len(plan.node_groups) == 128


def test_a_pod_subnet_too_small_is_refused_at_its_path() -> None:
    cidrs = {z: f"100.{64 + i}.0.0/17" for i, z in enumerate(ZONES)}
    errors = refused(config(podNetwork={"addressing": "custom-networking", "cidrs": cidrs}, serviceQuotas=RAISED))
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
    (issue,) = refused(config(**CUSTOM))
    assert issue.path == "aifactory:scheduler.serviceQuotas.networkInterfacesPerRegion"
    # 12,500 p5 nodes x (primary + 32 EFA-only + pod interface) and the 3 system nodes' two each.
    assert f"{12_500 * 34 + 3 * 2:,} network interfaces" in issue.problem and "L-DF5E4CA3" in issue.problem


def test_network_address_usage_above_the_vpc_maximum_is_a_warning_with_the_plan() -> None:
    plan = plan_from_config(config(**CUSTOM, serviceQuotas=RAISED), "t")
    (warned,) = [w for w in plan.warnings if w.path == "aifactory:fleets"]
    assert warned.is_warning and "256,000" in warned.problem
    assert plan.address_budget is not None and plan.address_budget.network_address_usage > 256_000
    small = plan_from_config(config(nodes_per_zone=64, zones=ZONES[:2]), "t")
    assert not [w for w in small.warnings if w.path == "aifactory:fleets"]
