"""Every `aifactory:production` rule catches its bad input and names the config path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import spec_from_config
from aifactory.spec.production_rules import cron_problem, image_pin_problem

from tests.stackfiles import MLFLOW_IMAGE, production_line

MIRROR = "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"
DIGEST = "@sha256:" + "a" * 64


def line(**changes: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = dict(
        dataset="s3://acme-data/train/chat/",
        fleet="train",
        queue="research",
        serving={"queue": "serving", "fleet": "serve", "replicas": 2, "gpusPerReplica": 4},
        trigger={"schedule": "0 3 * * *"},
    )
    return production_line(**(defaults | changes))


def config(*lines: dict[str, Any], profile: str = "commercial", **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "aws:region": "eu-north-1" if profile == "sovereign" else "us-east-1",
        "aifactory:profile": profile,
        "aifactory:fleets": [
            {"name": "train", "instanceType": "p5.48xlarge", "count": 4},
            {"name": "serve", "instanceType": "p4d.24xlarge", "count": 2},
            {"name": "small", "instanceType": "g6.xlarge", "count": 2, "efa": False},
        ],
        "aifactory:storage": {"capacityTiB": 4.8, "s3ImportPath": "s3://acme-data/train/"},
        "aifactory:scheduler": {
            "kind": "kubernetes",
            "clusterRunner": {
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/runner:0.2.0",
                "stateBucket": "acme-state",
                "secretsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            },
            "queues": [
                {"name": "research", "namespace": "research", "gpuQuota": 16, "fleets": ["train"], "cohort": "c"},
                {"name": "other", "namespace": "other", "gpuQuota": 16, "fleets": ["train"], "cohort": "c"},
                {"name": "serving", "namespace": "serving", "gpuQuota": 8, "fleets": ["serve", "small"], "cohort": "c"},
            ],
        },
        "aifactory:production": {
            "registry": {
                "kind": "mlflow",
                "image": MLFLOW_IMAGE,
                "artifacts": "s3://acme-data/train/models/",
            },
            "lines": list(lines) or [line()],
        },
        "aifactory:images": {"eks-1.35-nvidia": "ami-07e4b2d9c1a3f5608", "eks-1.35-system-release": "1.35.0-20261118"},
    }
    if profile == "sovereign":
        cfg["aifactory:sovereignty"] = {
            "allowedRegions": ["eu-north-1"],
            "registryMirror": MIRROR,
            "kmsKeyArn": "arn:aws:kms:eu-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        }
        cfg["aifactory:scheduler"]["clusterRunner"]["image"] = f"{MIRROR}/runner:0.2.0"
        cfg["aifactory:fleets"] = cfg["aifactory:fleets"][:2]
        cfg["aifactory:fleets"][0]["instanceType"] = "p5en.48xlarge"
        cfg["aifactory:scheduler"]["queues"][2]["fleets"] = ["serve"]
        cfg["aifactory:storage"]["createBucket"] = True
        cfg["aifactory:scheduler"]["clusterRunner"].pop("secretsKeyArn")
        cfg["aifactory:images"] = {
            "eks-1.35-nvidia": "ami-07e4b2d9c1a3f5608",
            "eks-1.35-system-release": "1.35.0-20261118",
        }
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def errors(cfg: dict[str, Any]) -> dict[str, str]:
    try:
        spec_from_config(cfg)
    except ConfigError as exc:
        found: dict[str, str] = {}
        for issue in exc.errors:
            found[issue.path] = f"{found[issue.path]}; {issue.problem}" if issue.path in found else issue.problem
        return found
    return {}


LINE = "aifactory:production.lines[0]"


def test_a_complete_line_is_valid() -> None:
    assert errors(config()) == {}


def test_production_needs_the_kubernetes_scheduler() -> None:
    cfg = config()
    cfg["aifactory:scheduler"] = {"kind": "slurm", "partitions": [{"name": "gpu", "fleets": ["train"]}]}
    assert "not `kubernetes`" in errors(cfg)["aifactory:production"]


@pytest.mark.parametrize("name", ["Chat", "1chat", "a" * 41, "chat_ft"])
def test_line_names_are_short_dns_labels(name: str) -> None:
    assert f"{LINE}.name" in errors(config(line(name=name)))


def test_line_names_are_unique() -> None:
    assert "already used" in errors(config(line(), line()))["aifactory:production.lines[1].name"]


def test_unknown_queue_and_fleet() -> None:
    found = errors(config(line(training__queue="reserch", training__fleet="trian")))
    assert f"{LINE}.training.queue" in found
    assert f"{LINE}.training.fleet" in found


def test_fleet_outside_the_queue() -> None:
    found = errors(config(line(training__fleet="serve", training__gpusPerNode=4, training__nodes=1)))
    assert "no quota on fleet" in found[f"{LINE}.training.fleet"]


def test_gpus_per_node_fit_the_instance() -> None:
    assert "has 8" in errors(config(line(training__gpusPerNode=16)))[f"{LINE}.training.gpusPerNode"]
    # A replica takes whole nodes: 12 accelerators on 8-accelerator nodes cannot be split evenly.
    found = errors(config(line(serving__gpusPerReplica=12)))
    assert "span nodes of 8" in found[f"{LINE}.serving.gpusPerReplica"]
    assert f"{LINE}.evaluation.gpus" in errors(config(line(evaluation__gpus=9)))


def test_nodes_fit_the_fleet() -> None:
    assert "fleet 'train' has 4" in errors(config(line(training__nodes=5)))[f"{LINE}.training.nodes"]


def test_job_larger_than_quota_plus_borrowing_is_never_admitted() -> None:
    cfg = config(line(training__nodes=4))  # 32 GPUs = 16 quota + 16 borrowable: fits
    assert errors(cfg) == {}
    cfg["aifactory:scheduler"]["queues"][0]["borrowingLimit"] = 8
    assert "never admit" in errors(cfg)[f"{LINE}.training.nodes"]
    assert "fleet 'serve' has 2" in errors(config(line(serving__replicas=3)))[f"{LINE}.serving.replicas"]


def test_priority_must_be_declared() -> None:
    assert f"{LINE}.training.priority" in errors(config(line(training__priority="urgent")))


def test_dataset_under_the_data_repository_or_the_mount() -> None:
    assert "data repository" in errors(config(line(dataset="s3://acme-data/other/")))[f"{LINE}.dataset"]
    assert f"{LINE}.dataset" in errors(config(line(dataset="/data/chat")))
    assert f"{LINE}.dataset" in errors(config(line(dataset="/fsx/../etc")))
    assert errors(config(line(dataset="/fsx/datasets/chat", trigger=None))) == {}
    cfg = config()
    del cfg["aifactory:storage"]
    assert "no" in errors(cfg)[f"{LINE}.dataset"]


def test_checkpoints_on_the_file_system() -> None:
    found = errors(config(line(training__checkpoint={"directory": "/tmp/ckpt"})))
    assert "FSx mount" in found[f"{LINE}.training.checkpoint.directory"]


def test_images_are_pinned() -> None:
    found = errors(config(line(training__image="nvcr.io/nvidia/pytorch:latest", serving__image="vllm/vllm-openai")))
    assert "moving tag" in found[f"{LINE}.training.image"]
    assert "no tag" in found[f"{LINE}.serving.image"]
    assert errors(config(line(serving__image="vllm/vllm-openai" + DIGEST))) == {}
    assert image_pin_problem("nvcr.io/nvidia/pytorch:stable") is not None
    assert image_pin_problem("nvcr.io/nvidia/pytorch:25.08-py3") is None


def test_sovereign_images_come_from_the_mirror_and_registry_is_mlflow() -> None:
    cfg = config(profile="sovereign")
    found = errors(cfg)
    for key in ("training.image", "evaluation.image", "serving.image"):
        assert "registry mirror" in found[f"{LINE}.{key}"]
    assert "registry mirror" in found["aifactory:production.registry.image"]
    mirrored = line(
        training__image=f"{MIRROR}/nvcr.io/nvidia/pytorch:25.08-py3",
        evaluation__image=f"{MIRROR}/nvcr.io/nvidia/pytorch:25.08-py3",
        serving__image=f"{MIRROR}/docker.io/vllm/vllm-openai:v0.10.1",
    )
    cfg = config(mirrored, profile="sovereign")
    cfg["aifactory:production"]["registry"]["image"] = f"{MIRROR}/{MLFLOW_IMAGE}"
    assert errors(cfg) == {}
    cfg["aifactory:production"]["registry"] = {"kind": "sagemaker", "artifacts": "s3://acme-data/train/models/"}
    assert "SageMaker" in errors(cfg)["aifactory:production.registry.kind"]


def test_registry_fields() -> None:
    cfg = config()
    cfg["aifactory:production"]["registry"] = {"kind": "mlflow", "artifacts": "/elsewhere", "namespace": "kube-x"}
    found = errors(cfg)
    assert "required" in found["aifactory:production.registry.image"]
    assert "aifactory:production.registry.artifacts" in found
    assert "aifactory:production.registry.namespace" in found
    cfg["aifactory:production"]["registry"] = {"kind": "sagemaker", "artifacts": "/fsx/models", "image": "a/b:1"}
    found = errors(cfg)
    assert "S3" in found["aifactory:production.registry.artifacts"]
    assert "only applies" in found["aifactory:production.registry.image"]


@pytest.mark.parametrize(
    "schedule",
    ["0 3 * *", "61 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *", "*/0 * * * *", "@often", "5-1 * * * *"],
)
def test_bad_cron(schedule: str) -> None:
    assert cron_problem(schedule) is not None
    assert f"{LINE}.trigger.schedule" in errors(config(line(trigger={"schedule": schedule})))


@pytest.mark.parametrize("schedule", ["0 3 * * *", "*/15 0-6 1,15 JAN-MAR MON-FRI", "@daily", "0 0 * * 6"])
def test_good_cron(schedule: str) -> None:
    assert cron_problem(schedule) is None


def test_trigger_rules() -> None:
    assert "starts nothing" in errors(config(line(trigger={})))[f"{LINE}.trigger"]
    assert f"{LINE}.trigger.timezone" in errors(config(line(trigger={"schedule": "@daily", "timezone": "Mars/Base"})))
    found = errors(config(line(dataset="/fsx/datasets/chat", trigger={"onNewData": True})))
    assert "S3 event" in found[f"{LINE}.trigger.onNewData"]


def test_threshold_must_be_finite() -> None:
    bad = line()
    bad["evaluation"] = copy.deepcopy(bad["evaluation"]) | {"threshold": float("nan")}
    assert f"{LINE}.evaluation.threshold" in errors(config(bad))


def test_metrics_file_is_absolute() -> None:
    found = errors(config(line(evaluation__metricsFile="metrics.json")))
    assert "absolute" in found[f"{LINE}.evaluation.metricsFile"]


def test_a_fleet_without_accelerators_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from aifactory.catalog.hardware import known_hardware
    from aifactory.spec import production_rules

    def no_gpus(fleet: Any) -> Any:
        hardware = known_hardware(fleet)
        if fleet.name != "small" or hardware is None:
            return hardware

        class Cpu:
            name, gpus = hardware.name, 0

        return Cpu()

    monkeypatch.setattr(production_rules, "known_hardware", no_gpus)
    found = errors(config(line(serving__fleet="small", serving__gpusPerReplica=1, serving__replicas=1)))
    assert "no accelerators" in found[f"{LINE}.serving.fleet"]
