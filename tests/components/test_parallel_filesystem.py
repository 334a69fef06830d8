"""ParallelFilesystem under the Pulumi mock runtime: encryption, ports, protection, S3 links."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aifactory.planning.storage_plan import plan_figures, size_for_spec
from aifactory.spec import spec_from_config
from aifactory.storage import ParallelFilesystem, ParallelFilesystemArgs

from tests.conftest import PlannedProgram, RunProgram
from tests.stackfiles import PINNED_IMAGES

CLIENT_SG = "sg-clients"
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GOV_KEY = "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def build(
    run_program: RunProgram, *components: tuple[str, ParallelFilesystemArgs]
) -> tuple[PlannedProgram, list[ParallelFilesystem]]:
    """Run a program of ParallelFilesystems under the mock engine; returns once every registration is done."""
    built: list[ParallelFilesystem] = []

    def program() -> None:
        built.extend(ParallelFilesystem(name, a) for name, a in components)

    return run_program(program), built


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


FS = "aws:fsx/lustreFileSystem:LustreFileSystem"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
DRA = "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET = "aws:s3/bucket:Bucket"
EVENTS = ["NEW", "CHANGED", "DELETED"]


def test_file_system_inputs_follow_the_sizing(run_program: RunProgram) -> None:
    plan, (pfs,) = build(run_program, ("shared", args(kms_key_arn=KEY)))
    fs = plan.one(FS)
    assert fs.name == "shared-fs"
    assert fs.inputs["storageCapacity"] == pfs.sizing.capacity_gib
    assert fs.inputs["perUnitStorageThroughput"] == pfs.sizing.per_unit_throughput
    assert fs.inputs["deploymentType"] == "PERSISTENT_2"
    assert fs.inputs["dataCompressionType"] == "LZ4"
    assert fs.inputs["rootSquashConfiguration"] == {"rootSquash": "65534:65534"}
    assert fs.inputs["kmsKeyId"] == KEY
    # Linked to S3 (FSx API reference, DeleteFileSystem: "Backups cannot be enabled on S3-linked file
    # systems"): no automatic backups; copyTagsToBackups stays, since changing it replaces the file system.
    assert fs.inputs["automaticBackupRetentionDays"] == 0
    assert fs.inputs["copyTagsToBackups"] is True
    assert fs.inputs["logConfiguration"]["destination"].startswith("arn:aws:logs:")
    assert fs.inputs["logConfiguration"]["level"] == "WARN_ERROR"
    assert "efaEnabled" not in fs.inputs and "metadataConfiguration" not in fs.inputs
    logs = plan.one("aws:cloudwatch/logGroup:LogGroup")
    assert logs.inputs["name"].startswith("/aws/fsx/")
    assert logs.inputs["kmsKeyId"] == KEY


def test_without_a_key_the_file_system_uses_the_aws_managed_key(run_program: RunProgram) -> None:
    plan, _ = build(run_program, ("plain", args(create_bucket=False)))
    assert "kmsKeyId" not in plan.one(FS).inputs
    assert "kmsKeyId" not in plan.one("aws:cloudwatch/logGroup:LogGroup").inputs


def _rules_of(plan: PlannedProgram, typ: str, group: str | None) -> list[Any]:
    return [r for r in plan.of_type(typ) if r.inputs["securityGroupId"] == group]


def test_efa_file_system_has_metadata_and_all_traffic_between_groups(run_program: RunProgram) -> None:
    plan, _ = build(run_program, ("efa", args(efa_enabled=True, throughput_gbps=20)))
    fs = plan.one(FS)
    assert fs.inputs["efaEnabled"] is True
    assert fs.inputs["metadataConfiguration"] == {"mode": "AUTOMATIC"}
    fsx_sg = plan.named("efa-sg").id
    for typ in (INGRESS, EGRESS):
        rules = _rules_of(plan, typ, fsx_sg)
        assert {r.inputs["ipProtocol"] for r in rules} == {"-1"}
        assert {r.inputs["referencedSecurityGroupId"] for r in rules} == {CLIENT_SG, fsx_sg}
        # The clients' group allows all traffic from and to the file system's group, by group id
        # (CIDR rules do not carry EFA traffic).
        (client,) = _rules_of(plan, typ, CLIENT_SG)
        assert client.inputs["ipProtocol"] == "-1"
        assert client.inputs["referencedSecurityGroupId"] == fsx_sg
        assert not {"cidrIpv4", "cidrIpv6", "prefixListId", "fromPort", "toPort"} & set(client.inputs)
        assert client.name in fs.depends_on


def test_lustre_ports_only_from_the_clients_and_the_file_system_itself(run_program: RunProgram) -> None:
    plan, _ = build(run_program, ("ports", args()))
    sg_id = plan.named("ports-sg").id
    for typ in (INGRESS, EGRESS):
        rules = _rules_of(plan, typ, sg_id)
        for rule in rules:
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
        # The clients' group takes the same Lustre ports from and to the file system's group (the
        # servers call back on 988 and 1018-1023); nothing else.
        client = _rules_of(plan, typ, CLIENT_SG)
        assert {(r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) for r in client} == {
            ("tcp", 988, 988),
            ("tcp", 1018, 1023),
        }
        assert {r.inputs["referencedSecurityGroupId"] for r in client} == {sg_id}
        assert len(rules) + len(client) == len(plan.of_type(typ))
    fs = plan.one(FS)
    assert fs.inputs["securityGroupIds"] == [sg_id]
    # Created after its rules, or FSx rejects the group.
    rules = {r.name for r in plan.of_type(INGRESS) + plan.of_type(EGRESS)}
    assert rules and rules <= set(fs.depends_on)


def test_file_system_and_bucket_are_protected_and_retained(run_program: RunProgram) -> None:
    plan, _ = build(run_program, ("keep", args()))
    for typ in (FS, BUCKET):
        resource = plan.one(typ)
        assert resource.protect and resource.retain_on_delete, typ


def test_data_repository_associations_import_datasets_and_export_checkpoints(run_program: RunProgram) -> None:
    plan, _ = build(run_program, ("dra", args()))
    dras = {r.name: r.inputs for r in plan.of_type(DRA)}
    assert set(dras) == {"dra-import", "dra-export"}
    imp, exp = dras["dra-import"], dras["dra-export"]
    assert imp["fileSystemId"] == exp["fileSystemId"] == plan.named("dra-fs").id
    assert (imp["fileSystemPath"], imp["dataRepositoryPath"]) == ("/datasets", "s3://factory-data/datasets/")
    assert imp["s3"] == {"autoImportPolicy": {"events": EVENTS}}
    assert imp["batchImportMetaDataOnCreate"] is True
    assert (exp["fileSystemPath"], exp["dataRepositoryPath"]) == ("/checkpoints", "s3://factory-data/checkpoints/")
    assert exp["s3"] == {"autoExportPolicy": {"events": EVENTS}}
    assert imp["deleteDataInFilesystem"] is False and exp["deleteDataInFilesystem"] is False


def test_bucket_is_in_region_encrypted_versioned_private_and_tls_only(run_program: RunProgram) -> None:
    plan, _ = build(run_program, ("bkt", args(kms_key_arn=GOV_KEY, partition="aws-us-gov", region="us-gov-west-1")))
    bucket = plan.one(BUCKET)
    assert bucket.inputs["bucket"] == "factory-data" and bucket.inputs["region"] == "us-gov-west-1"
    default = plan.one(SSE).inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": GOV_KEY}
    versioning = plan.one("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    block = plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for key in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block.inputs[key] is True
    ownership = plan.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    policy = json.loads(plan.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    arn = "arn:aws-us-gov:s3:::factory-data"
    assert statement["Resource"] == [arn, f"{arn}/*"]
    assert "arn:aws:" not in json.dumps(policy)


def test_bucket_without_key_uses_aes256_and_none_without_create_bucket(run_program: RunProgram) -> None:
    plan, _ = build(run_program, ("aes", args()), ("nobucket", args(create_bucket=False)))
    default = plan.one(SSE).inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "AES256"}
    assert [b.name for b in plan.of_type(BUCKET)] == ["aes-bucket"]


BASE = {
    "aws:region": "us-east-1",
    "aifactory:profile": "commercial",
    "aifactory:images": PINNED_IMAGES,
    "aifactory:fleets": [{"name": "train", "instanceType": "p5.48xlarge", "count": 4}],
    "aifactory:storage": {
        "capacityTiB": 50,
        "checkpoint": {"sizeTB": 2, "seconds": 120},
        "s3ImportPath": "s3://factory-data/datasets/",
    },
}


def storage_resources(run_program: RunProgram, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """URN -> inputs of the file system component and everything under it, from the whole factory
    program (`aifactory.program.main`), so the fleets, network, scheduler and site are all built too."""
    from aifactory.program import main as program_main

    spec = spec_from_config(config)
    plan = run_program(program_main, config, stack="fsx", region=spec.region, partition=spec.partition)
    (component,) = [r for r in plan.resources if r.type == "aifactory:index:ParallelFilesystem"]
    inside = {component.urn}
    while grown := {r.urn for r in plan.resources if r.parent in inside} - inside:
        inside |= grown
    resources = {r.urn: r.inputs for r in plan.resources if r.urn in inside and r.custom}
    assert any(r.type == FS for r in plan.resources if r.urn in resources)
    return resources


def test_changing_fleets_and_network_leaves_every_storage_input_unchanged(run_program: RunProgram) -> None:
    """The file system's inputs come from the storage block and its zone alone: resizing or adding
    fleets (the largest staying where it is) and moving the VPC's CIDR must not touch (or replace) the
    training data's file system; `storage.availabilityZone` pins the zone (tested below)."""
    changed = {
        **BASE,
        "aifactory:fleets": [
            {"name": "train", "instanceType": "p5.48xlarge", "count": 16, "placement": {"strategy": "partition"}},
            {"name": "eval", "instanceType": "p4d.24xlarge", "count": 2, "efa": False},
        ],
        "aifactory:network": {"cidr": "10.8.0.0/16"},
    }
    before = storage_resources(run_program, BASE)
    after = storage_resources(run_program, changed)
    assert before == after


