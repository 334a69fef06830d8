"""Kubeflow Trainer objects validate strictly against the v2.3.0 CRDs and restart from checkpoints."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from aifactory.cli.report import plan_lines
from aifactory.planning.production_plan import ProductionPlan, plan_production
from aifactory.schedulers import training_manifests as t
from aifactory.schedulers.helm_values import mirror_release, outside_mirror
from aifactory.schedulers.kubernetes_manifests import TRAINJOB_FRAMEWORK, kueue_configuration
from aifactory.spec.loading import spec_from_config
from aifactory.spec.scheduler import ChartVersions

from tests.crd_validation import CrdValidationError, validate_custom_resource
from tests.spec.test_production_rules import config, line

MIRROR = "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"


def plan(*lines: dict) -> ProductionPlan:
    production = plan_production(spec_from_config(config(*lines)))
    assert production is not None
    return production


def test_runtime_and_trainjob_validate_strictly() -> None:
    production = plan()
    (only,) = production.lines
    validate_custom_resource(only.runtime)
    validate_custom_resource(only.train_job)
    broken = copy.deepcopy(only.train_job)
    broken["spec"]["trainer"]["numProcsPerNode"] = 8
    with pytest.raises(CrdValidationError, match="numProcsPerNode"):
        validate_custom_resource(broken)


def test_trainjob_goes_through_the_lines_local_queue() -> None:
    job = plan(line(training__priority="fine-tuning", training__command=["torchrun", "/w/train.py"])).lines[0].train_job
    assert job["metadata"]["namespace"] == "research"
    assert job["metadata"]["generateName"] == "chat-ft-"
    assert job["metadata"]["labels"] == {
        "kueue.x-k8s.io/queue-name": "research",
        "aifactory.io/line": "chat-ft",
        "kueue.x-k8s.io/priority-class": "fine-tuning",
    }
    trainer = job["spec"]["trainer"]
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 8)
    assert trainer["command"] == ["torchrun", "/w/train.py"]
    # p5.48xlarge: 8 GPUs and 32 EFA devices (the catalog's EFA layout).
    assert trainer["resourcesPerNode"]["limits"] == {
        "nvidia.com/gpu": 8,
        "vpc.amazonaws.com/efa": 32,
        "hugepages-2Mi": "5120Mi",
    }
    assert job["spec"]["runtimeRef"]["name"] == "chat-ft-torch-efa"


def test_runtime_restarts_the_whole_job_from_the_checkpoint() -> None:
    runtime = plan(line(training__maxRestarts=7)).lines[0].runtime
    spec = runtime["spec"]["template"]["spec"]
    assert spec["failurePolicy"] == {"maxRestarts": 7, "restartStrategy": "BlockingRecreate"}
    (node,) = spec["replicatedJobs"]
    assert node["name"] == "node" and node["template"]["spec"]["backoffLimit"] == 0
    pod = node["template"]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["AIFACTORY_CHECKPOINT_DIR"] == "/fsx/checkpoints/chat-ft"
    assert env["AIFACTORY_CHECKPOINT_INTERVAL_MINUTES"] == "30"
    # s3://acme-data/train/ is imported at <mount>/datasets.
    assert env["AIFACTORY_DATASET_DIR"] == "/fsx/datasets/chat"
    assert env["FI_PROVIDER"] == "efa" and env["FI_EFA_USE_DEVICE_RDMA"] == "1"
    assert pod["nodeSelector"] == {"aifactory.io/fleet": "train"}
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in pod["tolerations"]
    assert {"name": "fsx", "persistentVolumeClaim": {"claimName": "fsx"}} in pod["volumes"]


def test_no_device_rdma_where_the_instance_has_none() -> None:
    cfg = config(line(training__fleet="serve", training__queue="serving", training__nodes=1, training__gpusPerNode=8))
    cfg["aifactory:fleets"][1] = {"name": "serve", "instanceType": "g6.8xlarge", "count": 2}
    cfg["aifactory:production"]["lines"][0]["training"]["gpusPerNode"] = 1
    cfg["aifactory:production"]["lines"][0]["serving"]["gpusPerReplica"] = 1
    production = plan_production(spec_from_config(cfg))
    assert production is not None
    pod = production.lines[0].runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]
    env = {e["name"] for e in pod["template"]["spec"]["containers"][0]["env"]}
    assert "FI_PROVIDER" in env and "FI_EFA_USE_DEVICE_RDMA" not in env
    validate_custom_resource(production.lines[0].runtime)


def test_trainer_release_is_pinned_on_the_factorys_jobset_and_mirrors() -> None:
    release = t.trainer_release(ChartVersions())
    assert (release.chart, release.version) == ("oci://ghcr.io/kubeflow/charts/kubeflow-trainer", "2.3.0")
    assert release.values["jobset"] == {"install": False}
    assert release.values["image"]["tag"] == "v2.3.0"
    mirrored = mirror_release(release, MIRROR)
    assert outside_mirror(mirrored, MIRROR) == []
    assert mirrored.values["image"]["registry"] == MIRROR
    assert mirrored.values["image"]["repository"] == "ghcr.io/kubeflow/trainer/trainer-controller-manager"
    assert outside_mirror(release, MIRROR) != []
    with pytest.raises(ValueError, match="JobSet"):
        t.trainer_release(ChartVersions(jobset="0.11.0"))


# The defaults the sub-chart condition reads, as kubeflow/trainer charts/kubeflow-trainer/values.yaml has them
# (commit 008666e; `lws.install` defaults on there, so `dataCache.enabled: false` alone is never read).
TRAINER_CHART_DATA_CACHE = {"enabled": False, "lws": {"install": True}}
LWS_SUBCHART_CONDITION = "dataCache.lws.install,dataCache.enabled"


def helm_condition(values: dict[str, Any], condition: str) -> bool:
    """Helm's dependency `condition`: the first of the comma-separated paths that is set decides;
    none set: the dependency is enabled (helm pkg/chartutil/dependencies.go, `processDependencyConditions`)."""
    for path in condition.split(","):
        node: Any = values
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, bool):
            return node
    return True


def _merged(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(defaults)
    for key, value in overrides.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def test_trainer_never_installs_its_own_leaderworkerset() -> None:
    values = {"dataCache": _merged(TRAINER_CHART_DATA_CACHE, t.trainer_release(ChartVersions()).values["dataCache"])}
    assert helm_condition(values, LWS_SUBCHART_CONDITION) is False
    assert helm_condition({"dataCache": TRAINER_CHART_DATA_CACHE}, LWS_SUBCHART_CONDITION) is True


def test_kueue_admits_trainjobs_and_waits_for_recovery() -> None:
    config_ = kueue_configuration(trainjobs=True)
    assert TRAINJOB_FRAMEWORK == "trainer.kubeflow.org/trainjob"
    assert TRAINJOB_FRAMEWORK in config_["integrations"]["frameworks"]
    assert config_["waitForPodsReady"]["recoveryTimeout"] == "15m"
    assert "recoveryTimeout" not in kueue_configuration()["waitForPodsReady"]
    assert yaml.safe_load(yaml.safe_dump(config_)) == config_


def test_plan_costs_and_queue_shares() -> None:
    production = plan()
    (only,) = production.lines
    assert only.training_gpus == 16 and only.serving_gpus == 8
    assert production.queue_shares == {"research": {"chat-ft": 1.0}, "serving": {"chat-ft": 1.0}}
    # 2 p5 nodes x 6 hours at the us-east-1 On-Demand price; a 4-GPU replica is half a p4d node.
    assert only.run_cost_usd is not None and only.run_cost_usd > 0
    assert only.replica_hour_usd is not None and only.replica_hour_usd > 0
    summary = production.summary()
    assert summary["lines"][0]["cost_per_training_run_usd"] == only.run_cost_usd


def test_dataset_dir_mapping() -> None:
    assert t.dataset_dir("/fsx/data", "/fsx", None) == "/fsx/data"
    assert t.dataset_dir("s3://b/train/", "/fsx", "s3://b/train/") == "/fsx/datasets"
    assert t.dataset_dir("s3://b/train/x/y/", "/fsx", "s3://b/train") == "/fsx/datasets/x/y"
    with pytest.raises(ValueError):
        t.dataset_dir("s3://b/other/", "/fsx", "s3://b/train/")


@pytest.mark.parametrize("stack", ["commercial-us", "sovereign-eu"])
def test_example_lines_render_valid_objects_and_a_runbook(stack: str) -> None:
    from aifactory.cli.planrun import plan_stack
    from aifactory.cli.render import production_files

    result = plan_stack(stack)
    production = result.plan.production
    assert production is not None and len(production.lines) == 1
    files = production_files(result.plan)
    (name,) = {path.split("/")[1] for path in files}
    for kind in ("runtime", "trainjob"):
        validate_custom_resource(yaml.safe_load(files[f"production/{name}/{kind}.yaml"]))
    readme = files[f"production/{name}/README.md"]
    for command in ("kubectl create -f trainjob.yaml", "get workloads"):
        assert command in readme
    # Metrics come from the factory's recording rules when the stack has a backend (sovereign-eu).
    if result.plan.observability is not None:
        assert f'line:aifactory_goodput:ratio1h{{line="{name}"}}' in readme
    else:
        assert "set `aifactory:observability`" in readme
    releases = {r.inputs["name"]: r.inputs for r in result.resources if r.type == "kubernetes:helm.sh/v3:Release"}
    trainer = releases["kubeflow-trainer"]
    assert trainer["version"] == "2.3.0" and trainer["values"]["jobset"] == {"install": False}
    kueue = yaml.safe_load(releases["kueue"]["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert TRAINJOB_FRAMEWORK in kueue["integrations"]["frameworks"]
    if stack == "sovereign-eu":
        mirror = result.spec.sovereignty.registry_mirror  # type: ignore[union-attr]
        assert trainer["chart"] == f"oci://{mirror}/charts/kubeflow-trainer"
        runtime = yaml.safe_load(files[f"production/{name}/runtime.yaml"])
        pod = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
        assert pod["containers"][0]["image"].startswith(mirror + "/")
    else:
        assert "$ per run" in "\n".join(plan_lines(result))
