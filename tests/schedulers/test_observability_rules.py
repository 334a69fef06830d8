"""The factory's rule groups: their shape, and Prometheus's own `promtool` judging them.

`promtool check rules` parses every expression; `promtool test rules` evaluates them over synthetic
series: each alert fires on a breaking series and stays quiet on a healthy one, and the goodput rules
give the number their formula gives. promtool comes from Debian's `prometheus` package
(`tools/install_slurm.sh` installs it); without it these tests skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.catalog.node_repair import NODE_CONDITIONS
from aifactory.schedulers.observability_rules import (
    GPU_FLEET,
    GPU_LINE,
    LINE_GOODPUT,
    LINE_RESTARTS,
    LINE_RUN_SECONDS,
    QUOTA_USED,
    LineMetrics,
    RuleInputs,
    rule_file,
    rule_groups,
)

INPUTS = RuleInputs(
    lines=[LineMetrics("chat-ft", 15)], reserved_fleets=["block"], idle_utilization_percent=10, idle_minutes=30
)
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")


def _alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def test_node_health_alert_names_every_agent_condition() -> None:
    expr = _alerts(rule_groups(INPUTS))["AifactoryNodeHealthCheckFailing"]["expr"]
    assert all(condition in expr for condition in NODE_CONDITIONS)


def test_no_idle_alert_without_reserved_fleets() -> None:
    groups = rule_groups(RuleInputs(lines=[], reserved_fleets=[], idle_utilization_percent=10, idle_minutes=30))
    assert "AifactoryReservedGpusIdle" not in _alerts(groups)


def test_idle_alert_takes_the_thresholds() -> None:
    alert = _alerts(rule_groups(INPUTS))["AifactoryReservedGpusIdle"]
    assert alert["for"] == "30m" and alert["expr"].endswith("< 0.1") and 'fleet=~"block"' in alert["expr"]


def test_one_checkpoint_interval_series_per_line() -> None:
    groups = rule_groups(RuleInputs([LineMetrics("a", 15), LineMetrics("b", 60)], [], 10, 30))
    constants = [r for g in groups for r in g["rules"] if r.get("labels", {}).get("line")]
    assert [(r["labels"]["line"], r["expr"]) for r in constants] == [("a", "vector(900)"), ("b", "vector(3600)")]


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, check=False)


@needs_promtool
def test_promtool_checks_the_rule_file(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(rule_file(rule_groups(INPUTS)))
    result = _promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    groups = rule_groups(INPUTS)
    groups[0]["rules"][0]["expr"] = "sum by (node) ("
    (tmp_path / "rules.yaml").write_text(rule_file(groups))
    assert _promtool("check", "rules", "rules.yaml", cwd=tmp_path).returncode != 0


def _pod(pod: str, attempt: str) -> dict[str, str]:
    return {
        "namespace": "product",
        "pod": pod,
        "label_aifactory_io_line": "chat-ft",
        "label_jobset_sigs_k8s_io_jobset_name": "chat-ft-x1",
        "label_jobset_sigs_k8s_io_restart_attempt": attempt,
    }


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def _sample(name: str, labels: dict[str, str], value: float) -> dict[str, Any]:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"labels": f"{name}{{{inner}}}", "value": value}


def _expect(expr: str, eval_time: str, labels: dict[str, str], value: float, name: str | None = None) -> dict[str, Any]:
    """A `promql_expr_test` case: `expr` at `eval_time` is exactly one sample (of `name`, default the expression)."""
    return {"expr": expr, "eval_time": eval_time, "exp_samples": [_sample(name or expr, labels, value)]}


# Two hours of minutes. Pod a (restart attempt 0) runs 0-59m; the JobSet restarts it and pod b
# (attempt 1) runs from 60m. Node n1 (reserved fleet `block`) idles at 5 %; n2 (`block`) is never
# idle on its own fleet `busy`; n3 (on-demand `ondemand`) idles but is not reserved.
_BEFORE, _AFTER = "1x59 _x60", "_x59 1x60"
INPUT_SERIES = [
    _series("kube_pod_labels", _pod("a", "0"), _BEFORE),
    _series("kube_pod_labels", _pod("b", "1"), _AFTER),
    _series("kube_pod_status_phase", {"namespace": "product", "pod": "a", "phase": "Running"}, _BEFORE),
    _series("kube_pod_status_phase", {"namespace": "product", "pod": "b", "phase": "Running"}, _AFTER),
    # Line `serve-ft` only serves: its LeaderWorkerSet pod runs throughout but is no training time.
    _series("kube_pod_labels", {"namespace": "product", "pod": "s", "label_aifactory_io_line": "serve-ft"}, "1x120"),
    _series("kube_pod_status_phase", {"namespace": "product", "pod": "s", "phase": "Running"}, "1x120"),
    _series("kube_node_labels", {"node": "n1", "label_aifactory_io_fleet": "block"}, "1x120"),
    _series("kube_node_labels", {"node": "n2", "label_aifactory_io_fleet": "busy"}, "1x120"),
    _series("kube_node_labels", {"node": "n3", "label_aifactory_io_fleet": "ondemand"}, "1x120"),
    _series("DCGM_FI_PROF_GR_ENGINE_ACTIVE", {"node": "n1", "gpu": "0"}, "0.05x120"),
    _series("DCGM_FI_PROF_GR_ENGINE_ACTIVE", {"node": "n2", "gpu": "0", "namespace": "product", "pod": "b"}, "0.9x120"),
    _series("DCGM_FI_PROF_GR_ENGINE_ACTIVE", {"node": "n3", "gpu": "0"}, "0x120"),
    _series(
        "kube_node_status_condition",
        {"node": "n1", "condition": "AcceleratedHardwareReady", "status": "false"},
        "1x120",
    ),
    _series(
        "kube_node_status_condition",
        {"node": "n2", "condition": "AcceleratedHardwareReady", "status": "false"},
        "0x120",
    ),
    _series(
        "kube_node_status_condition", {"node": "n2", "condition": "AcceleratedHardwareReady", "status": "true"}, "1x120"
    ),
    _series(
        "kueue_cluster_queue_resource_usage",
        {"cluster_queue": "product", "flavor": "ondemand", "resource": "nvidia.com/gpu"},
        "384x120",
    ),
    _series(
        "kueue_cluster_queue_nominal_quota",
        {"cluster_queue": "product", "flavor": "ondemand", "resource": "nvidia.com/gpu"},
        "512x120",
    ),
]


def _test_file() -> dict[str, Any]:
    healthy = {"alertname": "AifactoryNodeHealthCheckFailing"}
    return {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": INPUT_SERIES,
                "alert_rule_test": [
                    # Idle for 30 minutes: pending before, firing after, only for the reserved idle fleet.
                    {"eval_time": "20m", "alertname": "AifactoryReservedGpusIdle", "exp_alerts": []},
                    {
                        "eval_time": "40m",
                        "alertname": "AifactoryReservedGpusIdle",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "fleet": "block"},
                                "exp_annotations": {
                                    "summary": "Reserved fleet block is idle",
                                    "description": "The reserved GPUs of fleet block were below 10% graphics-engine "
                                    "activity for 30 minutes; they are paid whether used or not.",
                                },
                            }
                        ],
                    },
                    {"eval_time": "3m", **healthy, "exp_alerts": []},
                    {
                        "eval_time": "10m",
                        **healthy,
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "node": "n1",
                                    "condition": "AcceleratedHardwareReady",
                                    "status": "false",
                                },
                                "exp_annotations": {
                                    "summary": "Node n1 fails the EKS node health check AcceleratedHardwareReady",
                                    "description": "The EKS node monitoring agent reports "
                                    "AcceleratedHardwareReady=False on n1: `kubectl describe node n1` names the issue.",
                                },
                            }
                        ],
                    },
                ],
                "promql_expr_test": [
                    # One restart in the last hour, 15-minute checkpoints: 3600 s run, 900 s lost.
                    _expect(LINE_RESTARTS, "90m", {"line": "chat-ft"}, 1),
                    _expect(LINE_GOODPUT, "90m", {"line": "chat-ft"}, 0.75),
                    # Serving pods are not training time: the serving-only line has no run and no goodput.
                    _expect(LINE_RUN_SECONDS, "90m", {"line": "chat-ft"}, 3600),
                    _expect(LINE_GOODPUT, "100m", {"line": "chat-ft"}, 0.75),
                    # No restart in the window that ends before it: every second is kept.
                    _expect(LINE_GOODPUT, "58m", {"line": "chat-ft"}, 1),
                    _expect(GPU_LINE, "90m", {"line": "chat-ft"}, 0.9),
                    _expect(f'{GPU_FLEET}{{fleet="block"}}', "90m", {"fleet": "block"}, 0.05, name=GPU_FLEET),
                    _expect(QUOTA_USED, "90m", {"cluster_queue": "product"}, 0.75),
                ],
            }
        ],
    }


@needs_promtool
def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(rule_file(rule_groups(INPUTS)))
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(_test_file(), sort_keys=False, width=1000))
    result = _promtool("test", "rules", "test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_catch_a_quiet_alert(tmp_path: Path) -> None:
    """The unit tests have teeth: with the idle threshold below the idle fleet's 5 %, the alert they
    expect never fires and promtool fails."""
    quiet = RuleInputs(INPUTS.lines, INPUTS.reserved_fleets, idle_utilization_percent=1, idle_minutes=30)
    (tmp_path / "rules.yaml").write_text(rule_file(rule_groups(quiet)))
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(_test_file(), sort_keys=False, width=1000))
    assert _promtool("test", "rules", "test.yaml", cwd=tmp_path).returncode != 0