def test_plan_figures(run_program: RunProgram) -> None:
    spec = spec_from_config(BASE)
    assert spec.storage is not None
    sizing = size_for_spec(spec.storage, spec.region)
    figures = plan_figures(sizing, gpus=32)
    assert figures.capacity_tib >= 50
    assert figures.throughput_gbps >= 2 * 1000 / 120
    assert figures.gbps_per_gpu == pytest.approx(figures.throughput_gbps / 32)
    assert figures.checkpoint_seconds is not None and figures.checkpoint_seconds <= 120
    assert figures.monthly_cost_usd == pytest.approx(sizing.monthly_cost_usd)


def test_file_system_inputs_do_not_move_with_scheduler_or_placement(run_program: RunProgram) -> None:
    """Adding a scheduler or a data-hall site must not replace the training data's file system."""
    base = {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:network": {"availabilityZones": ["us-east-1a", "us-east-1b"]},
        "aifactory:fleets": [
            {"name": "train", "instanceType": "p5.48xlarge", "count": 8, "availabilityZone": "us-east-1a"}
        ],
        "aifactory:storage": {"capacityTiB": 48, "throughputGBps": 20},
    }
    variants = [
        {
            **base,
            "aifactory:scheduler": {"kind": "kubernetes", "queues": [{"name": "q", "namespace": "t", "gpuQuota": 64}]},
        },
        {**base, "aifactory:scheduler": {"kind": "slurm", "partitions": [{"name": "p", "fleets": ["train"]}]}},
        {
            # The customer's own servers in a data hall next to the EC2 fleet: the file system stays.
            **base,
            "aifactory:fleets": [
                *base["aifactory:fleets"],
                {"name": "hall", "kind": "hybrid", "server": "dgx-h100", "count": 8},
            ],
            "aifactory:site": {"kind": "datahall", "racks": 8, "rackDefaults": {"powerKw": 60, "cooling": "rear-door"}},
        },
    ]
    expected = storage_resources(run_program, base)
    for config in variants:
        assert storage_resources(run_program, config) == expected


