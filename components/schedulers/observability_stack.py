"""The in-cluster metrics backend: kube-prometheus-stack and the objects it reads (pure: no Pulumi).

Chart: `kube-prometheus-stack` in https://prometheus-community.github.io/helm-charts, pinned to
`ChartVersions.kube_prometheus_stack` (81.4.5: Chart.yaml appVersion v0.88.0, the prometheus-operator
release whose CRDs it installs). The objects here use only fields that prometheus-operator v0.88.0 and
v0.93.0 both serve, and are validated against the v0.93.0 CRDs (tests/fixtures/crds). Value keys are
from the chart's values.yaml and its grafana and kube-state-metrics dependencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..spec.scheduler import ChartVersions
from .helm_values import DCGM_NAMESPACE, DCGM_RELEASE, SYSTEM_NODE_LABEL, HelmRelease
from .kubernetes_manifests import Manifest
from .observability_dashboard import DASHBOARD_UID, dashboard_json
from .observability_rules import KSM_LABEL_ALLOWLIST

MONITORING_NAMESPACE = "monitoring"
KPS_RELEASE = "kube-prometheus-stack"
KPS_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
MONITORING_API = "monitoring.coreos.com/v1"
RELEASE_LABEL = {"release": KPS_RELEASE}
"""The label the chart's Prometheus selects ServiceMonitors and PrometheusRules by (its
`*SelectorNilUsesHelmValues` defaults); the factory's own objects carry it."""
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
"""kube-prometheus-stack values.yaml `grafana.sidecar.dashboards.label`/`labelValue`."""
PROMETHEUS_SERVICE_ACCOUNT = f"{KPS_RELEASE}-prometheus"
"""The chart's Prometheus service account (`<fullname>-prometheus`, fullname pinned below)."""
PROMETHEUS_URL = f"http://{KPS_RELEASE}-prometheus.{MONITORING_NAMESPACE}:9090"
GRAFANA_SERVICE = f"{KPS_RELEASE}-grafana"

KSM_IMAGE = "registry.k8s.io/kube-state-metrics/kube-state-metrics"
"""kube-state-metrics' image (its chart's values.yaml `image.registry` + `image.repository`), in
kube-prometheus-stack under `kube-state-metrics.image`, standalone under `image`."""

# Every image the enabled parts pull, as `<path>.registry` + `<path>.repository` (the chart's split form),
# with the upstream `host/repository`: kube-prometheus-stack values.yaml (alertmanager.alertmanagerSpec.image,
# prometheusOperator.image, .prometheusConfigReloader.image, .thanosImage, .admissionWebhooks.patch.image and
# .deployment.image, prometheus.prometheusSpec.image; read at a stored values.yaml whose exact chart version
# is not recorded, with the same keys), grafana's values.yaml (image, sidecar.image) and kube-state-metrics'
# (image). Tags stay the chart's defaults: the chart version pins them.
KPS_IMAGES = {
    "alertmanager.alertmanagerSpec.image": "quay.io/prometheus/alertmanager",
    "prometheusOperator.image": "quay.io/prometheus-operator/prometheus-operator",
    "prometheusOperator.prometheusConfigReloader.image": "quay.io/prometheus-operator/prometheus-config-reloader",
    "prometheusOperator.thanosImage": "quay.io/thanos/thanos",
    "prometheusOperator.admissionWebhooks.patch.image": "registry.k8s.io/ingress-nginx/kube-webhook-certgen",
    # Off by default (`admissionWebhooks.deployment.enabled: false`), mirrored so turning it on stays in-region.
    "prometheusOperator.admissionWebhooks.deployment.image": "quay.io/prometheus-operator/admission-webhook",
    "prometheus.prometheusSpec.image": "quay.io/prometheus/prometheus",
    "grafana.image": "docker.io/grafana/grafana",
    "grafana.sidecar.image": "quay.io/kiwigrid/k8s-sidecar",
    "kube-state-metrics.image": KSM_IMAGE,
}

_ON_SYSTEM_NODES = {"nodeSelector": SYSTEM_NODE_LABEL}

PROMETHEUS_EMPTY_DIR_GIB = 20
"""The TSDB's emptyDir limit on a system node's 50 GiB root volume, which also holds the images and the controllers'
logs. A pod whose emptyDir outgrows its `sizeLimit` is evicted alone (Kubernetes docs, "Local ephemeral storage");
without the limit a growing TSDB would bring DiskPressure on the node and evict Kueue, JobSet and CoreDNS with it."""
PROMETHEUS_RETENTION_SIZE = "16GB"
"""Below the emptyDir limit, so Prometheus deletes its oldest blocks before the kubelet evicts it. Prometheus
storage docs, `--storage.tsdb.retention.size`: powers of two ("1KB is 1024B"), only persistent blocks are deleted
but the WAL and memory-mapped chunks count toward it, "so the total size of the storage can exceed" the limit
briefly; 16 GiB of 20 leaves that room."""


