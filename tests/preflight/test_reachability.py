"""Each reachability rule: the complete world passes; taking away the one rule a flow depends on
makes the preflight name that flow."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.preflight import RULES, preflight
from aifactory.preflight.reachability import services_called, slurm_ports

from tests.preflight.world import ACCOUNT, PARTITION, REGION, b64, egress, eks_world, ingress, replaced, res, without


def findings(resources: list[dict[str, Any]], rule: str, **kw: Any) -> list[str]:
    found = preflight(resources, region=REGION, partition=PARTITION, account=ACCOUNT, **kw)
    return [f"{f.subject}: {f.message}" for f in found if f.rule == rule]


def test_the_complete_world_passes_every_rule() -> None:
    assert preflight(eks_world(), region=REGION, partition=PARTITION, account=ACCOUNT) == []


def test_every_reachability_rule_is_registered_with_a_source() -> None:
    reach = [r for r in RULES.values() if r.id.startswith("reach.")]
    assert {r.id for r in reach} >= {
        "reach.eks-api",
        "reach.kubelet",
        "reach.coredns",
        "reach.aws-services",
        "reach.fsx",
        "reach.efa",
        "reach.slurm",
        "reach.package-archives",
    }
    assert all(r.sources for r in reach)


def _gpu_groups(groups: list[str]) -> list[dict[str, Any]]:
    world = eks_world()
    template = next(r for r in world if r["name"] == "gpu")
    interfaces = [{**i, "securityGroups": groups} for i in template["inputs"]["networkInterfaces"]]
    return replaced(world, "gpu", networkInterfaces=interfaces)


def test_nodes_without_the_cluster_security_group_cannot_reach_the_api_or_be_reached() -> None:
    # What 0.1 planned: the launch template names its own groups and nothing admits the control plane.
    world = _gpu_groups(["sg-efa", "sg-nodes"])
    assert findings(world, "reach.eks-api") == [
        "node group train-d0 → EKS control plane (tcp 443): blocked: "
        "no ingress rule of EKS cluster security group admits it"
    ]
    assert findings(world, "reach.kubelet") == [
        "EKS control plane → node group train-d0 (tcp 10250): blocked: no ingress rule of efa, nodes admits it"
    ]
    assert [f.split(":")[0] for f in findings(world, "reach.coredns")] == [
        "node group train-d0 → node group system (udp 53)",
        "node group train-d0 → node group system (tcp 53)",
    ]


def test_an_explicit_rule_from_the_cluster_group_is_as_good_as_membership() -> None:
    world = [
        *_gpu_groups(["sg-efa", "sg-nodes"]),
        ingress("api-from-nodes", "sg-cluster", "tcp", (443, 443), referencedSecurityGroupId="sg-nodes"),
        ingress("kubelet-from-api", "sg-nodes", "tcp", (10250, 10250), referencedSecurityGroupId="sg-cluster"),
    ]
    assert findings(world, "reach.eks-api") == []
    assert findings(world, "reach.kubelet") == []


def _function(groups: list[str]) -> dict[str, Any]:
    function = res(
        "aws:lambda/function:Function",
        "expiry",
        role=f"arn:aws:iam::{ACCOUNT}:role/expiry-role",
        vpcConfig={"subnetIds": ["subnet-a", "subnet-b"], "securityGroupIds": groups},
    )
    function["inputs"]["name"] = "capacity-block-expiry"
    return function


def test_a_vpc_function_in_the_cluster_group_reaches_the_api() -> None:
    assert findings([*eks_world(), _function(["sg-cluster"])], "reach.eks-api") == []


def test_a_vpc_function_in_its_own_group_is_blocked_both_ways() -> None:
    world = [*eks_world(), res("aws:ec2/securityGroup:SecurityGroup", "fn", "sg-fn"), _function(["sg-fn"])]
    assert findings(world, "reach.eks-api") == [
        "function capacity-block-expiry → EKS control plane (tcp 443): blocked: no egress rule of fn admits it; "
        "no ingress rule of EKS cluster security group admits it"
    ]


def _scraper(groups: list[str]) -> dict[str, Any]:
    return res(
        "aws:amp/scraper:Scraper",
        "metrics",
        alias="factory-metrics",
        source={"eks": {"clusterArn": "arn", "subnetIds": ["subnet-a", "subnet-b"], "securityGroupIds": groups}},
    )


def test_a_scraper_in_the_cluster_group_reaches_the_api_and_both_exporters() -> None:
    world = [*eks_world(), _scraper(["sg-cluster"])]
    assert findings(world, "reach.metrics-scraper") == [] and findings(world, "reach.eks-api") == []


def test_a_scraper_in_its_own_group_names_each_exporter_it_cannot_reach() -> None:
    world = [
        *eks_world(),
        res("aws:ec2/securityGroup:SecurityGroup", "scraper", "sg-scraper"),
        _scraper(["sg-scraper"]),
    ]
    assert findings(world, "reach.metrics-scraper") == [
        "metrics scraper factory-metrics → node group train-d0 (tcp 9400): blocked: no egress rule of scraper "
        "admits it; no ingress rule of EKS cluster security group, efa, nodes admits it",
        "metrics scraper factory-metrics → node group system (tcp 8080): blocked: no egress rule of scraper "
        "admits it; no ingress rule of EKS cluster security group admits it",
    ]
    assert [f.split(":")[0] for f in findings(world, "reach.eks-api")] == [
        "metrics scraper factory-metrics → EKS control plane (tcp 443)"
    ]


def test_an_exporter_port_rule_for_the_scrapers_group_is_enough() -> None:
    world = [
        *eks_world(),
        res("aws:ec2/securityGroup:SecurityGroup", "scraper", "sg-scraper"),
        egress("scraper-out", "sg-scraper", cidrIpv4="10.0.0.0/16"),
        ingress("dcgm", "sg-cluster", "tcp", (9400, 9400), referencedSecurityGroupId="sg-scraper"),
        _scraper(["sg-scraper"]),
    ]
    assert [f.split(":")[0] for f in findings(world, "reach.metrics-scraper")] == [
        "metrics scraper factory-metrics → node group system (tcp 8080)"
    ]


def test_without_a_scraper_nothing_is_checked() -> None:
    world = [*eks_world(), res("aws:ec2/securityGroup:SecurityGroup", "scraper", "sg-scraper")]
    assert findings(world, "reach.metrics-scraper") == []


def test_a_port_range_that_misses_the_port_does_not_count() -> None:
    world = [
        *_gpu_groups(["sg-efa", "sg-nodes"]),
        ingress("api-from-nodes", "sg-cluster", "tcp", (444, 500), referencedSecurityGroupId="sg-nodes"),
        ingress("kubelet-udp", "sg-nodes", "udp", (10250, 10250), referencedSecurityGroupId="sg-cluster"),
    ]
    assert len(findings(world, "reach.eks-api")) == 1
    assert len(findings(world, "reach.kubelet")) == 1


def test_a_missing_interface_endpoint_is_named() -> None:
    world = without(eks_world(), "ec2")
    assert findings(world, "reach.aws-services") == [
        f"node group {g} → ec2 (tcp 443): unreachable: no route to the internet and no "
        f"com.amazonaws.{REGION}.ec2 interface endpoint"
        for g in ("train-d0", "system")
    ]


def test_s3_through_the_gateway_needs_the_prefix_list_in_egress() -> None:
    # 0.1: node egress limited to the VPC CIDR, so the S3 gateway endpoint (a prefix list) is
    # unreachable. (With the cluster group on the interface its allow-all egress would cover it.)
    world = without(_gpu_groups(["sg-efa", "sg-nodes"]), "nodes-s3")
    assert findings(world, "reach.aws-services") == [
        "node group train-d0 → s3 (tcp 443): unreachable: no egress rule admits tcp 443 to the s3 gateway "
        "endpoint's prefix list"
    ]


def test_s3_gateway_must_be_on_the_node_route_table() -> None:
    world = replaced(eks_world(), "s3", routeTableIds=["rtb-b"])
    assert "gateway endpoint is not on the route tables" in findings(world, "reach.aws-services")[0]


def test_an_endpoint_without_private_dns_is_not_used() -> None:
    world = replaced(eks_world(), "sts", privateDnsEnabled=False)
    assert any("sts" in f and "private DNS off" in f for f in findings(world, "reach.aws-services"))


def test_an_endpoint_group_that_refuses_the_nodes_is_named() -> None:
    world = replaced(without(eks_world(), "endpoints-in"), "ec2")
    found = findings(world, "reach.aws-services")
    assert "node group train-d0 → ecr.api (tcp 443): unreachable: no ingress rule of endpoints admits it" in found


def test_nat_egress_reaches_services_without_endpoints() -> None:
    world = [r for r in eks_world() if r["type"] != "aws:ec2/vpcEndpoint:VpcEndpoint"]
    assert findings(world, "reach.aws-services") != []
    world += [
        res(
            "aws:ec2/route:Route",
            f"default-{t}",
            routeTableId=t,
            destinationCidrBlock="0.0.0.0/0",
            natGatewayId="nat-1",
        )
        for t in ("rtb-a", "rtb-b")
    ]
    world = replaced(world, "nodes-out", cidrIpv4="0.0.0.0/0")
    assert findings(world, "reach.aws-services") == []


def test_services_called_by_boot_scripts_are_needed() -> None:
    script = '#!/bin/bash\naws --region "$r" rds describe-db-instances --db-instance-identifier x\n'
    world = eks_world(script)
    assert findings(world, "reach.aws-services") == [
        "node group train-d0 → rds (tcp 443): unreachable: no route to the internet and no "
        f"com.amazonaws.{REGION}.rds interface endpoint"
    ]


def test_services_called_parses_cli_options_before_the_service() -> None:
    script = (
        "aws --region eu-north-1 --output text secretsmanager get-secret-value\n"
        "aws s3 cp a b\naws cloudwatch put-metric-data\n"
    )
    assert services_called(script) == {"secretsmanager", "s3", "monitoring"}


def test_fsx_clients_need_rules_in_both_directions() -> None:
    # 0.1: rules only on the file system's group; the clients' groups did not reference it back.
    world = without(eks_world(), "efa-in-fsx")
    found = findings(world, "reach.fsx")
    assert [f.split(": blocked")[0] for f in found] == [
        "FSx for Lustre → node group train-d0 (tcp 988)",
        "FSx for Lustre → node group train-d0 (tcp 1018-1023)",
        "FSx for Lustre → node group train-d0 (all traffic, EFA)",
    ]
    assert all("no ingress rule of" in f for f in found)


def test_efa_needs_all_traffic_within_the_group() -> None:
    world = _gpu_groups(["sg-efa"])
    assert findings(world, "reach.efa") == []
    world = replaced(world, "efa-in", ipProtocol="tcp", fromPort=0, toPort=65535)
    assert findings(world, "reach.efa") == [
        "node group train-d0 → node group train-d0 (all traffic, EFA): blocked: no ingress rule of efa admits it"
    ]


def slurm_world(conf: str = "SlurmctldPort=6817\nSlurmdPort=6818\n") -> list[dict[str, Any]]:
    return [
        res("aws:ec2/subnet:Subnet", "a", "subnet-a", cidrBlock="10.0.0.0/18"),
        res(
            "aws:ec2/securityGroup:SecurityGroup",
            "head",
            "sg-head",
            egress=[{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}],
        ),
        res("aws:ec2/securityGroup:SecurityGroup", "nodes", "sg-nodes"),
        ingress("nodes-self", "sg-nodes", referencedSecurityGroupId="sg-nodes"),
        egress("nodes-out", "sg-nodes", cidrIpv4="10.0.0.0/16"),
        ingress("head-from-nodes", "sg-head", referencedSecurityGroupId="sg-nodes"),
        ingress("nodes-from-head", "sg-nodes", referencedSecurityGroupId="sg-head"),
        res("aws:ec2/launchTemplate:LaunchTemplate", "lt", "lt-1", vpcSecurityGroupIds=["sg-nodes"]),
        res("aws:ec2/instance:Instance", "head", "i-head", subnetId="subnet-a", vpcSecurityGroupIds=["sg-head"]),
        res("aws:ec2/instance:Instance", "gpu-001", "i-1", subnetId="subnet-a", launchTemplate={"id": "lt-1"}),
        res("aws:ec2/instance:Instance", "gpu-002", "i-2", subnetId="subnet-a", launchTemplate={"id": "lt-1"}),
    ]


def test_slurm_ports_follow_slurm_conf() -> None:
    assert slurm_ports("SlurmctldPort=7000\nSrunPortRange=60001-63000\n") == {
        "slurmctld": (7000, 7000),
        "slurmd": (6818, 6818),
        "srun": (60001, 63000),
    }


def test_slurm_flows_pass_with_group_references() -> None:
    assert findings(slurm_world(), "reach.slurm", slurm_conf="SlurmctldPort=6817\n") == []


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ("head-from-nodes", "instance gpu-001 → instance head (tcp 6817)"),
        ("nodes-from-head", "instance head → instance gpu-001 (tcp 6818)"),
    ],
)
def test_slurm_flows_name_the_missing_direction(drop: str, expected: str) -> None:
    found = findings(without(slurm_world(), drop), "reach.slurm", slurm_conf="SrunPortRange=60001-63000\n")
    assert any(f.startswith(expected) for f in found), found


def test_slurm_rule_is_silent_without_slurm() -> None:
    assert findings(without(slurm_world(), "head-from-nodes"), "reach.slurm") == []


def test_user_data_of_instances_is_read_from_base64_and_plain() -> None:
    world = slurm_world()
    world = replaced(world, "head", userDataBase64=b64("aws secretsmanager get-secret-value --secret-id x\n"))
    found = findings(world, "reach.aws-services")
    assert found == [
        "instance head → secretsmanager (tcp 443): unreachable: no route to the internet and no "
        f"com.amazonaws.{REGION}.secretsmanager interface endpoint"
    ]


def test_services_called_includes_pulumi_backends() -> None:
    buildspec = "pulumi login 's3://state?region=eu-north-1'\npulumi stack select --secrets-provider 'awskms:///arn'\n"
    assert services_called(buildspec) == {"s3", "kms"}


def test_a_runner_without_a_kms_endpoint_cannot_open_the_stack_secrets() -> None:
    runner = res(
        "aws:codebuild/project:Project",
        "runner",
        vpcConfig={"subnets": ["subnet-a"], "securityGroupIds": ["sg-nodes"]},
        source={"buildspec": "pulumi stack select --secrets-provider 'awskms:///arn:aws:kms:k'\n"},
    )
    assert findings([*eks_world(), runner], "reach.aws-services") == [
        f"runner runner → kms (tcp 443): unreachable: no route to the internet and no com.amazonaws.{REGION}.kms "
        "interface endpoint"
    ]


def test_a_slurm_head_measuring_ec2_topology_needs_the_ec2_endpoint_without_egress() -> None:
    """The head's topology refresh calls DescribeInstances and DescribeInstanceTopology: a factory without
    egress and without the EC2 interface endpoint is reported before deploy."""
    import base64
    import gzip

    from aifactory.schedulers.slurm import head_user_data, power_map

    script = head_user_data(
        controller_host="slurmctld",
        zone="aif.slurm.internal",
        region=REGION,
        munge_secret_arn=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:munge-AbCdEf",
        accounting=False,
        db_host=None,
        db_secret_arn=None,
        files=[],
        egress="none",
        cluster="aif",
        version="23.11",
        measured_topology=True,
        node_map=power_map(
            "aif",
            REGION,
            [
                {
                    "domain": "gpu-d0",
                    "launch_template_id": "lt-1",
                    "launch_template_version": "1",
                    "capacity": "on-demand",
                    "hostnames": ["gpu-001", "gpu-002"],
                }
            ],
            [("lt-1", "1")],
        ),
    )
    # As the head instance carries it: gzip, then base64.
    data = base64.b64encode(gzip.compress(script.encode())).decode()
    found = findings(replaced(slurm_world(), "head", userDataBase64=data), "reach.aws-services")
    expected = f"no route to the internet and no com.amazonaws.{REGION}.ec2 interface endpoint"
    assert f"instance head → ec2 (tcp 443): unreachable: {expected}" in found


def _hybrid_world() -> list[dict[str, Any]]:
    world = replaced(eks_world(), "cluster", remoteNetworkConfig={"remoteNodeNetworks": {"cidrs": ["192.168.0.0/20"]}})
    return [
        *world,
        res("aws:ec2/vpnGateway:VpnGateway", "vgw", "vgw-1"),
        res(
            "aws:ec2/route:Route", "r-a", routeTableId="rtb-a", destinationCidrBlock="192.168.0.0/20", gatewayId="vgw-1"
        ),
        res(
            "aws:ec2/route:Route", "r-b", routeTableId="rtb-b", destinationCidrBlock="192.168.0.0/20", gatewayId="vgw-1"
        ),
        ingress("api-hall", "sg-cluster", "tcp", (443, 443), cidrIpv4="192.168.0.0/20"),
    ]


def test_hybrid_nodes_reach_the_api_through_the_link() -> None:
    assert findings(_hybrid_world(), "reach.hybrid-eks-api") == []
    assert findings(eks_world(), "reach.hybrid-eks-api") == []  # no hybrid nodes, nothing to check
    (blocked,) = findings(without(_hybrid_world(), "api-hall"), "reach.hybrid-eks-api")
    assert blocked.startswith("192.168.0.0/20 (hybrid nodes) → EKS control plane (tcp 443): blocked: no ingress")
    (unrouted,) = findings(without(_hybrid_world(), "r-b"), "reach.hybrid-eks-api")
    assert "route table rtb-b of subnet subnet-b" in unrouted


def _nat_world(node_script: str, *rules: dict[str, Any]) -> list[dict[str, Any]]:
    """The complete world with NAT routes, GPU nodes in the node and EFA groups only (no EKS cluster group,
    whose egress is open, as on Slurm or plain fleets) and the nodes' given internet egress rules."""
    world = eks_world(node_script)
    template = next(r for r in world if r["name"] == "gpu")
    interfaces = [{**i, "securityGroups": ["sg-efa", "sg-nodes"]} for i in template["inputs"]["networkInterfaces"]]
    nat = [
        res(
            "aws:ec2/route:Route",
            f"nat-{z}",
            routeTableId=f"rtb-{z}",
            destinationCidrBlock="0.0.0.0/0",
            natGatewayId="nat",
        )
        for z in ("a", "b")
    ]
    return replaced(world, "gpu", networkInterfaces=interfaces) + nat + list(rules)


HTTPS_OUT = egress("nodes-https", "sg-nodes", "tcp", (443, 443), cidrIpv4="0.0.0.0/0")
APT_SCRIPT = "#!/bin/bash\napt-get update\napt-get install -y lustre-client-modules-aws\nnodeadm init\n"


def test_apt_through_nat_needs_http_out() -> None:
    found = findings(_nat_world(APT_SCRIPT, HTTPS_OUT), "reach.package-archives")
    assert found and all("tcp 80" in f for f in found)
    http = egress("nodes-http", "sg-nodes", "tcp", (80, 80), cidrIpv4="0.0.0.0/0")
    assert findings(_nat_world(APT_SCRIPT, HTTPS_OUT, http), "reach.package-archives") == []


def test_nodes_without_apt_need_only_https() -> None:
    world = _nat_world("#!/bin/bash\ndnf install -y lustre-client\nnodeadm init\n", HTTPS_OUT)
    assert findings(world, "reach.package-archives") == []
    assert findings(world, "reach.aws-services") == []