def test_efa_file_system_clients_are_the_group_on_every_fleet_interface(run_program: RunProgram) -> None:
    """EFA traffic leaves a node through its EFA-only interfaces; the group the file system's rules
    name (and that carries the rules back) must be on every one of them, not only on the primary."""
    from aifactory.program import main as program_main

    config = {**BASE, "aifactory:storage": {**BASE["aifactory:storage"], "efaEnabled": True}}
    spec = spec_from_config(config)
    plan = run_program(program_main, config, stack="fsx", region=spec.region, partition=spec.partition)
    fsx_sg = plan.named("fsx-fsx-sg").id
    client_rules = [r for r in plan.of_type(INGRESS) + plan.of_type(EGRESS) if r.name.startswith("fsx-fsx-client-")]
    assert {r.type for r in client_rules} == {INGRESS, EGRESS}
    (client_sg,) = {r.inputs["securityGroupId"] for r in client_rules}
    assert {r.inputs["referencedSecurityGroupId"] for r in client_rules} == {fsx_sg}
    assert {r.inputs["ipProtocol"] for r in client_rules} == {"-1"}
    (lt,) = plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    interfaces = lt.inputs["networkInterfaces"]
    assert {i["interfaceType"] for i in interfaces} == {"interface", "efa-only"}
    assert all(client_sg in i["securityGroups"] for i in interfaces)


