"""`aifactory:observability`: every bad value is a config error naming its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import read_stack_config, spec_from_config
from aifactory.spec.observability import resolved_backend

ROOT = Path(__file__).resolve().parents[2]


def _config(stack: str, observability: Any) -> dict[str, Any]:
    return {**read_stack_config(ROOT / "stacks" / f"Pulumi.{stack}.yaml"), "aifactory:observability": observability}


def _issues(config: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        spec_from_config(config)
    return {issue.path: issue.problem for issue in caught.value.issues}


@pytest.mark.parametrize(("stack", "backend"), [("commercial-us", "managed"), ("sovereign-eu", "in-cluster")])
def test_the_default_backend_follows_the_profile(stack: str, backend: str) -> None:
    spec = spec_from_config(_config(stack, {}))
    assert spec.observability is not None and spec.observability.backend is None
    assert resolved_backend(spec.observability, spec.sovereign) == backend
    assert spec.observability.idle_gpu.utilization_percent == 10 and spec.observability.retention_days == 15


def test_a_commercial_stack_may_keep_metrics_in_the_cluster() -> None:
    spec = spec_from_config(_config("commercial-us", {"backend": "in-cluster"}))
    assert spec.observability is not None and resolved_backend(spec.observability, False) == "in-cluster"


def test_a_sovereign_stack_refuses_the_managed_backend() -> None:
    with pytest.raises(ConfigError) as caught:
        spec_from_config(_config("sovereign-eu", {"backend": "managed"}))
    (issue,) = [i for i in caught.value.issues if i.path == "aifactory:observability.backend"]
    assert "Amazon Managed Service for Prometheus" in issue.problem and "in-cluster" in issue.fix


def test_absent_means_no_backend() -> None:
    assert spec_from_config(read_stack_config(ROOT / "stacks" / "Pulumi.dev.yaml")).observability is None


def test_needs_the_eks_cluster() -> None:
    issues = _issues(_config("slurm-aws", {}))
    assert "scheduler is not `kubernetes`" in issues["aifactory:observability"]


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"backend": "prometheus"}, "aifactory:observability.backend"),
        ({"idleGpu": {"utilizationPercent": 0}}, "aifactory:observability.idleGpu.utilizationPercent"),
        ({"idleGpu": {"utilizationPercent": 101}}, "aifactory:observability.idleGpu.utilizationPercent"),
        ({"idleGpu": {"minutes": 1441}}, "aifactory:observability.idleGpu.minutes"),
        ({"retentionDays": 366}, "aifactory:observability.retentionDays"),
        ({"retentionDays": "15"}, "aifactory:observability.retentionDays"),
        ({"alertEmail": "oncall@example.com"}, "aifactory:observability.alertEmail"),
    ],
)
def test_bad_values_name_their_path(value: dict[str, Any], path: str) -> None:
    assert path in _issues(_config("commercial-us", value))


def test_null_is_not_absent() -> None:
    assert "aifactory:observability" in _issues(_config("commercial-us", None))
