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
