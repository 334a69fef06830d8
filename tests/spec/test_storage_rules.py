"""Every storage rule with bad input: a clear error naming the config path, nothing registered."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.spec import ConfigError, spec_from_config
from aifactory.spec.storage import parse_s3_path

from tests.stackfiles import PINNED_IMAGES


def config(storage: dict[str, Any] | None, region: str = "us-east-1", profile: str = "commercial") -> dict:
    cfg: dict[str, Any] = {
        "aws:region": region,
        "aifactory:profile": profile,
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": [{"name": "train", "instanceType": "p5.48xlarge", "count": 4}],
    }
    if profile == "sovereign":
        cfg["aifactory:sovereignty"] = {
            "allowedRegions": [region],
            "registryMirror": "registry.example.internal",
        }
    if storage is not None:
        cfg["aifactory:storage"] = storage
    return cfg


def errors(storage: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        spec_from_config(config(storage, **kwargs))
    return str(info.value)


def test_valid_storage_passes():
    spec = spec_from_config(
        config(
            {
                "capacityTiB": 50,
                "throughputGBps": 20,
                "efaEnabled": True,
                "s3ImportPath": "s3://factory-data/datasets/",
                "s3ExportPath": "arn:aws:s3:::factory-data/checkpoints",
                "createBucket": True,
            }
        )
    )
    assert spec.storage is not None
    assert spec.storage.backup_days == 0  # linked to S3: FSx backs up no such file system
    assert spec.storage.export_location is not None
    assert spec.storage.export_location.uri == "s3://factory-data/checkpoints/"


@pytest.mark.parametrize(
    ("storage", "path"),
    [
        ({"capacityTiB": 0}, "aifactory:storage.capacityTiB"),
        ({"capacityTiB": -1}, "aifactory:storage.capacityTiB"),
        ({"throughputGBps": 0}, "aifactory:storage.throughputGBps"),
        ({"checkpoint": {"sizeTB": 1, "seconds": 0}}, "aifactory:storage.checkpoint.seconds"),
        ({"checkpoint": {"sizeTB": 0, "seconds": 60}}, "aifactory:storage.checkpoint.sizeTB"),
        ({"capacityTiB": 1, "deploymentType": "PERSISTENT_1"}, "aifactory:storage.deploymentType"),
    ],
)
def test_model_rejects_non_positive_and_unsupported(storage, path):
    assert path in errors(storage)


def test_no_target():
    message = errors({"mountPath": "/fsx"})
    assert "aifactory:storage:" in message and "gives no size" in message


def test_throughput_and_checkpoint_together():
    message = errors({"throughputGBps": 10, "checkpoint": {"sizeTB": 1, "seconds": 60}})
    assert "aifactory:storage.checkpoint" in message and "replaces the throughput target" in message


def test_efa_on_scratch():
    message = errors({"capacityTiB": 10, "efaEnabled": True, "deploymentType": "SCRATCH_2"})
    assert "aifactory:storage.efaEnabled" in message and "PERSISTENT_2" in message


@pytest.mark.parametrize(
    "path", ["/data/train", "https://bucket.s3.amazonaws.com/x", "s3://Upper/x", "s3://a/x", "s3:/b/x"]
)
def test_s3_path_not_an_s3_uri(path):
    message = errors({"capacityTiB": 10, "s3ImportPath": path})
    assert "aifactory:storage.s3ImportPath" in message and "not an S3 URI" in message


def test_s3_arn_of_another_partition():
    message = errors({"capacityTiB": 10, "s3ExportPath": "arn:aws-us-gov:s3:::govbucket/ckpt"})
    assert "aifactory:storage.s3ExportPath" in message and "'aws-us-gov'" in message and "'aws'" in message


def test_s3_arn_partition_follows_the_stack_region():
    spec = spec_from_config(
        config({"capacityTiB": 10, "s3ImportPath": "arn:aws-us-gov:s3:::govbucket/data"}, region="us-gov-west-1")
    )
    assert spec.partition == "aws-us-gov"
    message = errors({"capacityTiB": 10, "s3ImportPath": "arn:aws:s3:::commercial/data"}, region="us-gov-west-1")
    assert "aifactory:storage.s3ImportPath" in message and "'aws'" in message


def test_s3_with_scratch():
    message = errors({"capacityTiB": 10, "deploymentType": "SCRATCH_2", "s3ImportPath": "s3://data-bucket/x/"})
    assert "aifactory:storage.s3ImportPath" in message and "data repository associations" in message


def test_overlapping_import_and_export():
    message = errors({"capacityTiB": 10, "s3ImportPath": "s3://data-bucket/", "s3ExportPath": "s3://data-bucket/ckpt/"})
    assert "aifactory:storage.s3ExportPath" in message and "overlaps" in message


def test_create_bucket_without_a_path():
    assert "aifactory:storage.createBucket" in errors({"capacityTiB": 10, "createBucket": True})


def test_create_bucket_with_two_buckets():
    message = errors(
        {
            "capacityTiB": 10,
            "createBucket": True,
            "s3ImportPath": "s3://bucket-a/x/",
            "s3ExportPath": "s3://bucket-b/y/",
        }
    )
    assert "aifactory:storage.createBucket" in message and "bucket-a, bucket-b" in message


def test_sovereign_existing_bucket_cannot_be_proven_in_region():
    message = errors(
        {"capacityTiB": 10, "s3ImportPath": "s3://existing-data/x/"}, region="eu-north-1", profile="sovereign"
    )
    assert "aifactory:storage.s3ImportPath" in message and "createBucket: true" in message
    spec_from_config(
        config(
            {"capacityTiB": 10, "s3ImportPath": "s3://new-data/x/", "createBucket": True},
            region="eu-north-1",
            profile="sovereign",
        )
    )


def test_scratch_with_backups():
    message = errors({"capacityTiB": 10, "deploymentType": "SCRATCH_2", "backupRetentionDays": 7})
    assert "aifactory:storage.backupRetentionDays" in message


def test_s3_linked_with_backups():
    message = errors({"capacityTiB": 10, "s3ExportPath": "s3://ckpt/x/", "backupRetentionDays": 7})
    assert "aifactory:storage.backupRetentionDays: FSx cannot back up a file system linked to an S3" in message


def test_s3_linked_file_system_gets_no_automatic_backups():
    spec = spec_from_config(config({"capacityTiB": 10, "s3ExportPath": "s3://ckpt/x/"}))
    assert spec.storage is not None and spec.storage.backup_days == 0


def test_parse_s3_path_reads_partition_only_from_arns():
    uri = parse_s3_path("s3://bucket-1/a/b")
    arn = parse_s3_path("arn:aws-cn:s3:::bucket-1/a/b/")
    assert uri is not None and arn is not None
    assert (uri.partition, arn.partition) == (None, "aws-cn")
    assert uri.uri == arn.uri == "s3://bucket-1/a/b/"


def _efa_fleets(*counts: tuple[str, int]) -> dict[str, Any]:
    cfg = config({"capacityTiB": 50, "throughputGBps": 20, "efaEnabled": True})
    cfg["aifactory:fleets"] = [
        {"name": f"f{i}", "instanceType": instance_type, "count": count}
        for i, (instance_type, count) in enumerate(counts)
    ]
    return cfg


def test_efa_file_system_takes_at_most_1024_efa_connections() -> None:
    # 128 p5 nodes x 8 LNet EFA interfaces = 1024: the limit itself is fine.
    assert spec_from_config(_efa_fleets(("p5.48xlarge", 128))).storage is not None
    # 96 p5 + 64 p5en = 1280 connections.
    with pytest.raises(ConfigError) as info:
        spec_from_config(_efa_fleets(("p5.48xlarge", 96), ("p5en.48xlarge", 64)))
    (issue,) = [i for i in info.value.issues if i.path == "aifactory:storage.efaEnabled"]
    assert "1280" in issue.problem and "1024" in issue.problem and "f0 768, f1 512" in issue.problem
    assert "efaEnabled: false" in issue.fix


def test_tcp_file_systems_and_non_efa_client_types_open_no_efa_connections() -> None:
    cfg = _efa_fleets(("p5.48xlarge", 96), ("p5en.48xlarge", 64))
    cfg["aifactory:storage"]["efaEnabled"] = False
    assert spec_from_config(cfg).storage is not None
    # g6.xlarge has no EFA: its nodes use TCP and count nothing.
    cfg = _efa_fleets(("p5.48xlarge", 128), ("g6.xlarge", 64))
    cfg["aifactory:fleets"][1]["efa"] = False
    assert spec_from_config(cfg).storage is not None


LINKED = {"capacityTiB": 10, "s3ImportPath": "s3://acme-data/in/", "s3ExportPath": "s3://acme-data/out/"}


@pytest.mark.parametrize(
    ("storage", "problem"),
    [
        ({**LINKED, "accessLogBucket": "acme-logs"}, "creates no bucket"),
        ({**LINKED, "createBucket": True, "accessLogBucket": "acme-data"}, "data repository bucket itself"),
        ({**LINKED, "createBucket": True, "accessLogBucket": "Not_A_Bucket"}, "accessLogBucket"),
    ],
)
def test_access_log_bucket_rules(storage: dict[str, Any], problem: str) -> None:
    message = errors(storage)
    assert "aifactory:storage.accessLogBucket" in message and problem in message


def test_access_log_bucket_with_the_created_bucket_passes() -> None:
    spec = spec_from_config(config({**LINKED, "createBucket": True, "accessLogBucket": "acme-logs"}))
    assert spec.storage is not None and spec.storage.access_log_bucket == "acme-logs"
