"""The runner's buildspec and IAM policy (pure)."""

from __future__ import annotations

import shlex

import yaml
from aifactory.schedulers.cluster_runner import ecr_repository_arn, runner_buildspec, runner_policy

KEY = "arn:aws:kms:eu-north-1:123456789012:key/0b7d3c1e-5f2a-4c8e-9d61-2a4f8e7b3c90"


def test_buildspec_logs_in_selects_the_stack_and_runs_up_non_interactively() -> None:
    spec = yaml.safe_load(runner_buildspec("sovereign-eu", "state-eu", "eu-north-1", KEY, "/opt/aifactory/cluster"))
    assert spec["version"] == 0.2
    commands = [shlex.split(c) for c in spec["phases"]["build"]["commands"]]
    provider = f"awskms:///{KEY}?region=eu-north-1"
    assert commands == [
        ["pulumi", "login", "s3://state-eu?region=eu-north-1&awssdk=v2"],
        ["cd", "/opt/aifactory/cluster"],
        ["pulumi", "stack", "select", "--create", "--secrets-provider", provider, "sovereign-eu"],
        ["pulumi", "up", "--yes", "--non-interactive", "--skip-preview", "--stack", "sovereign-eu"],
    ]


def test_buildspec_quotes_every_value() -> None:
    # The spec rules refuse such values; the buildspec still never lets one run as shell.
    spec = yaml.safe_load(runner_buildspec("st; rm -rf /", "b", "r", KEY, "/opt/x"))
    select = spec["phases"]["build"]["commands"][2]
    assert shlex.split(select)[-1] == "st; rm -rf /"
    assert "'st; rm -rf /'" in select


def test_ecr_image_gives_its_repository_arn() -> None:
    assert (
        ecr_repository_arn("123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror/aifactory-runner:0.2.0", "aws")
        == "arn:aws:ecr:eu-north-1:123456789012:repository/mirror/aifactory-runner"
    )
    assert ecr_repository_arn("registry.example.com/runner:1", "aws") is None


def policy(repository: str | None = "arn:aws:ecr:eu-north-1:123456789012:repository/mirror/runner") -> dict:
    return runner_policy(
        partition="aws",
        region="eu-north-1",
        account="123456789012",
        log_group_arn="arn:aws:logs:eu-north-1:123456789012:log-group:/aws/codebuild/x",
        repository_arn=repository,
        bucket="state-eu",
        secrets_key_arn=KEY,
        cluster_arn="arn:aws:eks:eu-north-1:123456789012:cluster/x",
        subnet_arns=["arn:aws:ec2:eu-north-1:123456789012:subnet/subnet-1"],
    )


def test_policy_grants_only_what_the_build_needs() -> None:
    by_sid = {s["Sid"]: s for s in policy()["Statement"]}
    assert by_sid["StateBucket"]["Resource"] == "arn:aws:s3:::state-eu"
    assert by_sid["StateObjects"]["Resource"] == "arn:aws:s3:::state-eu/*"
    assert by_sid["SecretsKey"]["Resource"] == KEY
    assert by_sid["DescribeCluster"] == {
        "Sid": "DescribeCluster",
        "Effect": "Allow",
        "Action": ["eks:DescribeCluster"],
        "Resource": "arn:aws:eks:eu-north-1:123456789012:cluster/x",
    }
    assert by_sid["RunnerImage"]["Resource"].endswith(":repository/mirror/runner")
    condition = by_sid["BuildNetworkInterfacePermission"]["Condition"]
    assert condition["StringEquals"] == {"ec2:AuthorizedService": "codebuild.amazonaws.com"}
    assert condition["ArnEquals"]["ec2:Subnet"] == ["arn:aws:ec2:eu-north-1:123456789012:subnet/subnet-1"]
    # '*' only where the action has no resource-level permission
    wildcard = {a for s in policy()["Statement"] if s["Resource"] == "*" for a in s["Action"]}
    assert wildcard <= {
        "ecr:GetAuthorizationToken",
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
    }


def test_no_registry_permissions_for_an_image_outside_ecr() -> None:
    actions = {a for s in policy(None)["Statement"] for a in s["Action"]}
    assert not any(a.startswith("ecr:") for a in actions)
