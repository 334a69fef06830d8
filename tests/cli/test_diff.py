"""`aifactory diff` and `aifactory plan --against`: added, removed, changed and replaced resources,
with stateful replacements and removals refused unless allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.catalog.replace_on_change import replace_rules
from aifactory.cli.diff import PlanDocumentError, diff_plans, load_plan_document, render_text
from aifactory.cli.main import main

from tests.stackfiles import EXAMPLE_STACKS

SUBNET = "aws:ec2/subnet:Subnet"
FS = "aws:fsx/lustreFileSystem:LustreFileSystem"
BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"


def res(name: str, typ: str, rid: str | None = None, aliases: tuple[str, ...] = (), **inputs: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "urn": f"urn:pulumi:t::aifactory::{typ}::{name}",
        "type": typ,
        "name": name,
        "id": rid or f"{name}-id0001",
        "inputs": inputs,
        "outputs": {},
    }
    if aliases:
        document["aliases"] = list(aliases)
    return document


def doc(*resources: dict[str, Any], gpus: int = 8, cost: float = 10.0) -> dict[str, Any]:
    return {"resources": list(resources), "summary": {"gpus": gpus, "cost_per_hour_usd": cost, "power_kw": 1.0}}


def actions(diff: Any) -> dict[str, str]:
    return {c.name: c.action for c in diff.changes}


SUB = res("sub", SUBNET, "subnet-0abc", cidrBlock="10.0.0.0/24", availabilityZone="us-east-1a", tags={"a": "1"})
FSX = res("fs", FS, "fs-0abc", subnetIds=["subnet-0abc"], storageCapacity=1200)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # Nothing changed.
        ([SUB], [SUB], {}),
        # A tag is an update in place.
        ([SUB], [{**SUB, "inputs": {**SUB["inputs"], "tags": {"a": "2"}}}], {"sub": "update"}),
        # A new CIDR replaces the subnet ...
        ([SUB], [{**SUB, "inputs": {**SUB["inputs"], "cidrBlock": "10.0.1.0/24"}}], {"sub": "replace"}),
        # ... and the file system in it: the new subnet has a new id.
        (
            [SUB, FSX],
            [{**SUB, "inputs": {**SUB["inputs"], "cidrBlock": "10.0.1.0/24"}}, FSX],
            {"sub": "replace", "fs": "replace"},
        ),
        # Growing the file system is an update (storage_capacity only forces new when it shrinks).
        ([FSX], [{**FSX, "inputs": {**FSX["inputs"], "storageCapacity": 2400}}], {"fs": "update"}),
        # Added and removed.
        ([SUB], [FSX], {"sub": "remove", "fs": "add"}),
        # An alias to the old URN is a move, not a replacement.
        ([SUB], [res("sub2", SUBNET, "subnet-0abc", aliases=(SUB["urn"],), **SUB["inputs"])], {}),
        # Nested replace-on-change inputs (`a.b`): an EKS cluster's service CIDR.
        (
            [res("c", "aws:eks/cluster:Cluster", kubernetesNetworkConfig={"serviceIpv4Cidr": "172.20.0.0/16"})],
            [res("c", "aws:eks/cluster:Cluster", kubernetesNetworkConfig={"serviceIpv4Cidr": "172.21.0.0/16"})],
            {"c": "replace"},
        ),
        # Kubernetes objects: a new namespace replaces.
        (
            [res("q", "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue", metadata={"name": "q", "namespace": "a"})],
            [res("q", "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue", metadata={"name": "q", "namespace": "b"})],
            {"q": "replace"},
        ),
    ],
    ids=["same", "tag", "cidr", "cascade", "grow", "add-remove", "alias", "nested", "k8s-namespace"],
)
def test_actions(old: list[dict[str, Any]], new: list[dict[str, Any]], expected: dict[str, str]) -> None:
    assert actions(diff_plans(doc(*old), doc(*new))) == expected


def test_stateful_replacements_and_removals_are_refused_unless_allowed() -> None:
    moved = {**FSX, "inputs": {**FSX["inputs"], "subnetIds": ["subnet-0def"]}}
    bucket = res("data", BUCKET, "data", bucket="data")
    diff = diff_plans(doc(FSX, bucket), doc(moved))
    assert {c.name: (c.action, c.refused) for c in diff.changes} == {"fs": ("replace", True), "data": ("remove", True)}
    assert diff.failed
    assert not diff_plans(doc(FSX, bucket), doc(moved), [FSX["urn"], BUCKET]).failed
    # A role is not stateful: replacing it is reported, not refused.
    role = res("r", ROLE, path="/a/")
    replaced = diff_plans(doc(role), doc({**role, "inputs": {"path": "/b/"}}))
    assert actions(replaced) == {"r": "replace"} and not replaced.failed


def test_a_changed_type_missing_from_the_table_fails() -> None:
    thing = res("x", "aws:new/thing:Thing", size=1)
    diff = diff_plans(doc(thing), doc({**thing, "inputs": {"size": 2}}))
    assert diff.unlisted == ["aws:new/thing:Thing"] and diff.failed


def test_text_groups_aligns_and_ends_with_deltas_and_refusals() -> None:
    moved = {**FSX, "inputs": {**FSX["inputs"], "subnetIds": ["subnet-0def"]}}
    new = doc(moved, res("sub-b", SUBNET, cidrBlock="10.0.2.0/24"), gpus=16, cost=25.5)
    lines = render_text(diff_plans(doc(FSX), new))
    assert lines[0] == "aifactory diff: 1 to replace, 0 to remove, 1 to add, 0 to change"
    assert lines.index("replace") < lines.index("add") < lines.index("deltas")
    (fs_line,) = [line for line in lines if "fs" in line.split()]
    assert "subnetIds" in fs_line and "STATEFUL, refused" in fs_line
    (gpus,) = [line for line in lines if line.strip().startswith("gpus")]
    assert gpus.split()[1:] == ["8", "->", "16", "(+8)"]
    assert lines[-2] == f"  {FSX['urn']}" and "--allow-replace" in lines[-1]


def test_json_reports_summary_changes_and_deltas() -> None:
    diff = diff_plans(
        doc(SUB),
        doc(),
    )
    document = diff.as_json()
    assert document["summary"] == {"replace": 0, "remove": 1, "add": 0, "change": 0}
    assert document["changes"][0]["action"] == "remove" and document["refused"] == []
    assert document["deltas"]["gpus"] == {"old": 8.0, "new": 8.0, "delta": 0.0}


@pytest.mark.parametrize("text", ["not json", "[]", '{"resources": [{"name": 1}]}'])
def test_documents_that_are_not_plans_are_refused(text: str) -> None:
    with pytest.raises(PlanDocumentError, match=r"old\.json"):
        load_plan_document(text, "old.json")


@pytest.fixture(scope="module")
def example_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("plans")
    paths = {}
    for stack in EXAMPLE_STACKS:
        from aifactory.cli.planrun import plan_stack

        paths[stack] = out / f"{stack}.json"
        paths[stack].write_text(json.dumps(plan_stack(stack).as_json()))
    return paths


def test_every_planned_resource_type_has_a_replace_entry(example_plans: dict[str, Path]) -> None:
    planned = {r["type"] for p in example_plans.values() for r in json.loads(p.read_text())["resources"]}
    assert planned - set(replace_rules()) == set()


def test_every_replace_entry_cites_its_source() -> None:
    stateful = {t for t, r in replace_rules().items() if r.stateful}
    assert {FS, BUCKET, "aws:kms/key:Key", "aws:eks/cluster:Cluster", "aws:secretsmanager/secret:Secret"} <= stateful
    assert "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation" in stateful
    for typ, rule in replace_rules().items():
        assert rule.source and rule.checked in ("source", "docs"), typ


def test_an_unchanged_plan_diffs_clean(example_plans: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = str(example_plans["commercial-us"])
    assert main(["diff", path, path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == []


def _variant(tmp_path: Path, stack: str, edit: Any) -> Path:
    config = yaml.safe_load(Path(f"stacks/Pulumi.{stack}.yaml").read_text())
    edit(config["config"])
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path


def test_plan_against_refuses_a_new_vpc_cidr_that_replaces_the_file_system(
    example_plans: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stacks = _variant(tmp_path, "sovereign-eu", lambda c: c["aifactory:network"].update(cidr="10.81.0.0/16"))
    old = str(example_plans["sovereign-eu"])
    args = ["plan", "sovereign-eu", "--stacks-dir", str(stacks), "--against", old, "--json"]
    assert main(args) == 1
    document = json.loads(capsys.readouterr().out)
    replaced = {c["type"] for c in document["changes"] if c["action"] == "replace"}
    assert {"aws:ec2/vpc:Vpc", SUBNET, FS} <= replaced
    assert any(u.endswith("::sovereign-eu-fsx-fs") for u in document["refused"])
    # sovereign-eu's file system links its in-region bucket: the associations go with the file system.
    dra = "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation"
    allowed = [FS, "aws:eks/cluster:Cluster", dra]
    assert main([*args, *(a for t in allowed for a in ("--allow-replace", t))]) == 0
    assert json.loads(capsys.readouterr().out)["refused"] == []


def test_diff_of_a_resized_fleet_changes_cost_and_replaces_no_data(
    example_plans: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stacks = _variant(tmp_path, "slurm-aws", lambda c: c["aifactory:fleets"][0].update(count=96))
    new = tmp_path / "new.json"
    assert main(["plan", "slurm-aws", "--stacks-dir", str(stacks), "--json"]) == 0
    new.write_text(capsys.readouterr().out)
    assert main(["diff", str(example_plans["slurm-aws"]), str(new)]) == 0
    text = capsys.readouterr().out
    assert "STATEFUL" not in text
    (gpus,) = [line for line in text.splitlines() if line.strip().startswith("gpus")]
    assert gpus.split()[1:] == ["1024", "->", "768", "(-256)"]


def test_unreadable_plan_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["diff", str(bad), str(tmp_path / "missing.json")]) == 2
    assert "bad.json" in capsys.readouterr().err


# Entries corrected against the Terraform AWS provider's schema source (ForceNew / RequiresReplace),
# each a change the old, from-memory table got wrong.
@pytest.mark.parametrize(
    ("typ", "old_inputs", "new_inputs", "expected"),
    [
        # ssm/document.go: only `name` forces new; a new document type is an UpdateDocument.
        ("aws:ssm/document:Document", {"name": "d", "documentType": "Command"}, {"documentType": "Session"}, "update"),
        # route53/record.go: `name` and `zone_id` force new; `type` and `set_identifier` do not.
        ("aws:route53/record:Record", {"name": "a", "type": "A"}, {"type": "AAAA"}, "update"),
        ("aws:route53/record:Record", {"name": "a", "setIdentifier": "x"}, {"setIdentifier": "y"}, "update"),
        # eks/cluster.go: remote_network_config is UpdateClusterConfig (EKS API RemoteNetworkConfigRequest).
        (
            "aws:eks/cluster:Cluster",
            {"remoteNetworkConfig": {"remoteNodeNetworks": {"cidrs": ["192.168.0.0/20"]}}},
            {"remoteNetworkConfig": {"remoteNodeNetworks": {"cidrs": ["192.168.0.0/19"]}}},
            "update",
        ),
        # No UpdateActivation: a new registration limit is a new activation.
        ("aws:ssm/activation:Activation", {"registrationLimit": 4}, {"registrationLimit": 8}, "replace"),
        # ssm/association.go: `name` (the document) forces new.
        ("aws:ssm/association:Association", {"name": "AWS-RunShellScript"}, {"name": "AWS-RunPatch"}, "replace"),
        # ec2/vpc_flow_log.go: every argument but tags forces new, including the regional NAT gateway.
        ("aws:ec2/flowLog:FlowLog", {"regionalNatGatewayId": "nat-1"}, {"regionalNatGatewayId": "nat-2"}, "replace"),
        # ec2/ec2_eip.go: `address` (BYOIP) forces new.
        ("aws:ec2/eip:Eip", {"address": "192.0.2.1"}, {"address": "192.0.2.2"}, "replace"),
        # ec2/vpc_nat_gateway.go: `secondary_private_ip_address_count` forces new.
        (
            "aws:ec2/natGateway:NatGateway",
            {"secondaryPrivateIpAddressCount": 1},
            {"secondaryPrivateIpAddressCount": 2},
            "replace",
        ),
        # ec2/vpc_endpoint.go: `service_network_arn` and `dns_options.private_dns_preference` force new.
        ("aws:ec2/vpcEndpoint:VpcEndpoint", {"serviceNetworkArn": "arn:a"}, {"serviceNetworkArn": "arn:b"}, "replace"),
        (
            "aws:ec2/vpcEndpoint:VpcEndpoint",
            {"dnsOptions": {"privateDnsPreference": "ALL_DOMAINS"}},
            {"dnsOptions": {"privateDnsPreference": "SPECIFIED_DOMAINS_ONLY"}},
            "replace",
        ),
        # autoscaling/group.go: `initial_lifecycle_hook` forces new.
        (
            "aws:autoscaling/group:Group",
            {"initialLifecycleHooks": [{"name": "a", "lifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"}]},
            {"initialLifecycleHooks": [{"name": "b", "lifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"}]},
            "replace",
        ),
        # ec2/ec2_instance.go: nested EBS fields force new; the root volume's size does not, its key does.
        (
            "aws:ec2/instance:Instance",
            {"ebsBlockDevices": [{"deviceName": "/dev/sdf", "volumeSize": 100}]},
            {"ebsBlockDevices": [{"deviceName": "/dev/sdf", "volumeSize": 200}]},
            "replace",
        ),
        (
            "aws:ec2/instance:Instance",
            {"rootBlockDevice": {"volumeSize": 100}},
            {"rootBlockDevice": {"volumeSize": 200}},
            "update",
        ),
        (
            "aws:ec2/instance:Instance",
            {"rootBlockDevice": {"kmsKeyId": "k1"}},
            {"rootBlockDevice": {"kmsKeyId": "k2"}},
            "replace",
        ),
        ("aws:ec2/instance:Instance", {"securityGroups": ["a"]}, {"securityGroups": ["b"]}, "replace"),
        # rds/instance.go: restoring from another snapshot forces new.
        ("aws:rds/instance:Instance", {"snapshotIdentifier": "s1"}, {"snapshotIdentifier": "s2"}, "replace"),
        # ec2/vpc_default_security_group.go and secretsmanager/secret_policy.go (planned since the merges).
        ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", {"vpcId": "vpc-1"}, {"vpcId": "vpc-2"}, "replace"),
        ("aws:secretsmanager/secretPolicy:SecretPolicy", {"policy": "{}"}, {"policy": '{"a": 1}'}, "update"),
        # sagemaker/model_package_group.go: the description forces new; only tags update in place.
        (
            "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
            {"modelPackageGroupDescription": "a"},
            {"modelPackageGroupDescription": "b"},
            "replace",
        ),
        ("aws:sagemaker/modelPackageGroup:ModelPackageGroup", {"tags": {"a": "1"}}, {"tags": {"a": "2"}}, "update"),
    ],
    ids=[
        "ssm-document-type",
        "record-type",
        "record-set-identifier",
        "eks-remote-network-update",
        "ssm-activation-limit",
        "ssm-association-name",
        "flow-log-regional-nat",
        "eip-address",
        "nat-secondary-count",
        "endpoint-service-network",
        "endpoint-dns-preference",
        "asg-lifecycle-hooks",
        "instance-ebs-size",
        "instance-root-size",
        "instance-root-key",
        "instance-security-groups",
        "rds-snapshot",
        "default-sg-vpc",
        "secret-policy-text",
        "model-package-group-description",
        "model-package-group-tags",
    ],
)
def test_replace_entries_follow_the_provider_schema(
    typ: str, old_inputs: dict[str, Any], new_inputs: dict[str, Any], expected: str
) -> None:
    before = {**res("r", typ), "inputs": old_inputs}
    after = {**before, "inputs": {**old_inputs, **new_inputs}}
    assert actions(diff_plans(doc(before), doc(after))) == {"r": expected}


def test_an_unknown_cost_is_unknown_in_the_deltas_not_zero() -> None:
    old, new = doc(), doc()
    new["summary"]["cost_per_hour_usd"] = None  # the new plan's region has no price for a fleet
    diff = diff_plans(old, new)
    assert diff.deltas["cost_per_hour_usd"] == {"old": old["summary"]["cost_per_hour_usd"], "new": None, "delta": None}
    assert diff.deltas["storage_monthly_cost_usd"] == {"old": 0.0, "new": 0.0, "delta": 0.0}  # no file system
    assert any("cost_per_hour_usd" in line and "unknown" in line for line in render_text(diff))
