"""Changes that must not lose data: the file system stays put under every change that is not a
storage change, its data repository associations are protected like it, and deleting it keeps a
final backup where FSx can take one."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.planning.storage_plan import final_backup_on_delete
from aifactory.storage import FINAL_BACKUP_TAG, ParallelFilesystem, ParallelFilesystemArgs

from tests.conftest import PlannedProgram, RunProgram
from tests.stackfiles import PINNED_IMAGES

FS = "aws:fsx/lustreFileSystem:LustreFileSystem"
DRA = "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation"
SUBNET = "aws:ec2/subnet:Subnet"


def _component(run_program: RunProgram, **extra: Any) -> PlannedProgram:
    args = ParallelFilesystemArgs(
        subnet_id="subnet-1",
        vpc_id="vpc-1",
        client_security_group_id="sg-clients",
        region="us-east-1",
        partition="aws",
        capacity_tib=20,
        throughput_gbps=10,
        tags={"team": "ml"},
    )
    args.update(extra)  # type: ignore[typeddict-item]
    return run_program(lambda: ParallelFilesystem("data", args))


def test_data_repository_associations_are_protected_and_retained_like_the_file_system(
    run_program: RunProgram,
) -> None:
    plan = _component(
        run_program,
        s3_import_path="s3://factory-data/datasets/",
        s3_export_path="s3://factory-data/checkpoints/",
    )
    fs = plan.one(FS)
    dras = plan.of_type(DRA)
    assert len(dras) == 2
    for dra in dras:
        assert (dra.protect, dra.retain_on_delete) == (fs.protect, fs.retain_on_delete) == (True, True), dra.name


def test_a_persistent_unlinked_file_system_keeps_a_tagged_final_backup(run_program: RunProgram) -> None:
    fs = _component(run_program).one(FS)
    assert fs.inputs["skipFinalBackup"] is False
    assert fs.inputs["finalBackupTags"] == {"team": "ml", FINAL_BACKUP_TAG: "data"}


@pytest.mark.parametrize(
    "extra",
    [
        {"deployment_type": "SCRATCH_2"},
        {"s3_import_path": "s3://factory-data/datasets/"},
        {"s3_export_path": "s3://factory-data/checkpoints/"},
    ],
    ids=["scratch", "import-linked", "export-linked"],
)
def test_no_final_backup_where_fsx_takes_none(run_program: RunProgram, extra: dict[str, Any]) -> None:
    fs = _component(run_program, **extra).one(FS)
    assert fs.inputs["skipFinalBackup"] is True
    assert "finalBackupTags" not in fs.inputs


@pytest.mark.parametrize(
    ("deployment_type", "linked", "taken", "says"),
    [
        ("PERSISTENT_2", False, True, "taken on delete"),
        ("PERSISTENT_2", True, False, "S3-linked"),
        ("SCRATCH_2", False, False, "SCRATCH_2 file systems support no backups"),
    ],
)
def test_final_backup_rule(deployment_type: str, linked: bool, taken: bool, says: str) -> None:
    got, reason = final_backup_on_delete(deployment_type, linked)
    assert got is taken and says in reason


def test_the_plan_says_a_scratch_file_system_keeps_no_final_backup() -> None:
    from aifactory.planning.factory_plan import plan_from_config

    config = _config()
    config["aifactory:storage"] = {"capacityTiB": 4.8, "deploymentType": "SCRATCH_2"}
    storage = plan_from_config(config, "t").summary["storage"]
    assert storage["final_backup"].startswith("none: SCRATCH_2")


def _config() -> dict[str, Any]:
    return {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:network": {"cidr": "10.0.0.0/16", "availabilityZones": ["us-east-1a", "us-east-1b"]},
        "aifactory:fleets": [
            {"name": "train", "instanceType": "p5.48xlarge", "count": 4, "availabilityZone": "us-east-1a"}
        ],
        "aifactory:storage": {"capacityTiB": 48, "throughputGBps": 20, "s3ImportPath": "s3://factory-data/in/"},
        "aifactory:scheduler": {"kind": "kubernetes", "queues": [{"name": "q", "namespace": "t", "gpuQuota": 32}]},
    }
