"""Private-endpoint factories: the infrastructure stack creates no Kubernetes-provider resource, the
cluster stack creates exactly what the single stack did, and the runner inside the VPC can reach
the API, the state, the key and nothing more."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.cli.planrun import PlanResult, plan_stack, project_of
from aifactory.planning.factory_plan import plan_from_config
from aifactory.program import deploy
from aifactory.spec.loading import read_stack_config

from tests.conftest import PlannedProgram, RunProgram
from tests.stackfiles import write_stack

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "tests" / "golden" / "urns" / "released-0.1.0"
KUBERNETES_SIDE = ("kubernetes:", "pulumi:providers:kubernetes")
SOVEREIGN_SECRETS_KEY = "arn:aws:kms:eu-north-1:123456789012:key/5c2e8a41-7b3d-4f90-a6e1-0d9c4b7f2e35"


def example(stack: str) -> dict[str, Any]:
    return read_stack_config(ROOT / "stacks" / f"Pulumi.{stack}.yaml")


def with_scheduler(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    scheduler = {**config["aifactory:scheduler"], **changes}
    return {**config, "aifactory:scheduler": {k: v for k, v in scheduler.items() if v is not None}}


def public(config: dict[str, Any]) -> dict[str, Any]:
    return with_scheduler(config, endpoint="public", publicAccessCidrs=["203.0.113.0/24"], clusterRunner=None)


def plan_config(tmp_path: Path, stack: str, config: dict[str, Any]) -> PlanResult:
    return plan_stack(str(write_stack(tmp_path, stack, config)))


def kubernetes_side(resources: Any) -> dict[tuple[str, str], str]:
    return {
        (r.type, r.name): json.dumps(r.inputs, sort_keys=True) for r in resources if r.type.startswith(KUBERNETES_SIDE)
    }


@pytest.fixture(scope="module")
def commercial() -> PlanResult:
    return plan_stack("commercial-us")


def test_private_endpoint_infrastructure_stack_has_no_kubernetes_provider_resource(commercial: PlanResult) -> None:
    stacks = commercial.stacks
    infrastructure, cluster = stacks["aifactory"], stacks["aifactory-cluster"]
    assert not [r.urn for r in infrastructure if r.type.startswith(KUBERNETES_SIDE)]
    assert {r.type for r in infrastructure} >= {"aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup"}
    assert {r.type for r in cluster if r.custom} - {"pulumi:pulumi:StackReference"} == {
        r.type for r in cluster if r.type.startswith(KUBERNETES_SIDE)
    }
    # The six add-ons, for its production line Kubeflow Trainer, Argo Workflows and LeaderWorkerSet, and
    # kube-state-metrics for the managed metrics backend.
    assert len([r for r in cluster if r.type == "kubernetes:helm.sh/v3:Release"]) == 10


def test_cluster_stack_declares_what_the_single_stack_declared(tmp_path: Path, commercial: PlanResult) -> None:
    single = plan_config(tmp_path, "commercial-us", public(example("commercial-us")))
    assert set(single.stacks) == {"aifactory"}
    # same names, types and inputs (the queues, quotas, drains, file system ids and kubeconfig)
    assert kubernetes_side(commercial.stacks["aifactory-cluster"]) == kubernetes_side(single.resources)


def test_public_endpoint_keeps_every_released_urn_in_one_stack(tmp_path: Path) -> None:
    single = plan_config(tmp_path, "commercial-us", public(example("commercial-us")))
    current = {r.urn for r in single.resources} | {a for r in single.resources for a in r.aliases}
    released = (RELEASED / "commercial-us.txt").read_text().splitlines()
    assert [u for u in released if u not in current] == []
    assert not any(r.aliases for r in single.resources if r.type.startswith(KUBERNETES_SIDE))


def test_cluster_stack_reads_the_infrastructure_outputs(commercial: PlanResult) -> None:
    [reference] = [r for r in commercial.resources if r.type == "pulumi:pulumi:StackReference"]
    assert reference.name == "organization/aifactory/commercial-us"
    assert project_of(reference.urn) == "aifactory-cluster"
    cluster = {r.name: r for r in commercial.stacks["aifactory-cluster"]}
    volume = cluster["commercial-us-eks-persistentvolume-fsx-research"].inputs
    assert volume["spec"]["csi"]["volumeHandle"] == commercial.outputs["fileSystem"]["id"]
    provider = cluster["commercial-us-eks-k8s"].inputs
    kubeconfig = json.loads(provider["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == commercial.outputs["kubernetes"]["clusterEndpoint"]
    assert commercial.outputs["kubernetes"]["configuredInStack"] is False


def test_configured_infrastructure_stack_is_referenced(tmp_path: Path) -> None:
    config = with_scheduler(example("commercial-us"), infrastructureStack="acme/aifactory/prod")
    result = plan_config(tmp_path, "commercial-us", config)
    assert [r.name for r in result.resources if r.type == "pulumi:pulumi:StackReference"] == ["acme/aifactory/prod"]


def test_private_endpoint_without_runner_still_splits(tmp_path: Path) -> None:
    result = plan_config(tmp_path, "commercial-us", with_scheduler(example("commercial-us"), clusterRunner=None))
    assert "aifactory-cluster" in result.stacks
    assert not [r for r in result.resources if r.type == "aws:codebuild/project:Project"]
    assert "clusterRunner" not in result.outputs


def infrastructure(run_program: RunProgram, stack: str) -> PlannedProgram:
    config = example(stack)
    plan = plan_from_config(config, stack)
    region = config["aws:region"]
    return run_program(lambda: deploy(plan) and None, config, stack=stack, region=region)


@pytest.fixture(scope="module")
def sovereign(run_program: RunProgram) -> PlannedProgram:
    return infrastructure(run_program, "sovereign-eu")


def test_runner_reaches_the_private_api_through_the_cluster_security_group(sovereign: PlannedProgram) -> None:
    cluster = sovereign.one("aws:eks/cluster:Cluster")
    runner_sg = sovereign.named("sovereign-eu-cluster-config-runner", "aws:ec2/securityGroup:SecurityGroup")
    rule = sovereign.named("sovereign-eu-cluster-config-runner-to-api")
    assert rule.inputs["securityGroupId"] == cluster.state["vpcConfig"]["clusterSecurityGroupId"]
    assert rule.inputs["referencedSecurityGroupId"] == runner_sg.id
    assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["ipProtocol"]) == (443, 443, "tcp")
    egress = [
        r
        for r in sovereign.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.inputs["securityGroupId"] == runner_sg.id
    ]
    assert [(r.inputs["fromPort"], r.inputs["toPort"]) for r in egress] == [(443, 443)]


def test_runner_is_a_codebuild_project_in_the_private_subnets(sovereign: PlannedProgram) -> None:
    project = sovereign.one("aws:codebuild/project:Project")
    runner_sg = sovereign.named("sovereign-eu-cluster-config-runner", "aws:ec2/securityGroup:SecurityGroup")
    private = [s.id for s in sovereign.of_type("aws:ec2/subnet:Subnet") if "private" in s.name]
    vpc = project.inputs["vpcConfig"]
    assert sorted(vpc["subnets"]) == sorted(private) and vpc["securityGroupIds"] == [runner_sg.id]
    env = project.inputs["environment"]
    assert env["image"] == "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror/aifactory-runner:0.2.0"
    assert env["imagePullCredentialsType"] == "SERVICE_ROLE"
    key = sovereign.one("aws:kms/key:Key")
    assert project.inputs["encryptionKey"] == key.state["arn"]
    assert project.inputs["source"]["type"] == "NO_SOURCE"
    commands = yaml.safe_load(project.inputs["source"]["buildspec"])["phases"]["build"]["commands"]
    assert commands[0] == "pulumi login 's3://aifactory-sovereign-eu-state?region=eu-north-1&awssdk=v2'"
    assert f"awskms:///{SOVEREIGN_SECRETS_KEY}?region=eu-north-1" in commands[2]
    assert commands[-1].endswith("--stack sovereign-eu")
    log_group = sovereign.named("sovereign-eu-cluster-config-runner", "aws:cloudwatch/logGroup:LogGroup")
    assert project.inputs["logsConfig"]["cloudwatchLogs"]["groupName"] == log_group.inputs["name"]
    assert log_group.inputs["kmsKeyId"] == key.state["arn"]


def test_runner_role_is_cluster_admin_and_least_privilege(sovereign: PlannedProgram) -> None:
    role = sovereign.named("sovereign-eu-cluster-config-runner", "aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "codebuild.amazonaws.com"}
    entry = sovereign.named("sovereign-eu-cluster-config-runner", "aws:eks/accessEntry:AccessEntry")
    association = sovereign.named(
        "sovereign-eu-cluster-config-runner", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
    )
    assert entry.inputs["principalArn"] == role.state["arn"] == association.inputs["principalArn"]
    assert association.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    policy = json.loads(sovereign.named("sovereign-eu-cluster-config-runner-inline").inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["SecretsKey"]["Resource"] == SOVEREIGN_SECRETS_KEY
    assert by_sid["StateObjects"]["Resource"] == "arn:aws:s3:::aifactory-sovereign-eu-state/*"
    assert by_sid["DescribeCluster"]["Resource"] == sovereign.one("aws:eks/cluster:Cluster").state["arn"]


def test_kms_endpoint_only_without_egress(sovereign: PlannedProgram, run_program: RunProgram) -> None:
    def kms_endpoints(program: PlannedProgram) -> list[Any]:
        return [
            r for r in program.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if r.inputs["serviceName"].endswith(".kms")
        ]

    [endpoint] = kms_endpoints(sovereign)
    endpoint_sg = sovereign.named("sovereign-eu-cluster-config-kms-endpoint", "aws:ec2/securityGroup:SecurityGroup")
    assert endpoint.inputs["securityGroupIds"] == [endpoint_sg.id] and endpoint.inputs["privateDnsEnabled"]
    ingress = sovereign.named("sovereign-eu-cluster-config-kms-endpoint-https")
    runner_sg = sovereign.named("sovereign-eu-cluster-config-runner", "aws:ec2/securityGroup:SecurityGroup")
    assert ingress.inputs["referencedSecurityGroupId"] == runner_sg.id
    commercial = infrastructure(run_program, "commercial-us")
    assert kms_endpoints(commercial) == []
    # commercial-us has `aifactory:encryption`: the build logs take the factory key, reached through NAT.
    project = commercial.one("aws:codebuild/project:Project")
    assert project.inputs["encryptionKey"] == commercial.one("aws:kms/key:Key").state["arn"]


def test_plan_report_lists_both_stacks_and_how_to_run_them(commercial: PlanResult) -> None:
    from aifactory.cli.report import plan_lines

    lines = plan_lines(commercial)
    stacks = lines[lines.index("stacks") + 1 :]
    assert stacks[0].split() == ["project", "cloud", "resources", "apply", "with"]
    assert stacks[2].split()[:2] == ["aifactory", str(sum(r.custom for r in commercial.stacks["aifactory"]))]
    assert any(line.split()[0] == "aifactory-cluster" and "cluster configuration" in line for line in stacks)
    assert "  runner            aws codebuild start-build --project-name" in stacks
    assert "                    commercial-us-cluster-config" in stacks
    assert any(f"move {len(commercial.moves)} Kubernetes resources" in line for line in stacks)


def test_cluster_program_has_nothing_to_do_for_a_public_endpoint(run_program: RunProgram) -> None:
    from aifactory.program import deploy_cluster

    config = public(example("commercial-us"))
    plan = plan_from_config(config, "commercial-us")
    program = run_program(lambda: deploy_cluster(plan) and None, config, stack="commercial-us")
    assert program.resources == []
