"""The in-cluster metrics backend: the chart's values, every image from the mirror, every object strict."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
from aifactory.schedulers.helm_values import DCGM_RELEASE, helm_releases, mirror_release, outside_mirror
from aifactory.schedulers.kubernetes_manifests import kueue_configuration
from aifactory.schedulers.observability_dashboard import PANELS, dashboard
from aifactory.schedulers.observability_rules import (
    KSM_LABEL_ALLOWLIST,
    RECORDED,
    LineMetrics,
    RuleInputs,
    rule_groups,
)
from aifactory.schedulers.observability_stack import (
    DASHBOARD_LABEL,
    DCGM_COUNTERS,
    KPS_IMAGES,
    KPS_RELEASE,
    KUEUE_RELEASE,
    RELEASE_LABEL,
    in_cluster_objects,
    kube_prometheus_stack_release,
    with_cluster_queue_metrics,
    with_metrics_backend,
)
from aifactory.spec.scheduler import ChartVersions

from tests.crd_validation import CrdValidationError, validate_custom_resource

VERSION = "1.35"
MIRROR = "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"
GROUPS = rule_groups(RuleInputs([LineMetrics("chat-ft", 30)], ["block"], 10, 30))


def _objects() -> dict[str, dict[str, Any]]:
    return {obj["kind"]: obj for obj in in_cluster_objects(GROUPS)}


@pytest.mark.parametrize("kind", ["ServiceMonitor", "PrometheusRule"])
def test_custom_objects_validate_against_prometheus_operator_crds(kind: str) -> None:
    validate_custom_resource(_objects()[kind])


def test_a_misspelt_field_fails_the_crd() -> None:
    monitor = _objects()["ServiceMonitor"]
    monitor["spec"]["endpoints"][0]["honourLabels"] = True
    with pytest.raises(CrdValidationError, match="honourLabels"):
        validate_custom_resource(monitor)


@pytest.mark.parametrize("kind", ["ConfigMap", "ClusterRoleBinding"])
def test_core_objects_validate_strictly(kind: str) -> None:
    kubernetes_validate.validate(_objects()[kind], VERSION, strict=True)


def test_the_factorys_objects_carry_the_labels_the_chart_selects() -> None:
    objects = _objects()
    assert objects["ServiceMonitor"]["metadata"]["labels"] == RELEASE_LABEL
    assert objects["PrometheusRule"]["metadata"]["labels"] == RELEASE_LABEL
    assert objects["ConfigMap"]["metadata"]["labels"] == DASHBOARD_LABEL
    release = kube_prometheus_stack_release(ChartVersions(), 15).values
    sidecar = release["grafana"]["sidecar"]["dashboards"]
    assert {sidecar["label"]: sidecar["labelValue"]} == DASHBOARD_LABEL


def test_the_prometheus_rule_holds_the_rule_groups() -> None:
    assert _objects()["PrometheusRule"]["spec"]["groups"] == GROUPS


def test_dcgm_series_keep_the_gpu_pods_labels() -> None:
    endpoint = _objects()["ServiceMonitor"]["spec"]["endpoints"][0]
    assert endpoint["honorLabels"] is True
    assert endpoint["relabelings"][0]["targetLabel"] == "node"


def test_every_image_comes_from_the_mirror() -> None:
    release = kube_prometheus_stack_release(ChartVersions(), 15)
    assert outside_mirror(mirror_release(release, MIRROR), MIRROR) == []


def test_without_the_mirror_every_image_is_upstream() -> None:
    """The negative case: an unmirrored release names the chart repository and every upstream image."""
    escaped = outside_mirror(kube_prometheus_stack_release(ChartVersions(), 15), MIRROR)
    assert set(KPS_IMAGES.values()) <= set(escaped)


def test_mirrored_images_are_set_where_the_chart_reads_them() -> None:
    values = mirror_release(kube_prometheus_stack_release(ChartVersions(), 15), MIRROR).values
    for dotted, upstream in KPS_IMAGES.items():
        node: Any = values
        for key in dotted.split("."):
            node = node[key]
        assert node == {"registry": MIRROR, "repository": upstream}


def test_release_runs_on_the_system_nodes_with_retention_and_the_label_allowlist() -> None:
    values = kube_prometheus_stack_release(ChartVersions(), 21).values
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "21d" and spec["nodeSelector"] == {"aifactory.io/node-role": "system"}
    assert values["kube-state-metrics"]["metricLabelsAllowlist"] == list(KSM_LABEL_ALLOWLIST)
    assert values["nodeExporter"] == {"enabled": False}
    assert values["grafana"]["adminPassword"] == ""


def test_backend_comes_first_and_turns_on_kueue_and_dcgm_metrics() -> None:
    charts = ChartVersions()
    backend = kube_prometheus_stack_release(charts, 15)
    releases = with_metrics_backend(
        helm_releases(charts, kueue_configuration(), "eu-north-1"), backend, kueue_service_monitor=True
    )
    by_name = {r.name: r for r in releases}
    assert releases[0].name == KPS_RELEASE
    assert by_name[KUEUE_RELEASE].values["enablePrometheus"] is True
    assert by_name[DCGM_RELEASE].values["arguments"] == ["-f", DCGM_COUNTERS]


def test_without_the_backend_kueue_and_dcgm_stay_as_they_were() -> None:
    charts = ChartVersions()
    by_name = {r.name: r for r in helm_releases(charts, kueue_configuration(), "eu-north-1")}
    assert "enablePrometheus" not in by_name[KUEUE_RELEASE].values
    assert "arguments" not in by_name[DCGM_RELEASE].values


def test_kueue_exports_cluster_queue_resource_metrics() -> None:
    config = with_cluster_queue_metrics(kueue_configuration())
    assert config["metrics"] == {"bindAddress": ":8443", "enableClusterQueueResources": True}
    assert "enableClusterQueueResources" not in kueue_configuration()["metrics"]


def test_the_dashboard_shows_every_recording_rule_templated_by_line_and_fleet() -> None:
    model = dashboard()
    exprs = " ".join(t["expr"] for p in model["panels"] for t in p["targets"])
    assert all(rule in exprs for rule in RECORDED)
    assert [v["name"] for v in model["templating"]["list"]] == ["line", "fleet"]
    assert len(model["panels"]) == len(PANELS)
    config_map = _objects()["ConfigMap"]
    assert json.loads(next(iter(config_map["data"].values()))) == model
