"""Changes that must not lose data: the file system stays put under every change that is not a
storage change, its data repository associations are protected like it, and deleting it keeps a
final backup where FSx can take one."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from aifactory.cli.diff import diff_plans
from aifactory.planning.network_plan import plan_subnets
from aifactory.planning.storage_plan import final_backup_on_delete
from aifactory.spec import ConfigError
from aifactory.storage import FINAL_BACKUP_TAG, ParallelFilesystem, ParallelFilesystemArgs
from aifactory.tags import TAG_DATA_REPOSITORY

from tests.conftest import PlannedProgram, RunProgram
from tests.stackfiles import PINNED_IMAGES, write_stack

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
    # FSx API reference, DeleteFileSystem: "Backups cannot be enabled on S3-linked file systems".
    assert fs.inputs.get("automaticBackupRetentionDays", 0) == 0


def test_an_s3_linked_file_system_is_tagged_with_its_bucket(run_program: RunProgram) -> None:
    fs = _component(run_program, s3_export_path="s3://factory-ckpt/checkpoints/").one(FS)
    assert fs.inputs["tags"] == {"team": "ml", TAG_DATA_REPOSITORY: "factory-ckpt"}


def test_backups_of_an_s3_linked_file_system_are_refused_before_anything_registers(
    run_program: RunProgram,
) -> None:
    with pytest.raises(
        ConfigError, match=r"ParallelFilesystemArgs.backup_retention_days: FSx cannot back up a file system linked"
    ):
        _component(run_program, s3_import_path="s3://factory-data/datasets/", backup_retention_days=7)


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


# The file system's subnet, security groups and key stay put under every change that is not a
# storage change: each variant is planned like `aifactory plan` and diffed against the base plan, and
# the file system's inputs and the existing subnets' CIDRs are compared directly too.

ZONES = ["eu-north-1a", "eu-north-1c"]


def _stability_base(slots: int | None = 4) -> dict[str, Any]:
    network: dict[str, Any] = {"cidr": "10.80.0.0/16", "availabilityZones": list(ZONES), "egress": "none"}
    if slots is not None:
        network["zoneSlots"] = slots
    return {
        "aws:region": "eu-north-1",
        "aifactory:profile": "sovereign",
        "aifactory:sovereignty": {
            "allowedRegions": ["eu-north-1"],
            "registryMirror": "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror",
        },
        "aifactory:network": network,
        "aifactory:fleets": [
            {"name": "train", "instanceType": "p5en.48xlarge", "count": 4, "availabilityZone": "eu-north-1a"}
        ],
        "aifactory:storage": {
            "availabilityZone": "eu-north-1a",
            "capacityTiB": 9.6,
            "s3ImportPath": "s3://factory-data/datasets/",
            "createBucket": True,
        },
        "aifactory:images": PINNED_IMAGES,
    }


def _plan_document(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    from aifactory.cli.planrun import plan_stack

    path = write_stack(tmp_path, "stable", config)
    return plan_stack(str(path)).as_json()


def _reorder(c: dict[str, Any]) -> None:
    c["aifactory:network"]["availabilityZones"] = ZONES[::-1]


def _third_zone(c: dict[str, Any]) -> None:
    c["aifactory:network"]["availabilityZones"] = ["eu-north-1a", "eu-north-1b", "eu-north-1c"]


def _nat(c: dict[str, Any]) -> None:
    c["aifactory:network"]["egress"] = "nat"


def _fleet_in_new_zone(c: dict[str, Any]) -> None:
    c["aifactory:fleets"].append(
        {"name": "eval", "instanceType": "p5en.48xlarge", "count": 8, "availabilityZone": "eu-north-1c"}
    )


def _resize(c: dict[str, Any]) -> None:
    c["aifactory:fleets"][0]["count"] = 12


CHANGES = {
    "reorder-zones": _reorder,
    "third-zone": _third_zone,
    "switch-egress": _nat,
    "fleet-in-new-zone": _fleet_in_new_zone,
    "resize-fleet": _resize,
}


def _by_type(document: dict[str, Any], typ: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in document["resources"] if r["type"] == typ}


@pytest.fixture(scope="module")
def stable_base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _plan_document(tmp_path_factory.mktemp("base"), _stability_base())


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_file_system_and_existing_subnets_stay_put(
    change: str, stable_base: dict[str, Any], tmp_path: Path
) -> None:
    config = copy.deepcopy(_stability_base())
    CHANGES[change](config)
    after = _plan_document(tmp_path, config)
    (fs_before,) = _by_type(stable_base, FS).values()
    (fs_after,) = _by_type(after, FS).values()
    for key in ("subnetIds", "securityGroupIds", "kmsKeyId"):
        assert fs_after["inputs"].get(key) == fs_before["inputs"].get(key), key
    assert fs_before["inputs"]["kmsKeyId"]
    subnets_after = _by_type(after, SUBNET)
    for name, subnet in _by_type(stable_base, SUBNET).items():
        kept = subnets_after[name]["inputs"]
        assert (kept["cidrBlock"], kept["availabilityZone"]) == (
            subnet["inputs"]["cidrBlock"],
            subnet["inputs"]["availabilityZone"],
        ), name
    diff = diff_plans(stable_base, after)
    replaced = {c.type for c in diff.changes if c.action in ("replace", "remove")}
    assert not replaced & {FS, DRA, SUBNET, "aws:kms/key:Key", "aws:s3/bucket:Bucket"}, change
    assert diff.refused == []


def test_without_zone_slots_reordering_moves_nothing_but_a_third_zone_is_caught(tmp_path: Path) -> None:
    """0.1's layout (no `zoneSlots`): subnets follow zone names, so a reorder is clean; a third zone
    resizes every block, and `aifactory diff` refuses the file system's replacement."""
    (tmp_path / "a").mkdir()
    base = _plan_document(tmp_path / "a", _stability_base(slots=None))
    reordered = copy.deepcopy(_stability_base(slots=None))
    _reorder(reordered)
    (tmp_path / "b").mkdir()
    moved = diff_plans(base, _plan_document(tmp_path / "b", reordered))
    # Lists of subnet ids change order (updates in place); nothing is replaced or removed.
    assert {c.action for c in moved.changes} <= {"update"}
    grown = copy.deepcopy(_stability_base(slots=None))
    _third_zone(grown)
    (tmp_path / "c").mkdir()
    diff = diff_plans(base, _plan_document(tmp_path / "c", grown))
    assert {c.type for c in diff.refused} >= {FS, DRA}


def test_zone_slots_lay_zones_out_by_letter() -> None:
    subnets = plan_subnets("10.0.0.0/16", ["x-1c", "x-1a"], public=False, slots=4, region_zones=None)
    assert [(s.availability_zone, s.private_cidr, s.public_cidr) for s in subnets] == [
        ("x-1c", "10.0.192.0/19", None),
        ("x-1a", "10.0.128.0/19", None),
    ]
    nat = plan_subnets("10.0.0.0/16", ["x-1c", "x-1a"], public=True, slots=4, region_zones=None)
    assert [s.private_cidr for s in nat] == [s.private_cidr for s in subnets]


def test_a_zone_beyond_the_reserved_slots_is_a_config_error() -> None:
    from aifactory.planning.factory_plan import plan_from_config

    config = _stability_base(slots=2)
    config["aifactory:fleets"][0]["availabilityZone"] = "eu-north-1a"
    with pytest.raises(ConfigError) as info:
        plan_from_config(config, "t")  # eu-north-1c is slot 2 of 0..1
    (issue,) = [i for i in info.value.issues if i.path == "aifactory:network.zoneSlots"]
    assert "eu-north-1c" in issue.problem and "at least 3" in issue.fix
