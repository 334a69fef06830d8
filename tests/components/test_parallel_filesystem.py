"""ParallelFilesystem under the Pulumi mock runtime: encryption, ports, protection, S3 links."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from aifactory.spec import spec_from_config
from aifactory.storage import ParallelFilesystem, ParallelFilesystemArgs, plan_figures, size_for_spec
from pulumi.runtime.mocks import MockMonitor

CLIENT_SG = "sg-clients"
KEY = "arn:aws:kms:us-east-1:111122223333:key/abcd"


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    depends_on: list[str] = field(default_factory=list)


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        state = dict(args.inputs)
        if args.typ == "aws:fsx/lustreFileSystem:LustreFileSystem":
            state.update(dnsName=f"{args.name}.fsx.us-east-1.amazonaws.com", mountName="abcdefgh")
        if args.typ == "aws:cloudwatch/logGroup:LogGroup":
            state["arn"] = f"arn:aws:logs:us-east-1:111122223333:log-group:{args.inputs.get('name')}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


class RecordingMonitor(MockMonitor):
    """Keeps every registration with the options the mocks do not see (protect, retainOnDelete)."""

    def __init__(self, mocks: Mocks):
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.custom:
            self.registered.append(
                Registered(
                    typ=request.type,
                    name=request.name,
                    inputs=self.resources[response.urn].state,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    depends_on=list(request.dependencies),
                )
            )
        return response


def build(
    *components: tuple[str, ParallelFilesystemArgs],
) -> tuple[RecordingMonitor, list[ParallelFilesystem]]:
    """Run a program of ParallelFilesystems under the mocks; returns once every registration is done."""
    mon = RecordingMonitor(Mocks())
    pulumi.runtime.set_mocks(Mocks(), monitor=mon, preview=False)
    built: list[ParallelFilesystem] = []

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        built.extend(ParallelFilesystem(name, a) for name, a in components)
        return pulumi.Output.all(*(pfs.file_system_id for pfs in built))

    program()
    return mon, built


def args(**extra: Any) -> ParallelFilesystemArgs:
    base = ParallelFilesystemArgs(
        subnet_id="subnet-1",
        vpc_id="vpc-1",
        client_security_group_id=CLIENT_SG,
        region="us-east-1",
        partition="aws",
        capacity_tib=20,
        throughput_gbps=10,
        s3_import_path="s3://factory-data/datasets/",
        s3_export_path="s3://factory-data/checkpoints/",
        create_bucket=True,
    )
    base.update(extra)  # type: ignore[typeddict-item]
    return base


def of_type(mon: RecordingMonitor, typ: str) -> list[Registered]:
    return [r for r in mon.registered if r.typ == typ]


def only(mon: RecordingMonitor, typ: str) -> Registered:
    found = of_type(mon, typ)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


FS = "aws:fsx/lustreFileSystem:LustreFileSystem"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
DRA = "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET = "aws:s3/bucket:Bucket"
EVENTS = ["NEW", "CHANGED", "DELETED"]


def test_file_system_inputs_follow_the_sizing():
    mon, (pfs,) = build(("shared", args(kms_key_arn=KEY)))
    fs = only(mon, FS)
    assert fs.name == "shared-fs"
    assert fs.inputs["storageCapacity"] == pfs.sizing.capacity_gib
    assert fs.inputs["perUnitStorageThroughput"] == pfs.sizing.per_unit_throughput
    assert fs.inputs["deploymentType"] == "PERSISTENT_2"
    assert fs.inputs["dataCompressionType"] == "LZ4"
    assert fs.inputs["rootSquashConfiguration"] == {"rootSquash": "65534:65534"}
    assert fs.inputs["kmsKeyId"] == KEY
    assert fs.inputs["automaticBackupRetentionDays"] == 7
    assert fs.inputs["copyTagsToBackups"] is True
    assert fs.inputs["logConfiguration"]["destination"].startswith("arn:aws:logs:")
    assert fs.inputs["logConfiguration"]["level"] == "WARN_ERROR"
    assert "efaEnabled" not in fs.inputs and "metadataConfiguration" not in fs.inputs
    logs = only(mon, "aws:cloudwatch/logGroup:LogGroup")
    assert logs.inputs["name"].startswith("/aws/fsx/")
    assert logs.inputs["kmsKeyId"] == KEY


def test_without_a_key_the_file_system_uses_the_aws_managed_key():
    mon, _ = build(("plain", args(create_bucket=False)))
    assert "kmsKeyId" not in only(mon, FS).inputs
    assert "kmsKeyId" not in only(mon, "aws:cloudwatch/logGroup:LogGroup").inputs


def test_efa_file_system_has_metadata_and_all_traffic_between_groups():
    mon, _ = build(("efa", args(efa_enabled=True, throughput_gbps=20)))
    fs = only(mon, FS)
    assert fs.inputs["efaEnabled"] is True
    assert fs.inputs["metadataConfiguration"] == {"mode": "AUTOMATIC"}
    for typ in (INGRESS, EGRESS):
        rules = of_type(mon, typ)
        assert {r.inputs["ipProtocol"] for r in rules} == {"-1"}
        assert {r.inputs["referencedSecurityGroupId"] for r in rules} == {CLIENT_SG, "efa-sg-id"}


def test_lustre_ports_only_from_the_clients_and_the_file_system_itself():
    mon, _ = build(("ports", args()))
    sg_id = "ports-sg-id"
    for typ in (INGRESS, EGRESS):
        rules = of_type(mon, typ)
        for rule in rules:
            assert rule.inputs["securityGroupId"] == sg_id
            assert rule.inputs["ipProtocol"] == "tcp"
            assert rule.inputs["referencedSecurityGroupId"] in {CLIENT_SG, sg_id}
            assert not {"cidrIpv4", "cidrIpv6", "prefixListId"} & set(rule.inputs)
        for peer in (CLIENT_SG, sg_id):
            ports = {
                (r.inputs["fromPort"], r.inputs["toPort"])
                for r in rules
                if r.inputs["referencedSecurityGroupId"] == peer
            }
            assert ports == {(988, 988), (1018, 1023)}
    fs = only(mon, FS)
    assert fs.inputs["securityGroupIds"] == [sg_id]
    # Created after its rules, or FSx rejects the group.
    dependencies = {urn.rsplit("::", 1)[-1] for urn in fs.depends_on}
    assert {r.name for r in of_type(mon, INGRESS) + of_type(mon, EGRESS)} <= dependencies


def test_file_system_and_bucket_are_protected_and_retained():
    mon, _ = build(("keep", args()))
    for typ in (FS, BUCKET):
        resource = only(mon, typ)
        assert resource.protect and resource.retain_on_delete, typ


def test_data_repository_associations_import_datasets_and_export_checkpoints():
    mon, _ = build(("dra", args()))
    dras = {r.name: r.inputs for r in of_type(mon, DRA)}
    assert set(dras) == {"dra-import", "dra-export"}
    imp, exp = dras["dra-import"], dras["dra-export"]
    assert imp["fileSystemId"] == exp["fileSystemId"] == "dra-fs-id"
    assert (imp["fileSystemPath"], imp["dataRepositoryPath"]) == ("/datasets", "s3://factory-data/datasets/")
    assert imp["s3"] == {"autoImportPolicy": {"events": EVENTS}}
    assert imp["batchImportMetaDataOnCreate"] is True
    assert (exp["fileSystemPath"], exp["dataRepositoryPath"]) == ("/checkpoints", "s3://factory-data/checkpoints/")
    assert exp["s3"] == {"autoExportPolicy": {"events": EVENTS}}
    assert imp["deleteDataInFilesystem"] is False and exp["deleteDataInFilesystem"] is False


def test_bucket_is_in_region_encrypted_versioned_private_and_tls_only():
    mon, _ = build(("bkt", args(kms_key_arn=KEY, partition="aws-us-gov", region="us-gov-west-1")))
    bucket = only(mon, BUCKET)
    assert bucket.inputs["bucket"] == "factory-data" and bucket.inputs["region"] == "us-gov-west-1"
    default = only(mon, SSE).inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}
    versioning = only(mon, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    block = only(mon, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for key in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block.inputs[key] is True
    ownership = only(mon, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    policy = json.loads(only(mon, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    arn = "arn:aws-us-gov:s3:::factory-data"
    assert statement["Resource"] == [arn, f"{arn}/*"]
    assert "arn:aws:" not in json.dumps(policy)


def test_bucket_without_key_uses_aes256_and_none_without_create_bucket():
    mon, _ = build(("aes", args()), ("nobucket", args(create_bucket=False)))
    default = only(mon, SSE).inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "AES256"}
    assert [b.name for b in of_type(mon, BUCKET)] == ["aes-bucket"]


BASE = {
    "aws:region": "us-east-1",
    "aifactory:profile": "commercial",
    "aifactory:fleets": [{"name": "train", "instanceType": "p5.48xlarge", "count": 4}],
    "aifactory:storage": {
        "capacityTiB": 50,
        "checkpoint": {"sizeTB": 2, "seconds": 120},
        "s3ImportPath": "s3://factory-data/datasets/",
    },
}


def build_from(config: dict) -> list[Registered]:
    mon = RecordingMonitor(Mocks())
    pulumi.runtime.set_mocks(Mocks(), monitor=mon, preview=False)
    spec = spec_from_config(config)

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        pfs = ParallelFilesystem.from_spec(
            "factory-fsx", spec, subnet_id="subnet-1", vpc_id="vpc-1", client_security_group_id=CLIENT_SG
        )
        return pfs.file_system_id

    program()
    return mon.registered


def test_changing_fleets_and_network_leaves_every_storage_input_unchanged():
    changed = {
        **BASE,
        "aifactory:fleets": [
            {"name": "train", "instanceType": "p5.48xlarge", "count": 16, "strategy": "spread"},
            {"name": "eval", "instanceType": "p4d.24xlarge", "count": 2, "efa": False},
        ],
        "aifactory:network": {"cidr": "10.8.0.0/16"},
    }
    before = {(r.typ, r.name): r.inputs for r in build_from(BASE)}
    after = {(r.typ, r.name): r.inputs for r in build_from(changed)}
    assert (FS, "factory-fsx-fs") in before
    assert before == after


def test_plan_figures():
    spec = spec_from_config(BASE)
    assert spec.storage is not None
    sizing = size_for_spec(spec.storage, spec.region)
    figures = plan_figures(sizing, gpus=32)
    assert figures.capacity_tib >= 50
    assert figures.throughput_gbps >= 2 * 1000 / 120
    assert figures.gbps_per_gpu == pytest.approx(figures.throughput_gbps / 32)
    assert figures.checkpoint_seconds is not None and figures.checkpoint_seconds <= 120
    assert figures.monthly_cost_usd == pytest.approx(sizing.monthly_cost_usd)
    assert ParallelFilesystem.plan_figures(sizing, 32) == figures


def test_file_system_inputs_do_not_move_with_scheduler_or_placement() -> None:
    """Adding a scheduler or a data-hall site must not replace the training data's file system."""
    from aifactory.cli.engine import run_program
    from aifactory.program import main as program_main
    from aifactory.spec import spec_from_config

    base = {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:network": {"availabilityZones": ["us-east-1a", "us-east-1b"]},
        "aifactory:fleets": [{"name": "train", "instanceType": "p5.48xlarge", "count": 8,
                              "availabilityZone": "us-east-1a"}],
        "aifactory:storage": {"capacityTiB": 48, "throughputGBps": 20},
    }
    variants = [
        base,
        {**base, "aifactory:scheduler": {"kind": "kubernetes",
                                         "queues": [{"name": "q", "namespace": "t", "gpuQuota": 64}]}},
        {**base, "aifactory:scheduler": {"kind": "slurm", "partitions": [{"name": "p", "fleets": ["train"]}]}},
        {**base, "aifactory:site": {"kind": "datahall", "racks": 8,
                                    "rackDefaults": {"powerKw": 60, "cooling": "rear-door"}}},
    ]
    seen = []
    for config in variants:
        spec = spec_from_config(config)
        run = run_program(config, "fsx", spec.region, spec.partition, program_main)
        (fs,) = [r for r in run.resources if r.type == "aws:fsx/lustreFileSystem:LustreFileSystem"]
        seen.append((fs.urn, fs.inputs))
    assert all(s == seen[0] for s in seen[1:])
