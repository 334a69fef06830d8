"""FactoryNetwork invariants, checked on the resources the program registers under mocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aifactory.program import main as program_main
from aifactory.spec import spec_from_config

from tests.conftest import Resource, RunProgram
from tests.stackfiles import base

PlannedResource = Resource


def _plan(run_program: RunProgram, config: dict[str, Any]) -> list[Resource]:
    spec = spec_from_config(config)
    return run_program(program_main, config, region=spec.region, partition=spec.partition).resources


def _of(resources: list[Resource], type_: str) -> list[Resource]:
    return [r for r in resources if r.type == type_]


@pytest.fixture(scope="module")
def sovereign(run_program: RunProgram) -> list[PlannedResource]:
    return _plan(run_program, base(sovereign=True))


@pytest.fixture(scope="module")
def commercial(run_program: RunProgram) -> list[PlannedResource]:
    return _plan(run_program, base())


def test_no_public_path_without_egress(sovereign: list[PlannedResource]) -> None:
    for forbidden in ("aws:ec2/internetGateway:InternetGateway", "aws:ec2/natGateway:NatGateway", "aws:ec2/eip:Eip"):
        assert _of(sovereign, forbidden) == []
    for route in _of(sovereign, "aws:ec2/route:Route"):
        assert route.inputs.get("destinationCidrBlock") != "0.0.0.0/0"
    for subnet in _of(sovereign, "aws:ec2/subnet:Subnet"):
        assert subnet.inputs["mapPublicIpOnLaunch"] is False


def test_nat_egress_has_public_subnets_and_default_routes(commercial: list[PlannedResource]) -> None:
    assert len(_of(commercial, "aws:ec2/internetGateway:InternetGateway")) == 1
    assert len(_of(commercial, "aws:ec2/natGateway:NatGateway")) == 2  # one per AZ
    defaults = [
        r for r in _of(commercial, "aws:ec2/route:Route") if r.inputs.get("destinationCidrBlock") == "0.0.0.0/0"
    ]
    assert len(defaults) == 3  # public table + one per private table


def _efa_group_id(resources: list[PlannedResource]) -> str:
    group = next(r for r in _of(resources, "aws:ec2/securityGroup:SecurityGroup") if r.name.endswith("-efa"))
    assert group.id is not None
    return group.id


@pytest.mark.parametrize("fixture", ["sovereign", "commercial"])
def test_efa_security_group_allows_only_itself(fixture: str, request: pytest.FixtureRequest) -> None:
    resources = request.getfixturevalue(fixture)
    efa = _efa_group_id(resources)
    rules = [
        r for r in resources if r.type.startswith("aws:vpc/securityGroup") and r.inputs.get("securityGroupId") == efa
    ]
    assert {r.type.rsplit(":", 1)[1] for r in rules} == {"SecurityGroupIngressRule", "SecurityGroupEgressRule"}
    for rule in rules:
        assert rule.inputs["referencedSecurityGroupId"] == efa
        assert rule.inputs["ipProtocol"] == "-1"
        assert "cidrIpv4" not in rule.inputs and "cidrIpv6" not in rule.inputs


def test_no_ingress_from_anywhere(commercial: list[PlannedResource], sovereign: list[PlannedResource]) -> None:
    for resources in (commercial, sovereign):
        for rule in _of(resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
            assert rule.inputs.get("cidrIpv4") not in ("0.0.0.0/0",)
            assert rule.inputs.get("cidrIpv6") not in ("::/0",)


def test_endpoints_let_nodes_work_without_internet(sovereign: list[PlannedResource]) -> None:
    names = {r.inputs["serviceName"] for r in _of(sovereign, "aws:ec2/vpcEndpoint:VpcEndpoint")}
    for service in ("s3", "ecr.api", "ecr.dkr", "sts", "ssm", "ssmmessages", "ec2messages", "logs"):
        assert f"com.amazonaws.eu-north-1.{service}" in names


def test_flow_logs_capture_all_traffic_to_an_encrypted_group(sovereign: list[PlannedResource]) -> None:
    (flow,) = _of(sovereign, "aws:ec2/flowLog:FlowLog")
    assert flow.inputs["trafficType"] == "ALL"
    (group,) = [g for g in _of(sovereign, "aws:cloudwatch/logGroup:LogGroup") if "flow" in g.name]
    assert group.inputs["kmsKeyId"].startswith("arn:aws:kms:eu-north-1:")


def test_subnet_plan_is_disjoint_and_inside_the_vpc() -> None:
    import ipaddress

    from aifactory.planning.network_plan import plan_subnets

    vpc = ipaddress.IPv4Network("10.0.0.0/16")
    subnets = plan_subnets(str(vpc), ["a", "b", "c"], public=True)
    blocks = [ipaddress.IPv4Network(c) for s in subnets for c in (s.private_cidr, s.public_cidr) if c]
    assert len(blocks) == 6
    assert all(b.subnet_of(vpc) for b in blocks)
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    assert all(ipaddress.IPv4Network(s.private_cidr).prefixlen == 19 for s in subnets)


def test_stack_file_is_valid_yaml_for_pulumi(tmp_path: Path) -> None:
    import yaml

    project = yaml.safe_load(Path("Pulumi.yaml").read_text())
    assert project["stackConfigDir"] == "stacks"
    assert project["runtime"]["name"] == "python"


GATEWAY = "aws:ec2/vpcEndpoint:VpcEndpoint"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
KUBERNETES = {"kind": "kubernetes", "queues": [{"name": "q", "namespace": "t", "gpuQuota": 32}]}


def _group_id(resources: list[PlannedResource], suffix: str) -> str:
    (group,) = [r for r in _of(resources, "aws:ec2/securityGroup:SecurityGroup") if r.name.endswith(suffix)]
    assert group.id is not None
    return group.id


def _services(resources: list[PlannedResource]) -> set[str]:
    """Endpoint services without the `com.amazonaws.<region>.` prefix."""
    return {r.inputs["serviceName"].split(".", 3)[3] for r in _of(resources, GATEWAY)}


@pytest.fixture(scope="module")
def sovereign_eks(run_program: RunProgram) -> list[PlannedResource]:
    return _plan(run_program, {**base(sovereign=True), "aifactory:scheduler": KUBERNETES})


def test_no_egress_nodes_reach_s3_through_the_gateway_prefix_list(sovereign: list[PlannedResource]) -> None:
    (s3,) = [r for r in _of(sovereign, GATEWAY) if r.inputs["vpcEndpointType"] == "Gateway"]
    prefix_list = s3.state["prefixListId"]
    assert prefix_list.startswith("pl-") and len(prefix_list) == 11
    nodes = _group_id(sovereign, "-nodes")
    # Egress is limited to the VPC CIDR, which S3's addresses are not in.
    (vpc_only,) = [r for r in _of(sovereign, EGRESS) if r.inputs["securityGroupId"] == nodes and "cidrIpv4" in r.inputs]
    assert vpc_only.inputs["cidrIpv4"] == "10.0.0.0/16"
    (to_s3,) = [r for r in _of(sovereign, EGRESS) if r.inputs.get("prefixListId") == prefix_list]
    assert to_s3.inputs["securityGroupId"] == nodes
    assert (to_s3.inputs["ipProtocol"], to_s3.inputs["fromPort"], to_s3.inputs["toPort"]) == ("tcp", 443, 443)


def _node_egress(resources: list[PlannedResource]) -> list[tuple[str, str, str | None, int | None]]:
    nodes = _group_id(resources, "-nodes")
    return sorted(
        (r.name.rsplit("-nodes-", 1)[1], r.inputs["ipProtocol"], r.inputs.get("cidrIpv4"), r.inputs.get("fromPort"))
        for r in _of(resources, EGRESS)
        if r.inputs["securityGroupId"] == nodes and "-network-nodes-" in r.name
    )


def test_nat_egress_opens_only_https_to_the_internet(commercial: list[PlannedResource]) -> None:
    # All traffic stays inside the VPC; the internet gets tcp 443 only (no prefix list rule: S3 is
    # reached over NAT). `out` keeps its URN and narrows in place.
    assert _node_egress(commercial) == [("out", "-1", "10.0.0.0/16", None), ("out-https", "tcp", "0.0.0.0/0", 443)]
    (https,) = [r for r in _of(commercial, EGRESS) if r.name.endswith("-nodes-out-https")]
    assert https.inputs["toPort"] == 443


def test_ubuntu_nodes_that_install_packages_also_get_http(run_program: RunProgram) -> None:
    # Nodes without EKS run the Ubuntu DLAMI; with a file system their boot installs the Lustre client with apt.
    config = {**base(), "aifactory:storage": {"capacityTiB": 2.4, "availabilityZone": "us-east-1a"}}
    assert ("out-http", "tcp", "0.0.0.0/0", 80) in _node_egress(_plan(run_program, config))


def test_eks_nodes_get_no_http_even_with_storage(run_program: RunProgram) -> None:
    config = {**base(), "aifactory:scheduler": KUBERNETES}
    assert [rule for rule in _node_egress(_plan(run_program, config)) if rule[3] == 80] == []


def test_ipv6_nat_egress_opens_only_https_to_the_ipv6_internet(run_program: RunProgram) -> None:
    k8s = {**KUBERNETES, "podNetwork": {"addressing": "ipv6"}}
    resources = _plan(run_program, {**base(), "aifactory:scheduler": k8s})
    nodes = _group_id(resources, "-nodes")
    ipv6 = sorted(
        (r.inputs["ipProtocol"], r.inputs["cidrIpv6"], r.inputs.get("fromPort"))
        for r in _of(resources, EGRESS)
        if r.inputs["securityGroupId"] == nodes and "cidrIpv6" in r.inputs
    )
    (vpc,) = _of(resources, "aws:ec2/vpc:Vpc")
    assert ipv6 == sorted([("-1", vpc.state["ipv6CidrBlock"], None), ("tcp", "::/0", 443)])


def test_mocked_prefix_list_is_per_region_and_service_only_for_gateways(sovereign: list[PlannedResource]) -> None:
    interfaces = [r for r in _of(sovereign, GATEWAY) if r.inputs["vpcEndpointType"] == "Interface"]
    assert interfaces and all("prefixListId" not in r.state for r in interfaces)


def test_private_eks_nodes_have_the_endpoints_they_call(sovereign_eks: list[PlannedResource]) -> None:
    services = _services(sovereign_eks)
    # The VPC CNI and the EKS AMI call EC2; nodeadm and Pod Identity the EKS and EKS Auth APIs;
    # the CloudWatch agent publishes to `monitoring`.
    assert {"ec2", "eks", "eks-auth", "monitoring", "ecr.api", "ecr.dkr", "s3", "sts", "logs"} <= services
    # Nothing creates load balancers or autoscales.
    assert not {"elasticloadbalancing", "autoscaling"} & services


def test_endpoint_services_per_scheduler() -> None:
    from aifactory.planning.network_plan import interface_endpoints

    assert "ec2" not in interface_endpoints(eks=False) and "autoscaling" not in interface_endpoints(eks=False)
    assert {"ec2", "eks", "eks-auth"} <= set(interface_endpoints(eks=True))
    assert "autoscaling" in interface_endpoints(eks=False, auto_scaling=True)
    assert "monitoring" in interface_endpoints(eks=False)


def test_only_auto_scaling_fleets_get_the_autoscaling_endpoint(run_program: RunProgram) -> None:
    # The plain fleets' health check calls the Auto Scaling API; without egress it needs the endpoint.
    assert "autoscaling" in _services(_plan(run_program, base(sovereign=True)))
    slurm = {"kind": "slurm", "accounting": "slurmdbd", "partitions": [{"name": "p", "fleets": ["train"]}]}
    resources = _plan(run_program, {**base(sovereign=True), "aifactory:scheduler": slurm})
    # The head reads its database secret by ARN (no RDS API call), so no RDS endpoint either.
    assert "autoscaling" not in _services(resources) and "rds" not in _services(resources)
    assert "eks" not in _services(resources)


def test_a_slurm_head_reading_ec2_topology_gets_the_ec2_endpoint_once() -> None:
    from aifactory.planning.network_plan import interface_endpoints

    assert interface_endpoints(eks=False, ec2_api=True).count("ec2") == 1
    assert interface_endpoints(eks=True, ec2_api=True).count("ec2") == 1


def test_slurm_factories_on_aws_plan_the_ec2_endpoint(run_program: RunProgram) -> None:
    from aifactory.factory import AiFactory
    from aifactory.planning.factory_plan import plan_factory
    from aifactory.spec import spec_from_config

    from tests.schedulers.test_slurm_config import DEV

    plan = plan_factory(spec_from_config(DEV), "dev")
    planned = run_program(lambda: AiFactory("dev", {}, plan=plan), DEV, stack="dev")
    services = {
        str(r.inputs.get("serviceName", "")).rsplit(".", 1)[-1]
        for r in planned.resources
        if r.type == "aws:ec2/vpcEndpoint:VpcEndpoint"
    }
    assert "ec2" in services