def _fs_subnet_zone(run_program: RunProgram, config: dict[str, Any]) -> str:
    from aifactory.program import main as program_main

    spec = spec_from_config(config)
    plan = run_program(program_main, config, stack="fsx", region=spec.region, partition=spec.partition)
    subnets = {r.id: r.inputs["availabilityZone"] for r in plan.of_type("aws:ec2/subnet:Subnet")}
    return subnets[plan.one(FS).inputs["subnetIds"]]


TWO_ZONES = {
    **BASE,
    "aifactory:network": {"availabilityZones": ["us-east-1a", "us-east-1b"]},
    "aifactory:fleets": [
        {"name": "small", "instanceType": "p5.48xlarge", "count": 2, "availabilityZone": "us-east-1a"},
        {"name": "big", "instanceType": "p5.48xlarge", "count": 12, "availabilityZone": "us-east-1b"},
    ],
}


def test_file_system_subnet_is_in_the_pinned_zone(run_program: RunProgram) -> None:
    """Fleets in two zones: the stack must pin the file system's zone (planning/test_storage_zone.py)."""
    pinned = {**TWO_ZONES, "aifactory:storage": {**BASE["aifactory:storage"], "availabilityZone": "us-east-1b"}}
    assert _fs_subnet_zone(run_program, pinned) == "us-east-1b"


def test_a_pinned_zone_keeps_the_file_system_when_the_largest_fleet_moves(run_program: RunProgram) -> None:
    pinned = {**TWO_ZONES, "aifactory:storage": {**BASE["aifactory:storage"], "availabilityZone": "us-east-1a"}}
    moved = {
        **pinned,
        "aifactory:fleets": [
            {"name": "small", "instanceType": "p5.48xlarge", "count": 2, "availabilityZone": "us-east-1b"},
            {"name": "big", "instanceType": "p5.48xlarge", "count": 12, "availabilityZone": "us-east-1a"},
        ],
    }
    assert _fs_subnet_zone(run_program, pinned) == "us-east-1a"
    assert storage_resources(run_program, pinned) == storage_resources(run_program, moved)
