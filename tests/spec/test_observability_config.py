"""`aifactory:observability`: every bad value is a config error naming its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import read_stack_config, spec_from_config, validate_config
from aifactory.spec.observability import RETENTION_DAYS, resolved_backend, resolved_retention_days

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
    assert spec.observability.idle_gpu.utilization_percent == 10 and spec.observability.retention_days is None
    assert spec.observability.alert_emails == []


@pytest.mark.parametrize(("backend", "days"), [("in-cluster", 15), ("managed", 150)])
def test_retention_defaults_to_the_backends(backend: str, days: int) -> None:
    """15 days in the cluster, AMP's own 150-day default in the workspace."""
    spec = spec_from_config(_config("commercial-us", {"backend": backend}))
    assert spec.observability is not None
    assert resolved_retention_days(spec.observability, backend) == days == RETENTION_DAYS[backend][0]  # type: ignore[index]


@pytest.mark.parametrize(("backend", "days"), [("in-cluster", 365), ("managed", 1095)])
def test_retention_up_to_the_backends_maximum_plans(backend: str, days: int) -> None:
    spec = spec_from_config(_config("commercial-us", {"backend": backend, "retentionDays": days}))
    assert spec.observability is not None and spec.observability.retention_days == days


@pytest.mark.parametrize(("stack", "backend", "days"), [("sovereign-eu", None, 366), ("commercial-us", None, 1096)])
def test_retention_past_the_backends_maximum_is_refused(stack: str, backend: str | None, days: int) -> None:
    issues = _issues(_config(stack, {"retentionDays": days}))
    assert f"{days} days is more than" in issues["aifactory:observability.retentionDays"]


def test_alert_emails_subscribe_on_the_managed_backend() -> None:
    addresses = ["oncall@example.com", "gpu-ops+alerts@team.example.org"]
    spec = spec_from_config(_config("commercial-us", {"alertEmails": addresses}))
    assert spec.observability is not None and spec.observability.alert_emails == addresses


@pytest.mark.parametrize(
    ("stack", "observability"),
    [("sovereign-eu", {}), ("commercial-us", {"backend": "in-cluster"})],
)
def test_alert_emails_need_the_managed_backend(stack: str, observability: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        spec_from_config(_config(stack, {**observability, "alertEmails": ["oncall@example.com"]}))
    (issue,) = [i for i in caught.value.issues if i.path == "aifactory:observability.alertEmails"]
    assert "in-cluster" in issue.problem and "remove `alertEmails`" in issue.fix


@pytest.mark.parametrize(
    "address",
    [
        "oncall",
        "oncall@",
        "@example.com",
        "oncall@localhost",
        "on call@example.com",
        "Ops <oncall@example.com>",
        "oncall@example.com\nBcc: x@example.com",
        "oncall@exa_mple.com",
        "oncall@-example.com",
        ".oncall@example.com",
        "on..call@example.com",
        "a" * 65 + "@example.com",
        "oncall@" + "a" * 250 + ".com",
        "oncall@[192.0.2.1]",
        "",
    ],
)
def test_an_address_sns_cannot_mail_is_refused(address: str) -> None:
    issues = _issues(_config("commercial-us", {"alertEmails": [address]}))
    assert "not an email address" in issues["aifactory:observability.alertEmails[0]"]


def test_an_address_listed_twice_is_refused() -> None:
    issues = _issues(_config("commercial-us", {"alertEmails": ["oncall@example.com", "OnCall@Example.com"]}))
    assert "listed twice" in issues["aifactory:observability.alertEmails"]


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
        ({"retentionDays": 0}, "aifactory:observability.retentionDays"),
        ({"alertEmails": "oncall@example.com"}, "aifactory:observability.alertEmails"),
        ({"alertEmails": [7]}, "aifactory:observability.alertEmails[0]"),
        ({"retentionDays": "15"}, "aifactory:observability.retentionDays"),
        ({"alertEmail": "oncall@example.com"}, "aifactory:observability.alertEmail"),
    ],
)
def test_bad_values_name_their_path(value: dict[str, Any], path: str) -> None:
    assert path in _issues(_config("commercial-us", value))


@pytest.mark.parametrize(
    ("stack", "observability", "warned"),
    [
        ("commercial-us", {}, True),
        ("commercial-us", {"backend": "in-cluster"}, False),
        ("sovereign-eu", {}, False),
    ],
)
def test_the_managed_backend_warns_that_queue_series_stay_empty(
    stack: str, observability: dict[str, Any], warned: bool
) -> None:
    _, warnings = validate_config(_config(stack, observability))
    found = [w for w in warnings if w.path == "aifactory:observability.backend"]
    assert bool(found) is warned
    assert all(w.is_warning and "Kueue" in w.problem and "in-cluster" in w.fix for w in found)


def test_null_is_not_absent() -> None:
    assert "aifactory:observability" in _issues(_config("commercial-us", None))
