"""`aifactory:observability`: every bad value is a config error naming its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import read_stack_config, spec_from_config

ROOT = Path(__file__).resolve().parents[2]


def _config(stack: str, observability: Any) -> dict[str, Any]:
    return {**read_stack_config(ROOT / "stacks" / f"Pulumi.{stack}.yaml"), "aifactory:observability": observability}


def _issues(config: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        spec_from_config(config)
    return {issue.path: issue.problem for issue in caught.value.issues}


def test_defaults_to_in_cluster() -> None:
    spec = spec_from_config(_config("commercial-us", {}))
    assert spec.observability is not None and spec.observability.backend == "in-cluster"
    assert spec.observability.idle_gpu.utilization_percent == 10 and spec.observability.retention_days == 15


def test_absent_means_no_backend() -> None:
    assert spec_from_config(read_stack_config(ROOT / "stacks" / "Pulumi.commercial-us.yaml")).observability is None


def test_needs_the_eks_cluster() -> None:
    issues = _issues(_config("slurm-aws", {}))
    assert "scheduler is not `kubernetes`" in issues["aifactory:observability"]


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"backend": "managed"}, "aifactory:observability.backend"),
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
