"""Serving of the production lines: the vLLM LeaderWorkerSet, its Service, Kueue's side of it (integration,
priority, cohort reclaim), the cohort rule, and the cluster stack that registers it."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.cli.planrun import PlanResult, plan_stack
from aifactory.cli.render import kubernetes_files
from aifactory.schedulers.helm_values import mirror_release, outside_mirror
from aifactory.schedulers.kubernetes_manifests import (
    EFA_RESOURCE,
    LINE_LABEL,
    PRIORITY_LABEL,
    QUEUE_LABEL,
    FleetCapacity,
    kueue_configuration,
    scheduling_objects,
    workload_priority_classes,
)
from aifactory.schedulers.production_serving import (
    LWS_FRAMEWORK,
    MODEL_URI_ENV,
    SERVING_PRIORITY,
    leader_script,
    lws_release,
    mounted_location,
    serving_objects,
    with_leaderworkerset,
    worker_script,
)
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import read_stack_config, spec_from_config
from aifactory.spec.production import ProductionSpec
from aifactory.spec.scheduler import Queue

from tests.crd_validation import validate_custom_resource
from tests.golden import check_text
from tests.stackfiles import MLFLOW_IMAGE, production_line, write_stack

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "serving"
LINE = "aifactory:production.lines[0]"
IMPORT, EXPORT = "s3://aifactory-commercial-us-datasets/train/", "s3://aifactory-commercial-us-datasets/checkpoints/"


def line(name: str = "chat-ft", **serving: Any) -> dict[str, Any]:
    return production_line(
        name,
        dataset=f"{IMPORT}chat/",
        fleet="ondemand",
        queue="research",
        serving={
            "queue": "product",
            "fleet": "ondemand",
            "replicas": 2,
            "gpusPerReplica": 8,
            "args": ["--max-model-len", "32768"],
            **serving,
        },
    )


def config(*lines: dict[str, Any]) -> dict[str, Any]:
    """commercial-us with production lines: training on `research`, serving on `product`, one cohort."""
    cfg = copy.deepcopy(read_stack_config(ROOT / "stacks" / "Pulumi.commercial-us.yaml"))
    cfg["aifactory:production"] = {
        "registry": {"kind": "mlflow", "image": MLFLOW_IMAGE, "artifacts": f"{EXPORT}models/"},
        "lines": list(lines) or [line()],
    }
    return cfg


def errors(cfg: dict[str, Any]) -> dict[str, str]:
    try:
        spec_from_config(cfg)
    except ConfigError as exc:
        found: dict[str, str] = {}
        for issue in exc.errors:
            found[issue.path] = f"{found.get(issue.path, '')}; {issue.problem}; fix: {issue.fix}"
        return found
    return {}


P5 = FleetCapacity("ondemand", "p5.48xlarge", 96)
QUEUES = [
    Queue(name="research", namespace="research", gpu_quota=256, cohort="training"),
    Queue(name="product", namespace="product", gpu_quota=64, cohort="training"),
]


def objects(*lines: dict[str, Any]) -> list[dict[str, Any]]:
    production = ProductionSpec.model_validate(config(*lines)["aifactory:production"])
    priorities = ["production-training", "fine-tuning", "evaluation"]
    return serving_objects(production, QUEUES, {"ondemand": P5}, priorities, "/fsx", (IMPORT, EXPORT))


def test_a_serving_line_is_valid_and_every_object_validates_strictly() -> None:
    assert errors(config(line(), line("big", gpusPerReplica=16, replicas=1))) == {}
    found = objects(line(), line("big", gpusPerReplica=16, replicas=1))
    assert [o["kind"] for o in found] == [
        "WorkloadPriorityClass",
        *(["LeaderWorkerSet", "Service"] * 2),
    ]
    for obj in found:
        if obj["kind"] != "Service":
            validate_custom_resource(obj)


def test_golden_leaderworkerset_and_service_of_one_line() -> None:
    _, lws, service = objects()
    check_text(GOLDEN / "chat-ft.yaml", yaml.safe_dump_all([lws, service], sort_keys=False), __file__)


def test_single_node_replica_is_one_pod_with_model_uri_queue_and_fleet() -> None:
    _, lws, service = objects()
    meta, spec = lws["metadata"], lws["spec"]
    assert meta["namespace"] == "product" and meta["name"] == "chat-ft-serve"
    assert meta["labels"] == {LINE_LABEL: "chat-ft", QUEUE_LABEL: "product", PRIORITY_LABEL: SERVING_PRIORITY}
    template = spec["leaderWorkerTemplate"]
    assert template["size"] == 1 and "leaderTemplate" not in template
    pod = template["workerTemplate"]
    assert pod["metadata"]["labels"][LINE_LABEL] == "chat-ft"
    assert pod["metadata"]["labels"][QUEUE_LABEL] == "product"
    assert pod["spec"]["nodeSelector"] == {"aifactory.io/fleet": "ondemand"}
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in pod["spec"][
        "tolerations"
    ]
    (container,) = pod["spec"]["containers"]
    # registry artifacts on the export link: seen under <mount>/checkpoints
    assert {"name": MODEL_URI_ENV, "value": "/fsx/checkpoints/models/chat-ft"} in container["env"]
    assert container["command"] == ["vllm", "serve"]
    args = container["args"]
    assert args[0] == f"$({MODEL_URI_ENV})"
    assert args[args.index("--tensor-parallel-size") + 1] == "8" and "--pipeline-parallel-size" not in args
    assert args[args.index("--served-model-name") + 1] == "chat-ft"
    assert args[-2:] == ["--max-model-len", "32768"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": 8000}
    limits = container["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 8 and limits[EFA_RESOURCE] == 32  # a whole p5 node: its 32 EFA devices
    assert service["spec"]["selector"] == {
        "leaderworkerset.sigs.k8s.io/name": "chat-ft-serve",
        "leaderworkerset.sigs.k8s.io/worker-index": "0",
    }
    assert service["spec"]["ports"][0]["port"] == 8000


def test_part_of_a_node_takes_no_efa() -> None:
    _, lws, _ = objects(line(gpusPerReplica=4))
    (container,) = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 4}
    assert not any(e["name"].startswith("FI_") for e in container["env"])


def test_sixteen_gpus_on_eight_gpu_nodes_is_a_two_node_group_tensor_8_pipeline_2() -> None:
    _, lws, _ = objects(line(gpusPerReplica=16, replicas=1))
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2 and template["restartPolicy"] == "RecreateGroupOnPodRestart"
    (leader,) = template["leaderTemplate"]["spec"]["containers"]
    (worker,) = template["workerTemplate"]["spec"]["containers"]
    script = leader["command"][2]
    assert "ray start --head --port=6379" in script
    assert "--tensor-parallel-size 8 --pipeline-parallel-size 2 --distributed-executor-backend ray" in script
    assert f'vllm serve "${MODEL_URI_ENV}"' in script
    assert "ray start --address=" in worker["command"][2]
    for container in (leader, worker):
        assert container["resources"]["limits"] == {"nvidia.com/gpu": 8, EFA_RESOURCE: 32, "hugepages-2Mi": "5120Mi"}
        assert any(e == {"name": "FI_PROVIDER", "value": "efa"} for e in container["env"])
    assert "readinessProbe" in leader and "readinessProbe" not in worker
    assert MODEL_URI_ENV in {e["name"] for e in leader["env"]}


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_ray_scripts_pass_bash_n_and_shellcheck(tmp_path: Path) -> None:
    production = ProductionSpec.model_validate(config(line(gpusPerReplica=16))["aifactory:production"])
    first = production.lines[0]
    assert first.serving is not None
    for name, script in (("leader", leader_script(first, first.serving, 8, 2)), ("worker", worker_script())):
        path = tmp_path / f"{name}.sh"
        path.write_text(f"#!/bin/bash\n{script}\n")
        subprocess.run(["bash", "-n", str(path)], check=True)
        subprocess.run(["shellcheck", "-s", "bash", str(path)], check=True)


def test_model_location_as_the_mount_shows_it() -> None:
    assert mounted_location("/fsx/models", "/fsx", IMPORT, EXPORT) == "/fsx/models"
    assert mounted_location(f"{IMPORT}models/", "/fsx", IMPORT, EXPORT) == "/fsx/datasets/models"
    assert mounted_location(f"{EXPORT}m/", "/data", IMPORT, EXPORT) == "/data/checkpoints/m"
    with pytest.raises(ValueError):
        mounted_location(f"{EXPORT}m/", "/fsx", IMPORT, None)


def test_kueue_manages_leaderworkersets_and_serving_outranks_training() -> None:
    config_ = with_leaderworkerset(kueue_configuration())
    assert config_["integrations"]["frameworks"][-1] == LWS_FRAMEWORK
    assert with_leaderworkerset(config_) == config_
    assert kueue_configuration()["integrations"]["frameworks"] == ["batch/job", "jobset.x-k8s.io/jobset"]
    priorities = ["production-training", "fine-tuning", "evaluation"]
    serving = objects()[0]
    validate_custom_resource(serving)
    assert serving["value"] > max(p["value"] for p in workload_priority_classes(priorities))


def test_cluster_queues_let_serving_reclaim_its_quota_from_borrowing_training() -> None:
    """What Kueue needs for reclaim (concepts/preemption.md, cluster_queue.md @v0.19.2): both queues in one
    cohort; the serving queue's `reclaimWithinCohort` preempts borrowers of any priority; with fair sharing on
    (the factory's Configuration) `borrowWithinCohort` must be unset; no `lendingLimit`, so all idle serving
    quota lends; and the training queue has the serving fleet's flavor, or it could not borrow it."""
    found = scheduling_objects(QUEUES, [P5], ["production-training"], None)
    cqs = {o["metadata"]["name"]: o for o in found if o["kind"] == "ClusterQueue"}
    serving, training = cqs["product"]["spec"], cqs["research"]["spec"]
    for obj in cqs.values():
        validate_custom_resource(obj)
    assert serving["cohortName"] == training["cohortName"] == "training"
    assert serving["preemption"]["reclaimWithinCohort"] == "Any"
    assert "borrowWithinCohort" not in serving["preemption"]
    assert "fairSharing" in kueue_configuration()
    (flavor,) = serving["resourceGroups"][0]["flavors"]
    gpu = next(r for r in flavor["resources"] if r["name"] == "nvidia.com/gpu")
    assert gpu["nominalQuota"] == 64 and "lendingLimit" not in gpu
    assert [f["name"] for f in training["resourceGroups"][0]["flavors"]] == ["ondemand"]


def test_serving_and_training_queues_must_share_a_cohort() -> None:
    cfg = config()
    cfg["aifactory:scheduler"]["queues"][1].pop("cohort")
    found = errors(cfg)[f"{LINE}.serving.queue"]
    assert "no cohort" in found and "cohort 'training'" in found and "`cohort: training`" in found
    cfg["aifactory:scheduler"]["queues"][1]["cohort"] = "inference"
    assert "cohort 'inference'" in errors(cfg)[f"{LINE}.serving.queue"]
    cfg["aifactory:scheduler"]["queues"][0].pop("cohort")
    cfg["aifactory:scheduler"]["queues"][0].pop("borrowingLimit")
    cfg["aifactory:scheduler"]["queues"][1].pop("cohort")
    assert "`cohort: chat-ft`" in errors(cfg)[f"{LINE}.serving.queue"]
    # one queue for both: nothing to share
    assert errors(config(line(queue="research"))) == {}


def test_a_multi_node_replica_takes_whole_nodes() -> None:
    found = errors(config(line(gpusPerReplica=12)))
    assert "a multiple of 8" in found[f"{LINE}.serving.gpusPerReplica"]
    found = errors(config(line(gpusPerReplica=16, replicas=49)))
    assert "need 98 nodes, but fleet 'ondemand' has 96" in found[f"{LINE}.serving.replicas"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> PlanResult:
    cfg = config(line(), line("big", gpusPerReplica=16, replicas=1, readyMinutes=45))
    return plan_stack(str(write_stack(tmp_path_factory.mktemp("served"), "commercial-us", cfg)))


def test_cluster_stack_registers_the_controller_the_integration_and_the_leaderworkersets(served: PlanResult) -> None:
    cluster = served.stacks["aifactory-cluster"]
    releases = {r.inputs["name"]: r.inputs for r in cluster if r.type == "kubernetes:helm.sh/v3:Release"}
    lws = releases["lws"]
    assert lws["chart"] == "oci://registry.k8s.io/lws/charts/lws"
    assert (lws["version"], lws["namespace"]) == ("0.10.0", "lws-system")
    assert lws["values"]["image"]["manager"]["tag"] == "v0.10.0"
    kueue = yaml.safe_load(releases["kueue"]["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert LWS_FRAMEWORK in kueue["integrations"]["frameworks"]
    # The slowest line's model load sets Kueue's one timeout (the other line keeps the 10-minute default).
    assert kueue["waitForPodsReady"]["timeout"] == "45m"
    sets = [r for r in cluster if r.type == "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"]
    assert sorted(r.inputs["metadata"]["name"] for r in sets) == ["big-serve", "chat-ft-serve"]
    for resource in sets:
        validate_custom_resource(resource.inputs)
    assert {r.inputs["metadata"]["name"] for r in cluster if r.type == "kubernetes:core/v1:Service"} >= {
        "big-serve",
        "chat-ft-serve",
    }
    files = kubernetes_files(served, served.placement)
    assert {"production/big/serving.yaml", "production/chat-ft/serving.yaml"} <= set(files)
    kinds = [o["kind"] for o in yaml.safe_load_all(files["production/big/serving.yaml"])]
    assert sorted(kinds) == ["LeaderWorkerSet", "Service"]


def test_without_a_slower_line_kueue_keeps_ten_minutes() -> None:
    cluster = plan_stack(str(ROOT / "stacks" / "Pulumi.commercial-us.yaml")).stacks["aifactory-cluster"]
    (kueue,) = [r for r in cluster if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["name"] == "kueue"]
    config_ = yaml.safe_load(kueue.inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert config_["waitForPodsReady"]["timeout"] == "10m"


@pytest.mark.parametrize("minutes", [0, 361, "30", 2.5])
def test_a_ready_time_outside_one_to_360_minutes_is_refused(minutes: Any) -> None:
    found = errors(config(line(readyMinutes=minutes)))
    assert f"{LINE}.serving.readyMinutes" in found


def test_stacks_without_serving_install_no_controller() -> None:
    cluster = plan_stack("trn2-us").stacks["aifactory-cluster"]  # a factory without production lines
    assert "lws" not in {r.inputs["name"] for r in cluster if r.type == "kubernetes:helm.sh/v3:Release"}


def test_sovereign_controller_comes_from_the_mirror() -> None:
    mirror = "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"
    release = mirror_release(lws_release("0.10.0"), mirror)
    assert outside_mirror(release, mirror) == []
    assert release.values["image"]["manager"] == {
        "tag": "v0.10.0",
        "pullPolicy": "IfNotPresent",
        "repository": f"{mirror}/registry.k8s.io/lws/lws",
    }