def kube_prometheus_stack_release(charts: ChartVersions, retention_days: int) -> HelmRelease:
    """Prometheus, Alertmanager, Grafana, the operator and kube-state-metrics on the system nodes.

    Off: node-exporter (a DaemonSet on every GPU node for host metrics the rules do not read), the
    Windows exporter, the scrapes of control-plane parts EKS runs for the cluster (controller manager,
    scheduler, etcd) and of kube-proxy (its metrics listen on 127.0.0.1 on EKS nodes), the CRD upgrade
    job (pulls `busybox:latest`), Grafana's test pod and default dashboards that read node-exporter.
    Alertmanager routes every alert to its `null` receiver (the chart's default route): a no-egress
    factory reaches no mail or paging service; alerts show in Alertmanager's and Grafana's alert views.
    Prometheus keeps `retention_days`, or `PROMETHEUS_RETENTION_SIZE` when that comes first, on a bounded
    emptyDir: the factory installs no EBS CSI driver, so the TSDB lives as long as the Prometheus pod.
    """
    prometheus_spec: dict[str, Any] = {
        **_ON_SYSTEM_NODES,
        "retention": f"{retention_days}d",
        "retentionSize": PROMETHEUS_RETENTION_SIZE,
        "storageSpec": {"emptyDir": {"sizeLimit": f"{PROMETHEUS_EMPTY_DIR_GIB}Gi"}},
        # Select every ServiceMonitor and PrometheusRule, not only this release's (the Kueue chart's
        # ServiceMonitor carries Kueue's labels).
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
    }
    return HelmRelease(
        KPS_RELEASE,
        MONITORING_NAMESPACE,
        "kube-prometheus-stack",
        charts.kube_prometheus_stack,
        KPS_REPOSITORY,
        {
            "fullnameOverride": KPS_RELEASE,
            "crds": {"enabled": True, "upgradeJob": {"enabled": False}},
            "nodeExporter": {"enabled": False},
            "windowsMonitoring": {"enabled": False},
            "kubeControllerManager": {"enabled": False},
            "kubeScheduler": {"enabled": False},
            "kubeEtcd": {"enabled": False},
            "kubeProxy": {"enabled": False},
            "defaultRules": {
                "rules": {
                    "etcd": False,
                    "kubeControllerManager": False,
                    "kubeSchedulerAlerting": False,
                    "kubeSchedulerRecording": False,
                    "kubeProxy": False,
                    "nodeExporterAlerting": False,
                    "nodeExporterRecording": False,
                    "node": False,
                    "windows": False,
                }
            },
            "prometheusOperator": {
                **_ON_SYSTEM_NODES,
                "admissionWebhooks": {"patch": _ON_SYSTEM_NODES},
            },
            "prometheus": {"prometheusSpec": prometheus_spec},
            "alertmanager": {"alertmanagerSpec": _ON_SYSTEM_NODES},
            "grafana": {
                **_ON_SYSTEM_NODES,
                "testFramework": {"enabled": False},
                "defaultDashboardsEnabled": False,
                # Empty makes the grafana chart generate a password into its admin Secret, as 81.x does by
                # default; stated so that a pin below 79 does not fall back to the well-known `prom-operator`
                # (kube-prometheus-stack UPGRADE.md, "From 78.x to 79.x").
                "adminPassword": "",
                "sidecar": {"dashboards": {"enabled": True, **_dashboard_label()}},
            },
            "kube-state-metrics": {**_ON_SYSTEM_NODES, "metricLabelsAllowlist": list(KSM_LABEL_ALLOWLIST)},
        },
        {},
        split_images=dict(KPS_IMAGES),
    )


def _dashboard_label() -> dict[str, str]:
    ((label, value),) = DASHBOARD_LABEL.items()
    return {"label": label, "labelValue": value}


