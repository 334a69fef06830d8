"""`aifactory plan` / `render` / `policy-check`: the contract of DESIGN.md, on the example stacks."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aifactory.cli.main import main
from aifactory.policies import POLICIES
from aifactory.tags import TAG_DATA_REPOSITORY

from tests.policy.harness import UNKNOWN
from tests.stackfiles import EXAMPLE_STACKS, base, write_stack

EXAMPLES = list(EXAMPLE_STACKS)


def _plan_json(capsys: pytest.CaptureFixture[str], stack: str) -> tuple[int, dict[str, Any]]:
    code = main(["plan", stack, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def plans() -> dict[str, dict[str, Any]]:
    from aifactory.cli.planrun import plan_stack

    return {stack: plan_stack(stack).as_json() for stack in EXAMPLES}


@pytest.mark.parametrize("stack", EXAMPLES)
def test_example_stacks_plan_clean(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, plan = _plan_json(capsys, stack)
    assert plan["preflight"]["findings"] == []
    # Sovereign stacks meet every policy; commercial ones every mandatory policy (advisory ones, e.g.
    # [S3.17] SSE-KMS or NAT egress to the internet, are reported for the user to decide).
    violations = plan["policy"]["violations"]
    assert [v for v in violations if v["level"] == "mandatory"] == []
    if plan["profile"] == "sovereign":
        assert violations == []
    assert code == 0


def test_json_contract(plans: dict[str, dict[str, Any]]) -> None:
    plan = plans["commercial-us"]
    assert {"stack", "profile", "region", "resources", "summary", "policy"} <= set(plan)
    assert (plan["stack"], plan["profile"], plan["region"]) == ("commercial-us", "commercial", "us-east-1")
    for resource in plan["resources"]:
        assert set(resource) - {"aliases"} == {"urn", "type", "name", "parent", "id", "inputs", "outputs"}
        # Present only on a moved resource: the URNs it had (what `aifactory diff` matches it by).
        assert all(isinstance(a, str) and a.startswith("urn:pulumi:") for a in resource.get("aliases", ["urn:pulumi:"]))
        assert resource["urn"].startswith(
            ("urn:pulumi:commercial-us::aifactory::", "urn:pulumi:commercial-us::aifactory-cluster::")
        )
    # a private-endpoint factory: both stacks, every resource in exactly one of them
    stacks = plan["stacks"]
    assert set(stacks) == {"aifactory", "aifactory-cluster"}
    assert sorted(u for s in stacks.values() for u in s["urns"]) == sorted(r["urn"] for r in plan["resources"])
    assert "kubeconfig" in stacks["aifactory-cluster"]["outputs"]
    summary = plan["summary"]
    for key in ("nodes", "gpus", "storage_throughput_gbps"):
        assert isinstance(summary[key], int | float), key
    # The 64-node p5en block has no capacity-block rate in us-east-1's table: the fleet's cost, and so
    # the total, is unknown (null), with a note, rather than another purchase option's figure.
    assert summary["cost_per_hour_usd"] is None
    assert summary["price_notes"][0] == "fleet block: no capacity-block rate for p5en.48xlarge in us-east-1"
    assert summary["price_notes"][1].startswith("storage: estimate: ")  # the 500 MB/s/TiB tier's price is one
    for fleet in summary["fleets"]:
        assert {"cost_per_hour_usd", "price_basis", "price_source", "price_date", "price_note"} <= set(fleet)
    assert summary["fleets"][1]["price_basis"] == "on-demand" and summary["fleets"][1]["price_date"] == "2025-06"
    assert {"monthly_cost_usd", "price_source", "price_date", "price_note"} <= set(summary["storage"])
    # An AWS site: no rack, cooling, PUE or power figures (EC2 exposes none).
    assert "power_kw" not in summary and all("power_kw" not in f for f in summary["fleets"])
    assert not {"it_power_kw", "facility_power_kw", "pue", "fullest_rack", "racks"} & set(summary["placement"])
    assert summary["nodes"] == 160 and summary["gpus"] == 1280
    assert summary["storage_throughput_gbps"] > 0
    assert set(plan["policy"]) >= {"violations"}


def test_inputs_use_the_engines_camel_case_names(plans: dict[str, dict[str, Any]]) -> None:
    lt = next(r for r in plans["commercial-us"]["resources"] if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate")
    assert {"metadataOptions", "networkInterfaces", "blockDeviceMappings"} <= set(lt["inputs"])
    assert lt["inputs"]["metadataOptions"]["httpTokens"] == "required"


def test_parents_are_components(plans: dict[str, dict[str, Any]]) -> None:
    resources = plans["sovereign-eu"]["resources"]
    urns = {r["urn"] for r in resources}
    for resource in resources:
        assert resource["parent"] is None or resource["parent"] in urns
    roots = [r for r in resources if r["parent"] is None]
    # one root per stack: the factory, and in the cluster stack its configuration and the reference
    by_project = sorted((r["urn"].split("::")[1], r["type"]) for r in roots)
    assert by_project == [
        ("aifactory", "aifactory:index:AiFactory"),
        ("aifactory-cluster", "aifactory:index:ClusterConfiguration"),
        ("aifactory-cluster", "pulumi:pulumi:StackReference"),
    ]


def test_capacity_block_fleet_has_no_placement_group_and_exposes_its_drain(plans: dict[str, dict[str, Any]]) -> None:
    plan = plans["commercial-us"]
    lts = {r["name"]: r["inputs"] for r in plan["resources"] if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate"}
    block = next(v for k, v in lts.items() if "block" in k)
    assert block["instanceMarketOptions"]["marketType"] == "capacity-block"
    assert block["capacityReservationSpecification"]["capacityReservationTarget"]["capacityReservationId"]
    assert "placement" not in block
    ondemand = next(v for k, v in lts.items() if "ondemand" in k)
    assert ondemand["placement"]["groupName"]
    groups = [r for r in plan["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup" and "block" in r["name"]]
    assert groups and all(g["inputs"]["capacityType"] == "CAPACITY_BLOCK" for g in groups)
    assert plan["outputs"]["capacityBlockDrainDeadlines"]["block"] == "2027-06-15T11:00:00+00:00"


def test_human_plan_shows_fleets_totals_and_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "commercial-us", "--tree"]) == 0
    out = capsys.readouterr().out
    assert "IT power" not in out and "facility power" not in out and "PUE" not in out  # an AWS site
    for fragment in (
        "fleets",
        "p5en.48xlarge",
        "total        160   1,280                     unknown",
        "price of block: capacity-block, unknown: no capacity-block rate for",
        "storage",
        "resource tree",
        "aifactory:index:GpuFleet",
        "[advisory] s3-access-logging",
    ):
        assert fragment in out, fragment
    assert "[mandatory]" not in out


def test_unknown_stack_is_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no stack 'nope'" in err and "commercial-us" in err


@pytest.mark.parametrize(("region", "partition"), [("us-gov-west-1", "aws-us-gov"), ("eusc-de-east-1", "aws-eusc")])
def test_sovereign_stack_in_other_partitions_builds_partition_arns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], region: str, partition: str
) -> None:
    config = base(sovereign=True)
    config["aws:region"] = region
    config["aifactory:sovereignty"] = {
        "allowedRegions": [region],
        "allowedPartitions": [partition],
        "registryMirror": f"mirror.{region}.internal",
    }
    config["aifactory:fleets"][0]["availabilityZone"] = f"{region}a"
    config["aifactory:scheduler"] = {
        "kind": "kubernetes",
        "queues": [{"name": "q", "namespace": "team", "gpuQuota": 8}],
    }
    code, plan = _plan_json(capsys, str(write_stack(tmp_path, "gov", config)))
    assert code == 0, plan["policy"]["violations"]
    assert plan["partition"] == partition
    text = json.dumps(plan["resources"])
    assert f"arn:{partition}:" in text
    assert "arn:aws:" not in text


def test_render_writes_every_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "slurm-aws", "--out", str(tmp_path)]) == 0
    for relative in (
        "plan.json",
        "topology/kueue-topology.yaml",
        "slurm/slurm.conf",
        "slurm/gres.conf",
        "slurm/topology.conf",
    ):
        assert (tmp_path / relative).is_file(), relative
    assert list((tmp_path / "bootstrap").glob("*.user-data.txt"))
    # On EC2 the topology is measured on the head, not planned: no planned tree to write.
    assert not (tmp_path / "topology" / "topology.conf").exists()
    # EC2 instances are not racked: no install plan or heatmap for an AWS site.
    assert not (tmp_path / "thermal" / "install-plan.csv").exists()
    hall = tmp_path / "hall"
    assert main(["render", "sovereign-datahall", "--out", str(hall)]) == 0
    for relative in ("thermal/heatmap.png", "thermal/install-plan.csv", "topology/node-labels.json"):
        assert (hall / relative).is_file(), relative
    # The 32 servers of `tune` are capped to fit four per rear-door rack; the 96 of `train` are not.
    capped = sorted(p.name for p in (hall / "hall" / "power-cap").iterdir())
    assert len(capped) == 32 and all(name.startswith("tune-") for name in capped)
    assert not list(hall.glob("bootstrap/*train*"))
    assert main(["render", "commercial-us", "--out", str(tmp_path / "k8s")]) == 0
    assert (tmp_path / "k8s" / "kubernetes" / "nccl-tests.yaml").is_file()


# --- policy-check: every policy catches one broken resource of the sovereign example ---------------

BREAKS: dict[str, Callable[[dict[str, Any]], None]] = {}
"""Policy id -> an edit of the clean sovereign plan that makes that policy fire."""


def breaks(policy: str) -> Callable[[Callable[[dict[str, Any]], None]], Callable[[dict[str, Any]], None]]:
    def register(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        assert policy not in BREAKS, f"two plan edits for {policy}"
        BREAKS[policy] = edit
        return edit

    return register


def _find(plan: dict[str, Any], type_: str, name_part: str = "") -> dict[str, Any]:
    return next(r for r in plan["resources"] if r["type"] == type_ and name_part in r["name"])


@breaks("allowed-regions")
def _break_region(plan: dict[str, Any]) -> None:
    fs = _find(plan, "aws:fsx/lustreFileSystem:LustreFileSystem")
    fs["inputs"]["kmsKeyId"] = fs["inputs"]["kmsKeyId"].replace("eu-north-1", "us-east-1")


@breaks("customer-managed-keys")
def _drop_fsx_key(plan: dict[str, Any]) -> None:
    del _find(plan, "aws:fsx/lustreFileSystem:LustreFileSystem")["inputs"]["kmsKeyId"]


@breaks("encrypted-disks")
def _unencrypt_disk(plan: dict[str, Any]) -> None:
    lt = _find(plan, "aws:ec2/launchTemplate:LaunchTemplate")
    lt["inputs"]["blockDeviceMappings"][0]["ebs"]["encrypted"] = "false"


@breaks("no-public-network")
def _add_igw(plan: dict[str, Any]) -> None:
    vpc = _find(plan, "aws:ec2/vpc:Vpc")
    plan["resources"].append(
        {
            **copy.deepcopy(vpc),
            "type": "aws:ec2/internetGateway:InternetGateway",
            "urn": vpc["urn"].replace("aws:ec2/vpc:Vpc", "aws:ec2/internetGateway:InternetGateway"),
            "name": "igw",
            "inputs": {"vpcId": "vpc-1", "tags": vpc["inputs"]["tags"]},
        }
    )


@breaks("imdsv2-required")
def _imdsv1(plan: dict[str, Any]) -> None:
    _find(plan, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]["metadataOptions"]["httpTokens"] = "optional"


@breaks("efa-security-group-self-only")
def _widen_efa_group(plan: dict[str, Any]) -> None:
    rule = _find(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "efa-in-self")
    del rule["inputs"]["referencedSecurityGroupId"]
    rule["inputs"]["cidrIpv4"] = "10.0.0.0/8"


@breaks("no-open-ingress")
def _open_ingress(plan: dict[str, Any]) -> None:
    _find(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "endpoints-https")["inputs"][
        "cidrIpv4"
    ] = "0.0.0.0/0"


@breaks("efa-interface-layout")
def _drop_efa_interface(plan: dict[str, Any]) -> None:
    _find(plan, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]["networkInterfaces"].pop()


@breaks("no-placement-group-on-reserved-capacity")
def _placement_group_on_reservation(plan: dict[str, Any]) -> None:
    # A group the deploy creates: its name is unknown in preview (a literal name is the reservation's own group).
    _find(plan, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]["placement"] = {"groupName": UNKNOWN}


@breaks("fsx-lustre-durability")
def _no_backups(plan: dict[str, Any]) -> None:
    _unlinked(plan)["inputs"]["automaticBackupRetentionDays"] = 0


def _unlinked(plan: dict[str, Any]) -> dict[str, Any]:
    """sovereign-eu's file system links its bucket, and FSx backs up no linked file system: the backup
    policies judge it once it no longer says it is linked."""
    fs = _find(plan, "aws:fsx/lustreFileSystem:LustreFileSystem")
    fs["inputs"]["tags"] = {k: v for k, v in fs["inputs"]["tags"].items() if k != TAG_DATA_REPOSITORY}
    return fs


@breaks("fsx-copy-tags-to-backups")
def _no_tags_on_backups(plan: dict[str, Any]) -> None:
    _unlinked(plan)["inputs"]["copyTagsToBackups"] = False


@breaks("private-cluster-endpoint")
def _public_endpoint(plan: dict[str, Any]) -> None:
    _find(plan, "aws:eks/cluster:Cluster")["inputs"]["vpcConfig"]["endpointPublicAccess"] = True


@breaks("allowed-registries")
def _public_image(plan: dict[str, Any]) -> None:
    release = _find(plan, "kubernetes:helm.sh/v3:Release", "kueue")
    release["inputs"]["values"]["extraImage"] = {"repository": "docker.io/library/busybox"}


@breaks("required-tags")
def _drop_tags(plan: dict[str, Any]) -> None:
    del _find(plan, "aws:ec2/vpc:Vpc")["inputs"]["tags"]


@breaks("iam-no-wildcard-admin")
def _admin_policy(plan: dict[str, Any]) -> None:
    _find(plan, "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"] = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )


@breaks("iam-policy-lint")
def _lint_failure(plan: dict[str, Any]) -> None:
    statement = {"Sid": "a", "Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}
    _find(plan, "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"] = json.dumps(
        {"Version": "2012-10-17", "Statement": [statement, statement]}
    )


@breaks("rack-power-and-cooling")
def _overloaded_rack(plan: dict[str, Any]) -> None:
    plan["summary"]["placement"]["racks"] = [
        {"name": "r1", "cooling": "air", "budget_kw": 36.0, "power_kw": 51.0, "nodes": 5}
    ]


def _set(rtype: str, name_part: str, **inputs: Any) -> Callable[[dict[str, Any]], None]:
    def edit(plan: dict[str, Any]) -> None:
        _find(plan, rtype, name_part)["inputs"].update(inputs)

    return edit


def _statement_policy(statement: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return _set(
        "aws:iam/rolePolicy:RolePolicy", "", policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )


_TLS_DENY = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
_BUCKET_PARTS: dict[str, dict[str, Any]] = {
    "aws:s3/bucket:Bucket": {"bucket": "b"},
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": dict.fromkeys(
        ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
    ),
    "aws:s3/bucketVersioning:BucketVersioning": {"versioningConfiguration": {"status": "Enabled"}},
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": {
        "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "k"}}]
    },
    "aws:s3/bucketPolicy:BucketPolicy": {"policy": json.dumps({"Version": "2012-10-17", "Statement": [_TLS_DENY]})},
    "aws:s3/bucketLogging:BucketLogging": {"targetBucket": "logs"},
}


def _add_bucket(*, drop: str = "", **changes: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """Add a compliant bucket with its companions to the plan, then drop or change one part."""

    def edit(plan: dict[str, Any]) -> None:
        tags = _find(plan, "aws:ec2/vpc:Vpc")["inputs"]["tags"]
        for rtype, inputs in _BUCKET_PARTS.items():
            if rtype == drop:
                continue
            part = {**copy.deepcopy(inputs), **changes.get(rtype.split(":")[-1], {})}
            if rtype == "aws:s3/bucket:Bucket":
                part["tags"] = tags
            else:
                part["bucket"] = "b"
            name = rtype.split(":")[-1]
            plan["resources"].append(
                {"urn": f"urn:pulumi:s::p::{rtype}::{name}", "type": rtype, "name": name, "inputs": part}
            )

    return edit


for _policy, _edit in {
    "log-group-retention": _set("aws:cloudwatch/logGroup:LogGroup", "flow-logs", retentionInDays=1.0),
    "flow-logs-capture-all": _set("aws:ec2/flowLog:FlowLog", "", trafficType="REJECT"),
    "eks-audit-logging": _set("aws:eks/cluster:Cluster", "", enabledClusterLogTypes=["api"]),
    "eks-supported-version": _set("aws:eks/cluster:Cluster", "", version="1.24"),
    "eks-secrets-encryption": _set("aws:eks/cluster:Cluster", "", encryptionConfig={"resources": []}),
    "eks-public-endpoint-restricted": _set(
        "aws:eks/cluster:Cluster", "", vpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}
    ),
    "no-public-ip": _set("aws:ec2/subnet:Subnet", "", mapPublicIpOnLaunch=True),
    "no-open-egress": _set(
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "nodes-out", cidrIpv4="0.0.0.0/0"
    ),
    "default-security-group-closed": _set(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "",
        ingress=[{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": True}],
    ),
    "iam-no-service-wildcard": _statement_policy({"Effect": "Allow", "Action": "logs:*", "Resource": "arn:aws:logs:*"}),
    "kms-no-wildcard-decrypt": _statement_policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}),
    "no-public-principal": _set(
        "aws:iam/role:Role",
        "",
        assumeRolePolicy=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*"}]}
        ),
    ),
    "kms-key-rotation": _set("aws:kms/key:Key", "", enableKeyRotation=False),
    "s3-block-public-access": _add_bucket(BucketPublicAccessBlock={"restrictPublicBuckets": False}),
    "s3-bucket-public-access-blocked": _add_bucket(drop="aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"),
    "s3-versioning": _add_bucket(BucketVersioning={"versioningConfiguration": {"status": "Suspended"}}),
    "s3-bucket-versioned": _add_bucket(drop="aws:s3/bucketVersioning:BucketVersioning"),
    "s3-tls-only": _add_bucket(BucketPolicy={"policy": json.dumps({"Version": "2012-10-17", "Statement": []})}),
    "s3-bucket-tls-only": _add_bucket(drop="aws:s3/bucketPolicy:BucketPolicy"),
    "s3-kms-encryption": _add_bucket(
        BucketServerSideEncryptionConfiguration={
            "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        }
    ),
    "s3-access-logging": _add_bucket(drop="aws:s3/bucketLogging:BucketLogging"),
}.items():
    breaks(_policy)(_edit)


@breaks("in-region-image-builds")
def _image_build_from_the_internet(plan: dict[str, Any]) -> None:
    """An Image Builder component (sovereign-eu builds none) whose document downloads from the internet."""
    tags = _find(plan, "aws:ec2/vpc:Vpc")["inputs"]["tags"]
    data = "phases: [{name: build, steps: [{name: Fetch, action: WebDownload, inputs: [{source: 'https://example.org/x'}]}]}]"
    rtype = "aws:imagebuilder/component:Component"
    plan["resources"].append(
        {"urn": f"urn:pulumi:s::p::{rtype}::c", "type": rtype, "name": "c", "inputs": {"data": data, "tags": tags}}
    )


@breaks("rds-data-safety")
def _public_database(plan: dict[str, Any]) -> None:
    rtype = "aws:rds/instance:Instance"
    inputs = {"engine": "postgres", "publiclyAccessible": True, "storageEncrypted": True, "deletionProtection": True}
    plan["resources"].append({"urn": f"urn:pulumi:s::p::{rtype}::db", "type": rtype, "name": "db", "inputs": inputs})


@breaks("vpc-flow-logging")
def _no_flow_log(plan: dict[str, Any]) -> None:
    plan["resources"] = [r for r in plan["resources"] if r["type"] != "aws:ec2/flowLog:FlowLog"]


@breaks("default-security-group-managed")
def _default_group_unmanaged(plan: dict[str, Any]) -> None:
    plan["resources"] = [
        r for r in plan["resources"] if r["type"] != "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
    ]


def test_every_break_is_a_registered_policy() -> None:
    assert set(BREAKS) <= set(POLICIES.ids())


# Parametrized over the registry, not over BREAKS: a policy registered without a plan edit that
# makes it fire is a failing case here.
@pytest.mark.parametrize("policy", POLICIES.ids())
def test_policy_check_catches_a_broken_sovereign_plan(
    policy: str, plans: dict[str, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert policy in BREAKS, f"no plan edit makes {policy} fire; add one with @breaks({policy!r})"
    plan = copy.deepcopy(plans["sovereign-eu"])
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert main(["policy-check", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["violations"] == []

    BREAKS[policy](plan)
    path.write_text(json.dumps(plan))
    assert main(["policy-check", str(path), "--json"]) == 1
    violations = json.loads(capsys.readouterr().out)["violations"]
    assert policy in {v["policy"] for v in violations}
    fix = f". Fix: {POLICIES[policy].fix}"
    assert all(v["message"].endswith(fix) for v in violations if v["policy"] == policy)


def test_plan_notes_fleets_whose_type_has_no_ec2_topology(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = write_stack(tmp_path, "topo", base())  # p5 (3 layers) and g6.8xlarge (no EC2 topology)
    assert main(["plan", str(stack)]) == 0
    out = capsys.readouterr().out
    assert "note: fleet eval: g6.8xlarge has no EC2 instance topology" in out
    assert "Kueue topology           aifactory: topology.k8s.aws/network-node-layer-1 >" in out
    assert "topology.k8s.aws/network-node-layer-3 >\n" in out and "kubernetes.io/hostname (fleets train)" in out
    assert main(["plan", str(stack), "--json"]) == 0
    placement = json.loads(capsys.readouterr().out)["summary"]["placement"]
    assert [n["fleet"] for n in placement["topology_notes"]] == ["eval"]
    assert placement["kueue_topologies"]["aifactory"]["fleets"] == ["train"]


def test_data_hall_plan_keeps_its_power_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "sovereign-datahall", "--json"]) in (0, 1)
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert isinstance(summary["power_kw"], float) and all("power_kw" in f for f in summary["fleets"])
    assert {"it_power_kw", "facility_power_kw", "pue", "fullest_rack", "racks"} <= set(summary["placement"])
