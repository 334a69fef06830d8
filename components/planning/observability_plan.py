"""`aifactory:observability` planned: the backend, its rule groups and the dashboard (pure: no Pulumi)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..schedulers.observability_dashboard import dashboard_json
from ..schedulers.observability_rules import RECORDED, LineMetrics, RuleInputs, rule_file, rule_groups
from ..spec.model import FactorySpec
from ..spec.observability import Backend, resolved_backend, resolved_retention_days

RESERVED_CAPACITY = ("capacity-reservation", "capacity-block")
"""Capacity types paid for whether the instances work or not (`spec.model.CapacityType`)."""


@dataclass(frozen=True)
class ObservabilityPlan:
    backend: Backend
    retention_days: int
    groups: tuple[dict[str, Any], ...]
    reserved_fleets: tuple[str, ...]
    alert_emails: tuple[str, ...]

    def rule_file(self) -> str:
        return rule_file(self.groups)

    def dashboard_json(self) -> str:
        return dashboard_json()

    def alerts(self) -> list[str]:
        return [r["alert"] for g in self.groups for r in g["rules"] if "alert" in r]

    def summary(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "retention_days": self.retention_days,
            "recording_rules": list(RECORDED),
            "alerts": self.alerts(),
            "reserved_fleets": list(self.reserved_fleets),
            "alert_emails": list(self.alert_emails),
        }


def plan_observability(spec: FactorySpec) -> ObservabilityPlan | None:
    """The plan of `aifactory:observability`; None without the key."""
    config = spec.observability
    if config is None:
        return None
    reserved = tuple(f.name for f in spec.ec2_fleets if f.capacity.type in RESERVED_CAPACITY)
    lines = (
        [LineMetrics(line.name, line.training.checkpoint.interval_minutes) for line in spec.production.lines]
        if spec.production is not None
        else []
    )
    inputs = RuleInputs(lines, reserved, config.idle_gpu.utilization_percent, config.idle_gpu.minutes)
    backend = resolved_backend(config, spec.sovereign)
    return ObservabilityPlan(
        backend,
        resolved_retention_days(config, backend),
        tuple(rule_groups(inputs)),
        reserved,
        tuple(config.alert_emails),
    )