def dcgm_service_monitor() -> Manifest:
    """Scrapes the DCGM exporter's Service (port `metrics`, 9400, dcgm-exporter chart deployment/values.yaml).

    `honorLabels`: the exporter's own `namespace`/`pod`/`container` labels name the pod holding each GPU and
    must win over the target's (the exporter pod's). `node` is the exporter pod's node, which the rules
    aggregate by."""
    return {
        "apiVersion": MONITORING_API,
        "kind": "ServiceMonitor",
        "metadata": {"name": "dcgm-exporter", "namespace": MONITORING_NAMESPACE, "labels": dict(RELEASE_LABEL)},
        "spec": {
            "namespaceSelector": {"matchNames": [DCGM_NAMESPACE]},
            "selector": {"matchLabels": {"app.kubernetes.io/name": "dcgm-exporter"}},
            "endpoints": [
                {
                    "port": "metrics",
                    "path": "/metrics",
                    "interval": "30s",
                    "honorLabels": True,
                    "relabelings": [
                        {
                            "action": "replace",
                            "sourceLabels": ["__meta_kubernetes_pod_node_name"],
                            "targetLabel": "node",
                        }
                    ],
                }
            ],
        },
    }


def prometheus_rule(groups: Sequence[dict[str, Any]]) -> Manifest:
    """The factory's rule groups for the chart's Prometheus."""
    return {
        "apiVersion": MONITORING_API,
        "kind": "PrometheusRule",
        "metadata": {"name": "aifactory", "namespace": MONITORING_NAMESPACE, "labels": dict(RELEASE_LABEL)},
        "spec": {"groups": [dict(g) for g in groups]},
    }


def dashboard_config_map() -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": DASHBOARD_UID, "namespace": MONITORING_NAMESPACE, "labels": dict(DASHBOARD_LABEL)},
        "data": {f"{DASHBOARD_UID}.json": dashboard_json()},
    }


def kueue_metrics_reader_binding() -> Manifest:
    """Lets the chart's Prometheus read Kueue's authenticated `/metrics` (HTTPS 8443): Kueue's
    `kueue-metrics-reader` ClusterRole, which Kueue leaves unbound (the Kueue chart's own RoleBinding names
    kube-prometheus's `prometheus-k8s`, charts/kueue/templates/prometheus/role.yaml)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "kueue-metrics-reader-prometheus"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kueue-metrics-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": PROMETHEUS_SERVICE_ACCOUNT, "namespace": MONITORING_NAMESPACE}],
    }


def in_cluster_objects(groups: Sequence[dict[str, Any]]) -> list[Manifest]:
    """What the in-cluster backend applies after the chart (which installs the CRDs)."""
    return [
        dcgm_service_monitor(),
        prometheus_rule(groups),
        dashboard_config_map(),
        kueue_metrics_reader_binding(),
    ]


KUEUE_RELEASE = "kueue"
DCGM_COUNTERS = "/etc/dcgm-exporter/dcp-metrics-included.csv"
"""The exporter image's counter file with `DCGM_FI_PROF_GR_ENGINE_ACTIVE` (NVIDIA/dcgm-exporter etc/README.md:
container images ship all of `etc/` to `/etc/dcgm-exporter/`; the image's `default-counters.csv` lacks it, and
the chart's ConfigMap mounted over that file has it at 4.8.3 but is a chart default the factory does not pin;
chart `arguments` render to the container's args, `-f` is the exporter's collectors-file flag)."""


def with_cluster_queue_metrics(kueue_config: Manifest) -> Manifest:
    """Kueue's configuration with the ClusterQueue resource metrics on: `kueue_cluster_queue_resource_usage`
    and `_nominal_quota` exist only with `metrics.enableClusterQueueResources` (Kueue docs reference/metrics,
    "Optional metrics")."""
    return {**kueue_config, "metrics": {**kueue_config["metrics"], "enableClusterQueueResources": True}}


def with_metrics_backend(
    releases: Sequence[HelmRelease], backend: HelmRelease, *, kueue_service_monitor: bool
) -> list[HelmRelease]:
    """The backend's release first (kube-prometheus-stack's CRDs come before any ServiceMonitor), the DCGM
    exporter with the profiling counters (the chart's `arguments`, passed to the exporter) and, for an
    in-cluster Prometheus, Kueue with its chart's ServiceMonitor (`enablePrometheus`,
    charts/kueue/templates/prometheus/monitor.yaml)."""
    changed: list[HelmRelease] = [backend]
    for release in releases:
        values = dict(release.values)
        if release.name == KUEUE_RELEASE and kueue_service_monitor:
            values["enablePrometheus"] = True
        if release.name == DCGM_RELEASE:
            values["arguments"] = ["-f", DCGM_COUNTERS]
        changed.append(replace(release, values=values))
    return changed
