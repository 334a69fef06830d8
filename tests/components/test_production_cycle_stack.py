"""The cluster stack applies the production lines' cycles: the pinned Argo Workflows release, Kueue's pod
integration, and per line the WorkflowTemplate, CronWorkflows and RBAC after the release; `render` writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.cli.planrun import PlanResult, plan_stack
from aifactory.cli.render import production_cycle_files
from aifactory.spec.loading import read_stack_config

from tests.crd_validation import validate_custom_resource
from tests.stackfiles import MLFLOW_IMAGE, production_line, write_stack

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "kubernetes:helm.sh/v3:Release"
LINE = production_line(
    dataset="s3://aifactory-commercial-us-datasets/train/chat/",
    fleet="ondemand",
    queue="research",
    trigger={"schedule": "0 3 * * *", "onNewData": True},
)


def with_production(config: dict[str, Any]) -> dict[str, Any]:
    return {
        **config,
        "aifactory:production": {
            "registry": {
                "kind": "mlflow",
                "image": MLFLOW_IMAGE,
                "artifacts": "s3://aifactory-commercial-us-datasets/checkpoints/models/",
            },
            "lines": [LINE],
        },
    }


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> PlanResult:
    config = with_production(read_stack_config(ROOT / "stacks" / "Pulumi.commercial-us.yaml"))
    return plan_stack(str(write_stack(tmp_path_factory.mktemp("stack"), "commercial-us", config)))


def test_cluster_stack_registers_the_cycle_after_the_argo_release(planned: PlanResult) -> None:
    cluster = planned.stacks["aifactory-cluster"]
    releases = {r.inputs["name"]: r for r in cluster if r.type == RELEASE}
    argo = releases["argo-workflows"]
    assert (argo.inputs["chart"], argo.inputs["version"]) == ("argo-workflows", "2.0.1")
    kueue = yaml.safe_load(releases["kueue"].inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert "pod" in kueue["integrations"]["frameworks"]
    kinds = {
        (r.inputs["kind"], r.inputs["metadata"]["name"]): r
        for r in cluster
        if r.type.startswith("kubernetes:argoproj.io")
    }
    assert set(kinds) == {
        ("WorkflowTemplate", "chat-ft-cycle"),
        ("CronWorkflow", "chat-ft-cycle"),
        ("CronWorkflow", "chat-ft-new-data"),
    }
    for resource in kinds.values():
        validate_custom_resource(resource.inputs)
    assert not [r for r in planned.stacks["aifactory"] if r.type.startswith("kubernetes:")]


def test_without_production_there_is_no_argo(planned: PlanResult) -> None:
    plain = plan_stack("trn2-us")  # a Kubernetes factory without production lines
    names = {r.inputs["name"] for r in plain.stacks["aifactory-cluster"] if r.type == RELEASE}
    assert "argo-workflows" not in names


def test_render_writes_one_file_per_line(planned: PlanResult) -> None:
    files = production_cycle_files(planned)
    assert set(files) == {"production/chat-ft/cycle.yaml"}
    documents = list(yaml.safe_load_all(files["production/chat-ft/cycle.yaml"]))
    assert {d["kind"] for d in documents} >= {"WorkflowTemplate", "CronWorkflow", "ServiceAccount", "Role"}
