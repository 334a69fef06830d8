"""Rules for `aifactory:observability`: the metrics backend runs on the EKS cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import ConfigIssue, config_path
from .observability import SOVEREIGN_BACKEND
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


OBSERVABILITY_RULES: tuple[Rule, ...] = (observability_needs_kubernetes, sovereign_metrics_stay_in_cluster)
