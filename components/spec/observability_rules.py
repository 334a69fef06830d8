"""Rules for `aifactory:observability`: the metrics backend runs on the EKS cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import ConfigIssue, config_path, warning
from .observability import RETENTION_DAYS, SOVEREIGN_BACKEND, resolved_backend
from .rules import Rule
from .scheduler import KubernetesScheduler

if TYPE_CHECKING:
    from .model import FactorySpec


def observability_needs_kubernetes(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """kube-prometheus-stack, its ServiceMonitors and PrometheusRules are Kubernetes objects, and the
    metrics they read (DCGM exporter, Kueue, kube-state-metrics) exist only on the EKS cluster."""
    if spec.observability is not None and not isinstance(spec.scheduler, KubernetesScheduler):
        yield ConfigIssue(
            config_path("observability"),
            "the metrics backend scrapes the EKS cluster (DCGM exporter, Kueue, kube-state-metrics), and the "
            "scheduler is not `kubernetes`",
            "set `aifactory:scheduler.kind: kubernetes`, or remove `aifactory:observability`",
        )


def sovereign_metrics_stay_in_cluster(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """A sovereign stack's metrics stay in its VPC: the managed backend writes them to Amazon Managed
    Service for Prometheus, a regional service the sovereign profile keeps out (`SOVEREIGN_BACKEND`)."""
    config = spec.observability
    if config is not None and spec.sovereign and config.backend == "managed":
        yield ConfigIssue(
            config_path("observability", "backend"),
            "a sovereign stack keeps its metrics in the cluster, and `managed` sends them to Amazon Managed "
            "Service for Prometheus",
            f"set `backend: {SOVEREIGN_BACKEND}` or remove the key (sovereign stacks default to it)",
        )


def retention_within_backend_limit(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """`retentionDays` at most the backend's maximum (`RETENTION_DAYS`): AMP refuses a workspace retention
    above 1095 days (UpdateWorkspaceConfiguration), and a year bounds the in-cluster Prometheus."""
    config = spec.observability
    if config is None or config.retention_days is None:
        return
    backend = resolved_backend(config, spec.sovereign)
    maximum = RETENTION_DAYS[backend][1]
    if config.retention_days > maximum:
        yield ConfigIssue(
            config_path("observability", "retentionDays"),
            f"{config.retention_days} days is more than the `{backend}` backend keeps (at most {maximum})",
            f"set `retentionDays` to at most {maximum}",
        )


def alert_emails_need_the_managed_backend(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Mail leaves through the managed backend's SNS topic. The in-cluster Alertmanager gets no receiver: a
    sovereign or no-egress factory reaches no mail service, and its alerts stay in Alertmanager and Grafana."""
    config = spec.observability
    if config is None or not config.alert_emails:
        return
    backend = resolved_backend(config, spec.sovereign)
    if backend != "managed":
        yield ConfigIssue(
            config_path("observability", "alertEmails"),
            "alerts are mailed through the managed backend's SNS topic, and this stack's backend is `in-cluster`, "
            "whose Alertmanager sends nothing out of the cluster",
            "remove `alertEmails` (read alerts in Alertmanager or Grafana), or set `backend: managed` on a "
            "commercial stack",
        )


def managed_backend_collects_no_queue_metrics(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """A warning, not an error: the managed collector cannot scrape Kueue (its metrics are served over HTTPS with
    authentication the collector's configuration cannot meet, `schedulers/observability_managed.py`), so quota
    use, admission wait and evictions stay empty in the workspace while the GPU, restart and goodput rules work."""
    config = spec.observability
    # A sovereign stack asking for `managed` is refused already (`sovereign_metrics_stay_in_cluster`).
    if config is None or spec.sovereign or not isinstance(spec.scheduler, KubernetesScheduler):
        return
    if resolved_backend(config, spec.sovereign) == "managed":
        yield warning(
            config_path("observability", "backend"),
            "the managed backend records no Kueue metrics: quota use, admission wait and evictions stay empty "
            "(GPU activity, restarts and goodput are recorded)",
            "set `backend: in-cluster` for every series, or keep `managed` and read queue state with "
            "`kubectl get clusterqueues`",
        )


OBSERVABILITY_RULES: tuple[Rule, ...] = (
    observability_needs_kubernetes,
    sovereign_metrics_stay_in_cluster,
    retention_within_backend_limit,
    alert_emails_need_the_managed_backend,
    managed_backend_collects_no_queue_metrics,
)
