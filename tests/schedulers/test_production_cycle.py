"""The production cycle's Argo objects: strict CRD validation, the DAG's gate, Kueue admission, RBAC,
the triggers, the shipped scripts (shellcheck, ruff) and one line's golden files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.schedulers.helm_values import mirror_release, outside_mirror
from aifactory.schedulers.kubernetes_manifests import QUEUE_LABEL, FleetCapacity, kueue_configuration
from aifactory.schedulers.production_cycle import (
    ARGO_NAMESPACE,
    LINE_LABEL,
    NEW_DATA_SCRIPT,
    PUBLISH_SCRIPT,
    TRAIN_FAILURE,
    TRAIN_SUCCESS,
    argo_workflows_release,
    cycle_namespaces,
    kueue_pod_integration,
    production_cycles,
)
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import spec_from_config
from aifactory.spec.model import FactorySpec
from aifactory.spec.scheduler import ChartVersions, KubernetesScheduler

from tests.crd_validation import validate_custom_resource
from tests.golden import check_text
from tests.stackfiles import MLFLOW_IMAGE, production_line

SCRIPTS = Path(__file__).parents[2] / "templates" / "production"
GOLDEN = Path(__file__).parents[1] / "golden" / "production"


def line(**changes: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = dict(
        dataset="s3://acme-data/train/chat/",
        fleet="train",
        queue="research",
        serving={"queue": "serving", "fleet": "serve", "replicas": 2, "gpusPerReplica": 4},
        trigger={"schedule": "0 3 * * *", "timezone": "Europe/Stockholm", "onNewData": True},
    )
    return production_line(**(defaults | changes))


def config(*lines: dict[str, Any]) -> dict[str, Any]:
    return {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:fleets": [
            {"name": "train", "instanceType": "p5.48xlarge", "count": 4},
            {"name": "serve", "instanceType": "p4d.24xlarge", "count": 2},
        ],
        "aifactory:storage": {"capacityTiB": 4.8, "s3ImportPath": "s3://acme-data/train/"},
        "aifactory:scheduler": {
            "kind": "kubernetes",
            "queues": [
                {"name": "research", "namespace": "research", "gpuQuota": 24, "fleets": ["train"], "cohort": "lines"},
                {"name": "serving", "namespace": "serving", "gpuQuota": 16, "fleets": ["serve"], "cohort": "lines"},
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
    }


def load(cfg: dict[str, Any]) -> FactorySpec:
    return spec_from_config(cfg, require_pinned_images=False)


def cycles(spec: FactorySpec) -> list[dict[str, Any]]:
    assert spec.production is not None and spec.storage is not None
    k8s = spec.scheduler
    assert isinstance(k8s, KubernetesScheduler)
    fleets = [FleetCapacity(name=f.name, instance_type=f.instance_type, nodes=f.count) for f in spec.ec2_fleets]
    return production_cycles(
        spec.production.lines,
        spec.production.registry,
        k8s.queues,
        fleets,
        spec.storage.mount_path,
        spec.storage.s3_import_path,
    )


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return cycles(load(config()))


def test_argo_objects_validate_strictly(objects: list[dict[str, Any]]) -> None:
    argo = [o for o in objects if o["apiVersion"].startswith("argoproj.io/")]
    assert {o["kind"] for o in argo} == {"WorkflowTemplate", "CronWorkflow"}
    for obj in argo:
        validate_custom_resource(obj)


def test_the_train_step_creates_a_valid_trainjob_and_waits_for_its_conditions(objects: list[dict[str, Any]]) -> None:
    template = by_kind(objects, "WorkflowTemplate")[0]
    train = next(t for t in template["spec"]["templates"] if t["name"] == "train")
    job = yaml.safe_load(train["resource"]["manifest"])
    validate_custom_resource(job)
    assert job["metadata"]["generateName"] == "chat-ft-train-" and "name" not in job["metadata"]
    assert job["metadata"]["labels"][QUEUE_LABEL] == "research"
    assert train["resource"]["successCondition"] == TRAIN_SUCCESS
    assert train["resource"]["failureCondition"] == TRAIN_FAILURE
    # Complete/Failed are the Trainer v2.3 TrainJob condition types.
    assert '"Complete"' in TRAIN_SUCCESS and '"Failed"' in TRAIN_FAILURE


def _tasks(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    dag = next(t for t in template["spec"]["templates"] if t["name"] == "cycle")["dag"]
    return {task["name"]: task for task in dag["tasks"]}


def test_dag_publishes_only_past_the_threshold_and_rolls_out_after(objects: list[dict[str, Any]]) -> None:
    tasks = _tasks(by_kind(objects, "WorkflowTemplate")[0])
    assert tasks["evaluate"]["depends"] == "train.Succeeded"
    assert tasks["publish"]["depends"] == "evaluate.Succeeded"
    assert tasks["publish"]["when"] == (
        "{{=asFloat(jsonpath(tasks.evaluate.outputs.parameters.metrics, '$[\"eval_loss\"]')) <= 2.1}}"
    )
    assert tasks["rollout"]["depends"] == "publish.Succeeded"


def test_maximize_goal_flips_the_comparison() -> None:
    spec = load(config(line(evaluation__goal="maximize", evaluation__threshold=0.8)))
    tasks = _tasks(by_kind(cycles(spec), "WorkflowTemplate")[0])
    assert ">= 0.8}}" in tasks["publish"]["when"]


def test_without_serving_there_is_no_rollout_and_no_serving_role() -> None:
    objects = cycles(load(config(line(serving=None))))
    template = by_kind(objects, "WorkflowTemplate")[0]
    assert "rollout" not in _tasks(template)
    assert {o["metadata"]["namespace"] for o in by_kind(objects, "Role")} == {"research"}


def test_rollout_patches_only_the_serving_object_in_the_serving_namespace(objects: list[dict[str, Any]]) -> None:
    template = by_kind(objects, "WorkflowTemplate")[0]
    rollout = next(t for t in template["spec"]["templates"] if t["name"] == "rollout")
    patch = yaml.safe_load(rollout["resource"]["manifest"])
    assert rollout["resource"]["action"] == "patch" and rollout["resource"]["mergeStrategy"] == "merge"
    assert (patch["metadata"]["name"], patch["metadata"]["namespace"]) == ("chat-ft-serve", "serving")
    worker = patch["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    assert worker == {"metadata": {"annotations": {"aifactory.io/model-uri": "{{inputs.parameters.model-uri}}"}}}
    role = next(o for o in by_kind(objects, "Role") if o["metadata"]["namespace"] == "serving")
    assert role["rules"] == [
        {
            "apiGroups": ["leaderworkerset.x-k8s.io"],
            "resources": ["leaderworkersets"],
            "resourceNames": ["chat-ft-serve"],
            "verbs": ["get", "patch"],
        }
    ]


def test_workflow_role_is_least_privilege(objects: list[dict[str, Any]]) -> None:
    role = next(o for o in by_kind(objects, "Role") if o["metadata"]["namespace"] == "research")
    assert role["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
        {"apiGroups": ["trainer.kubeflow.org"], "resources": ["trainjobs"], "verbs": ["create", "get", "watch"]},
    ]
    binding = next(o for o in by_kind(objects, "RoleBinding") if o["metadata"]["namespace"] == "serving")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "chat-ft-cycle", "namespace": "research"}]


def test_pods_that_need_capacity_are_queued_and_resource_steps_are_not(objects: list[dict[str, Any]]) -> None:
    for workflow in [*by_kind(objects, "WorkflowTemplate"), *by_kind(objects, "CronWorkflow")]:
        spec = workflow["spec"].get("workflowSpec", workflow["spec"])
        if "templates" not in spec:
            continue
        assert spec["podMetadata"]["labels"] == {LINE_LABEL: "chat-ft"}
        for template in spec["templates"]:
            labels = template.get("metadata", {}).get("labels", {})
            if "container" in template:
                assert labels[QUEUE_LABEL] == "research", template["name"]
                assert template["nodeSelector"] == {"aifactory.io/fleet": "train"}
            else:
                assert QUEUE_LABEL not in labels, template["name"]
    evaluate = next(t for t in by_kind(objects, "WorkflowTemplate")[0]["spec"]["templates"] if t["name"] == "evaluate")
    assert evaluate["container"]["resources"]["limits"] == {"nvidia.com/gpu": 1}


def test_cron_workflows_never_overlap_and_follow_the_trigger(objects: list[dict[str, Any]]) -> None:
    crons = {o["metadata"]["name"]: o["spec"] for o in by_kind(objects, "CronWorkflow")}
    assert set(crons) == {"chat-ft-cycle", "chat-ft-new-data"}
    scheduled = crons["chat-ft-cycle"]
    assert scheduled["schedules"] == ["0 3 * * *"] and scheduled["timezone"] == "Europe/Stockholm"
    assert scheduled["workflowSpec"] == {"workflowTemplateRef": {"name": "chat-ft-cycle"}}
    assert {c["concurrencyPolicy"] for c in crons.values()} == {"Forbid"}
    poll = crons["chat-ft-new-data"]["workflowSpec"]
    dag = {t["name"]: t for t in poll["templates"][0]["dag"]["tasks"]}
    assert dag["cycle"]["templateRef"] == {"name": "chat-ft-cycle", "template": "cycle"}
    assert dag["cycle"]["when"] == "'{{tasks.check.outputs.parameters.newest}}' != 'none'"
    assert dag["mark"]["depends"] == "cycle.Succeeded"
    check = next(t for t in poll["templates"] if t["name"] == "check")
    env = {e["name"]: e["value"] for e in check["container"]["env"]}
    assert env["DATASET_DIR"] == "/fsx/datasets/chat"


def test_no_trigger_no_cron() -> None:
    objects = cycles(load(config(line(trigger=None))))
    assert by_kind(objects, "CronWorkflow") == []


def test_release_is_controller_only_pinned_and_mirrors_whole(objects: list[dict[str, Any]]) -> None:
    release = argo_workflows_release(ChartVersions().argo_workflows, cycle_namespaces(objects))
    assert release.namespace == ARGO_NAMESPACE
    assert release.values["server"] == {"enabled": False}
    assert release.values["images"]["tag"] == "v4.1.2"
    assert release.values["controller"]["workflowNamespaces"] == ["research"]
    mirror = "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"
    mirrored = mirror_release(release, mirror)
    assert outside_mirror(mirrored, mirror) == []
    controller = mirrored.values["controller"]["image"]
    # The chart joins registry and repository only when both are set (_helpers.tpl).
    assert controller == {"registry": "", "repository": f"{mirror}/quay.io/argoproj/workflow-controller"}


def test_kueue_pod_integration_keeps_the_rest_and_spares_system_namespaces() -> None:
    base = kueue_configuration()
    config = kueue_pod_integration(base)
    assert config["integrations"]["frameworks"] == [*base["integrations"]["frameworks"], "pod"]
    selector = config["managedJobsNamespaceSelector"]["matchExpressions"][0]
    assert selector["operator"] == "NotIn" and {"kube-system", "kueue-system", "argo"} <= set(selector["values"])
    assert {k: v for k, v in config.items() if k not in ("integrations", "managedJobsNamespaceSelector")} == {
        k: v for k, v in base.items() if k != "integrations"
    }
    assert kueue_pod_integration(config) == config


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_new_data_script_passes_shellcheck() -> None:
    path = SCRIPTS / NEW_DATA_SCRIPT
    subprocess.run(["shellcheck", "-s", "sh", str(path)], check=True)
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_publish_script_passes_ruff() -> None:
    subprocess.run([sys.executable, "-m", "ruff", "check", str(SCRIPTS / PUBLISH_SCRIPT)], check=True)


def _run_new_data(tmp_path: Path, env: dict[str, str]) -> str:
    out = tmp_path / "out" / "found"
    base = {"DATASET_DIR": str(tmp_path / "data"), "MARKER_FILE": str(tmp_path / "ck" / "marker")}
    subprocess.run(
        ["sh", str(SCRIPTS / NEW_DATA_SCRIPT)],
        env={"PATH": "/usr/bin:/bin", **base, "OUTPUT_FILE": str(out), **env},
        check=True,
    )
    return out.read_text() if out.exists() else ""


def test_new_data_script_runs_only_on_data_newer_than_the_marker(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    assert _run_new_data(tmp_path, {}) == "none"
    sample = data / "part-0.jsonl"
    sample.write_text("{}")
    os.utime(sample, (1_700_000_000, 1_700_000_000))
    assert _run_new_data(tmp_path, {}) == "1700000000"
    _run_new_data(tmp_path, {"MARK": "1700000000"})
    assert (tmp_path / "ck" / "marker").read_text() == "1700000000\n"
    assert _run_new_data(tmp_path, {}) == "none"


def test_golden_workflow_template_and_cron_workflows(objects: list[dict[str, Any]]) -> None:
    for kind in ("WorkflowTemplate", "CronWorkflow"):
        text = yaml.safe_dump_all(by_kind(objects, kind), sort_keys=False)
        check_text(GOLDEN / f"chat-ft-{kind.lower()}.yaml", text, __file__)


def test_every_value_is_json_serialisable(objects: list[dict[str, Any]]) -> None:
    json.dumps(objects)


def _issues(cfg: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(cfg)
    return [issue.path for issue in caught.value.issues]


def test_evaluation_queue_of_another_namespace_is_refused() -> None:
    cfg = config(line(evaluation__queue="other"))
    cfg["aifactory:scheduler"]["queues"].append(
        {"name": "other", "namespace": "other", "gpuQuota": 8, "fleets": ["train"]}
    )
    assert "aifactory:production.lines[0].evaluation.queue" in _issues(cfg)


def test_a_registry_the_cycle_cannot_publish_to_is_refused() -> None:
    cfg = config()
    cfg["aifactory:production"]["registry"] = {"kind": "sagemaker", "artifacts": "s3://acme-data/train/models/"}
    assert "aifactory:production.registry.kind" in _issues(cfg)
