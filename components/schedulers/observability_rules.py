"""The factory's Prometheus rule groups: recording rules and alerts (pure: no Pulumi).

One set of groups for every backend: the in-cluster backend wraps them in a `PrometheusRule`
(`observability_stack.py`), a rule file (`rule_file`) is what `promtool check rules` reads and what
`aifactory render` writes.

Where each input series comes from:
- `DCGM_FI_PROF_GR_ENGINE_ACTIVE` (ratio of time the graphics engine is active, 0-1): NVIDIA dcgm-exporter
  `etc/dcp-metrics-included.csv`, not in the image's `default-counters.csv` (both @4.8.x; the chart's own
  metrics ConfigMap, mounted over that file, does enable it), so the exporter runs with
  `-f /etc/dcgm-exporter/dcp-metrics-included.csv` (`helm_values`), whatever the chart mounts. Its
  `namespace`/`pod` labels name the pod holding the GPU (kubelet pod-resources); the scrape adds `node` from
  the pod's node.
- `kube_pod_labels`, `kube_node_labels`, `kube_node_status_condition`, `kube_pod_status_phase`:
  kube-state-metrics; pod and node labels appear as `label_<sanitized key>` only for the keys in
  `--metric-labels-allowlist` (`KSM_LABEL_ALLOWLIST`).
- `kueue_cluster_queue_resource_usage` / `kueue_cluster_queue_nominal_quota` (only with
  `metrics.enableClusterQueueResources`), `kueue_admission_wait_time_seconds`, `kueue_evicted_workloads_total`:
  kubernetes-sigs/kueue site/content/en/docs/reference/metrics.md.
- The line's training pods carry `aifactory.io/line` (`training_manifests.cluster_training_runtime`) and
  JobSet's `jobset.sigs.k8s.io/jobset-name` and `jobset.sigs.k8s.io/restart-attempt` labels (JobSet
  pkg/constants: "an annotation and label key which defines the restart attempt number").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..catalog.node_repair import NODE_CONDITIONS
from .kubernetes_manifests import FLEET_LABEL, LINE_LABEL

JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
RESTART_ATTEMPT_LABEL = "jobset.sigs.k8s.io/restart-attempt"

ACCELERATOR_RESOURCES: tuple[str, ...] = ("nvidia.com/gpu", "aws.amazon.com/neuron")
"""The quota resources the Kueue ClusterQueues count (the device plugins' resource names)."""

KSM_LABEL_ALLOWLIST: tuple[str, ...] = (
    f"pods=[{LINE_LABEL},{JOBSET_NAME_LABEL},{RESTART_ATTEMPT_LABEL}]",
    f"nodes=[{FLEET_LABEL}]",
)
"""kube-state-metrics `--metric-labels-allowlist`: the pod and node labels the rules join on."""

NODE_HEALTH_FOR = "5m"
"""How long a node health condition must be false before the alert fires: longer than a probe blip,
shorter than EKS's 10-minute wait before node auto repair acts on `AcceleratedHardwareReady`."""

RULES_INTERVAL = "1m"
GOODPUT_WINDOW = "1h"
GOODPUT_WINDOW_SECONDS = 3600


def _label(key: str) -> str:
    """kube-state-metrics' label name for a Kubernetes label key: `label_` and every non-alphanumeric
    character as `_` (`aifactory.io/line` -> `label_aifactory_io_line`)."""
    return "label_" + "".join(c if c.isalnum() else "_" for c in key)


LINE = _label(LINE_LABEL)
FLEET = _label(FLEET_LABEL)
JOBSET = _label(JOBSET_NAME_LABEL)
ATTEMPT = _label(RESTART_ATTEMPT_LABEL)


@dataclass(frozen=True)
class LineMetrics:
    """What the goodput of one production line needs: its name and checkpoint interval."""

    name: str
    checkpoint_interval_minutes: int


@dataclass(frozen=True)
class RuleInputs:
    lines: Sequence[LineMetrics]
    reserved_fleets: Sequence[str]
    """Fleets on capacity reservations or capacity blocks: paid whether used or not."""
    idle_utilization_percent: int
    idle_minutes: int


# Recording rule names (level:metric:operations, Prometheus docs "Recording rules" naming).
NODE_FLEET = "aifactory:node_fleet:info"
POD_LINE = "aifactory:pod_line:info"
POD_ATTEMPT = "aifactory:pod_restart_attempt:info"
GPU_NODE = "node:aifactory_gpu_engine_active:avg"
GPU_FLEET = "fleet:aifactory_gpu_engine_active:avg"
GPU_LINE = "line:aifactory_gpu_engine_active:avg"
QUOTA_USED = "cluster_queue:aifactory_accelerator_quota_used:ratio"
ADMISSION_WAIT_P90 = "cluster_queue:kueue_admission_wait_time_seconds:p90_1h"
EVICTIONS = "cluster_queue:kueue_evicted_workloads:increase1h"
LINE_RUNNING = "line:aifactory_training_running:bool"
LINE_RESTARTS = "line:aifactory_training_restarts:increase1h"
LINE_CHECKPOINT = "line:aifactory_checkpoint_interval_seconds:const"
LINE_RUN_SECONDS = "line:aifactory_training_seconds:sum1h"
LINE_LOST_SECONDS = "line:aifactory_training_lost_seconds:sum1h"
LINE_GOODPUT = "line:aifactory_goodput:ratio1h"

RECORDED: tuple[str, ...] = (
    GPU_NODE,
    GPU_FLEET,
    GPU_LINE,
    QUOTA_USED,
    ADMISSION_WAIT_P90,
    EVICTIONS,
    LINE_RESTARTS,
    LINE_GOODPUT,
)
"""The recording rules the dashboard and the line READMEs show."""


def _relabel(expr: str, target: str, source: str) -> str:
    return f'label_replace({expr}, "{target}", "$1", "{source}", "(.+)")'


def _joins() -> list[dict[str, Any]]:
    """One series per node/pod carrying the factory's own labels, for `group_left` joins."""
    pod_line = _relabel(f'kube_pod_labels{{{LINE}!=""}}', "line", LINE)
    # Training pods only: a TrainJob's pods belong to its JobSet, a line's serving (LeaderWorkerSet) and
    # cycle (Argo) pods to none.
    training = _relabel(f'kube_pod_labels{{{LINE}!="", {JOBSET}!=""}}', "line", LINE)
    attempt = _relabel(_relabel(training, "jobset", JOBSET), "attempt", ATTEMPT)
    node_fleet = _relabel(f'kube_node_labels{{{FLEET}!=""}}', "fleet", FLEET)
    return [
        {"record": NODE_FLEET, "expr": f"max by (node, fleet) ({node_fleet})"},
        {"record": POD_LINE, "expr": f"max by (namespace, pod, line) ({pod_line})"},
        {"record": POD_ATTEMPT, "expr": f"max by (namespace, pod, line, jobset, attempt) ({attempt})"},
    ]


def _utilization() -> list[dict[str, Any]]:
    return [
        {"record": GPU_NODE, "expr": "avg by (node) (DCGM_FI_PROF_GR_ENGINE_ACTIVE)"},
        {"record": GPU_FLEET, "expr": f"avg by (fleet) ({GPU_NODE} * on (node) group_left (fleet) {NODE_FLEET})"},
        {
            "record": GPU_LINE,
            "expr": 'avg by (line) (DCGM_FI_PROF_GR_ENGINE_ACTIVE{pod!=""}'
            f" * on (namespace, pod) group_left (line) {POD_LINE})",
        },
    ]


def _queues() -> list[dict[str, Any]]:
    resources = "|".join(r.replace(".", "\\\\.") for r in ACCELERATOR_RESOURCES)
    selector = f'{{resource=~"{resources}"}}'
    return [
        {
            "record": QUOTA_USED,
            "expr": f"sum by (cluster_queue) (kueue_cluster_queue_resource_usage{selector})"
            f" / sum by (cluster_queue) (kueue_cluster_queue_nominal_quota{selector} > 0)",
        },
        {
            "record": ADMISSION_WAIT_P90,
            "expr": "histogram_quantile(0.9, sum by (cluster_queue, le) "
            "(rate(kueue_admission_wait_time_seconds_bucket[1h])))",
        },
        {"record": EVICTIONS, "expr": "sum by (cluster_queue, reason) (increase(kueue_evicted_workloads_total[1h]))"},
    ]


def _goodput(lines: Sequence[LineMetrics]) -> list[dict[str, Any]]:
    """Goodput of a line over the last hour: the share of its training time that is kept.

        run  = seconds of the window in which any training pod (of the line's TrainJob JobSets) was Running
        lost = restarts in the window x the line's checkpoint interval
        goodput = clamp_min(run - lost, 0) / run

    A JobSet restart (node or pod failure) recreates every pod with the next `restart-attempt`, and the
    run resumes from the last checkpoint: the work since it, at most one checkpoint interval, is lost
    (an upper bound, so goodput is a lower bound). Restarts are counted as the (jobset, attempt) pairs
    seen in the window beyond each JobSet's first. Scheduling a restarted gang again is time the line
    is not Running, so neither term counts it."""
    training = f"max by (namespace, pod, line) ({POD_ATTEMPT})"
    running = f'kube_pod_status_phase{{phase="Running"}} * on (namespace, pod) group_left (line) {training}'
    seen = f"max_over_time({POD_ATTEMPT}[{GOODPUT_WINDOW}])"
    rules: list[dict[str, Any]] = [
        {"record": LINE_RUNNING, "expr": f"max by (line) ({running}) > bool 0"},
        {
            "record": LINE_RESTARTS,
            "expr": f"count by (line) (count by (line, jobset, attempt) ({seen}))"
            f" - count by (line) (count by (line, jobset) ({seen}))",
        },
    ]
    rules += [
        {
            "record": LINE_CHECKPOINT,
            "expr": f"vector({line.checkpoint_interval_minutes * 60})",
            "labels": {"line": line.name},
        }
        for line in lines
    ]
    no_loss = f"{LINE_RUN_SECONDS} * 0"
    rules += [
        {
            # The running fraction of the window's one-minute steps times its seconds: the same on
            # Prometheus 2 (subquery range closed on both ends) and 3 (open on the left).
            "record": LINE_RUN_SECONDS,
            "expr": f"avg_over_time({LINE_RUNNING}[{GOODPUT_WINDOW}:{RULES_INTERVAL}]) * {GOODPUT_WINDOW_SECONDS}",
        },
        {"record": LINE_LOST_SECONDS, "expr": f"{LINE_RESTARTS} * on (line) {LINE_CHECKPOINT}"},
        {
            "record": LINE_GOODPUT,
            "expr": f"clamp_min({LINE_RUN_SECONDS} - on (line) ({LINE_LOST_SECONDS} or on (line) {no_loss}), 0)"
            f" / on (line) ({LINE_RUN_SECONDS} > 0)",
        },
    ]
    return rules


def _alerts(inputs: RuleInputs) -> list[dict[str, Any]]:
    conditions = "|".join(NODE_CONDITIONS)
    alerts: list[dict[str, Any]] = [
        {
            "alert": "AifactoryNodeHealthCheckFailing",
            "expr": f'kube_node_status_condition{{condition=~"{conditions}",status="false"}} == 1',
            "for": NODE_HEALTH_FOR,
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "Node {{ $labels.node }} fails the EKS node health check {{ $labels.condition }}",
                "description": "The EKS node monitoring agent reports {{ $labels.condition }}=False on "
                "{{ $labels.node }}: `kubectl describe node {{ $labels.node }}` names the issue.",
            },
        }
    ]
    if inputs.reserved_fleets:
        fleets = "|".join(inputs.reserved_fleets)
        threshold = inputs.idle_utilization_percent / 100
        alerts.append(
            {
                "alert": "AifactoryReservedGpusIdle",
                "expr": f'{GPU_FLEET}{{fleet=~"{fleets}"}} < {threshold:g}',
                "for": f"{inputs.idle_minutes}m",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": "Reserved fleet {{ $labels.fleet }} is idle",
                    "description": f"The reserved GPUs of fleet {{{{ $labels.fleet }}}} were below "
                    f"{inputs.idle_utilization_percent}% graphics-engine activity for {inputs.idle_minutes} "
                    "minutes; they are paid whether used or not.",
                },
            }
        )
    return alerts


def rule_groups(inputs: RuleInputs) -> list[dict[str, Any]]:
    """The factory's rule groups, in the shape of a Prometheus rule file's `groups`."""
    return [
        {"name": "aifactory-joins", "interval": RULES_INTERVAL, "rules": _joins()},
        {"name": "aifactory-utilization", "interval": RULES_INTERVAL, "rules": _utilization()},
        {"name": "aifactory-queues", "interval": RULES_INTERVAL, "rules": _queues()},
        {"name": "aifactory-goodput", "interval": RULES_INTERVAL, "rules": _goodput(inputs.lines)},
        {"name": "aifactory-alerts", "interval": RULES_INTERVAL, "rules": _alerts(inputs)},
    ]


def rule_file(groups: Sequence[dict[str, Any]]) -> str:
    """A Prometheus rule file (`promtool check rules` reads it)."""
    return yaml.safe_dump({"groups": list(groups)}, sort_keys=False, width=1000)
