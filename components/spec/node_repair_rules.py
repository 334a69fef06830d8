"""Rules for `aifactory:scheduler.nodeRepair`: what EKS's NodeRepairConfig refuses, or ignores, caught first.

Sources: EKS user guide nodes/node-repair.adoc and nodes/node-health-nma.adoc, EKS API reference
`NodeRepairConfig` / `NodeRepairConfigOverrides` (see catalog/node_repair.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..catalog.node_repair import (
    NODE_CONDITIONS,
    REBOOTABLE_CONDITIONS,
    WELL_KNOWN_XIDS,
    condition_reasons,
    reason_known,
)
from .errors import ConfigIssue, config_path, did_you_mean
from .rules import Rule
from .scheduler import KubernetesScheduler, NodeRepair

if TYPE_CHECKING:
    from .model import FactorySpec

PATH = ("scheduler", "nodeRepair")

_PAIRS = (
    ("maxUnhealthyNodeThresholdCount", "maxUnhealthyNodeThresholdPercentage"),
    ("maxParallelNodesRepairedCount", "maxParallelNodesRepairedPercentage"),
)


def _node_repair(spec: FactorySpec) -> NodeRepair | None:
    return spec.scheduler.node_repair if isinstance(spec.scheduler, KubernetesScheduler) else None


def count_or_percentage(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """node-repair.adoc: "Set either the absolute count or percentage, but not both" (threshold and parallelism)."""
    repair = _node_repair(spec)
    if repair is None:
        return
    given = repair.model_dump(by_alias=True, exclude_none=True)
    for count, percentage in _PAIRS:
        if count in given and percentage in given:
            yield ConfigIssue(
                config_path(*PATH, percentage),
                f"is set together with `{count}`; EKS takes one of the two",
                f"remove `{percentage}` or `{count}`",
            )


def settings_need_repair(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Thresholds and overrides of a disabled repair would be sent to EKS and do nothing."""
    repair = _node_repair(spec)
    if repair is None or repair.enabled:
        return
    for key in repair.model_dump(by_alias=True, exclude_none=True, exclude={"enabled"}):
        yield ConfigIssue(
            config_path(*PATH, key),
            "has no effect with `enabled: false`",
            f"remove `{key}` or set `enabled: true`",
        )


def override_conditions_and_reasons(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Each override names a condition the node monitoring agent reports and a reason of severity Condition
    under it (an Event reason, such as an unknown XID's `NvidiaXID<code>Warning`, never triggers a repair);
    `Reboot` only where node-repair.adoc offers it; one override per condition and reason."""
    repair = _node_repair(spec)
    if repair is None or repair.overrides is None:
        return
    seen: set[tuple[str, str]] = set()
    for i, override in enumerate(repair.overrides):
        path = (*PATH, "overrides", i)
        condition, reason = override.node_monitoring_condition, override.node_unhealthy_reason
        if condition not in NODE_CONDITIONS:
            yield ConfigIssue(
                config_path(*path, "nodeMonitoringCondition"),
                f"'{condition}' is not a condition the node monitoring agent repairs",
                did_you_mean(condition, NODE_CONDITIONS),
            )
            continue
        if not reason_known(condition, reason):
            reasons = condition_reasons(condition)
            fix = (
                f"{condition} has no reason that triggers a repair; remove the override"
                if not reasons
                else f"{did_you_mean(reason, reasons)} (NVIDIA XID codes with a condition: "
                f"{', '.join(map(str, WELL_KNOWN_XIDS))})"
            )
            yield ConfigIssue(
                config_path(*path, "nodeUnhealthyReason"),
                f"'{reason}' is not a reason of severity Condition under {condition}",
                fix,
            )
        if override.repair_action == "Reboot" and condition not in REBOOTABLE_CONDITIONS:
            yield ConfigIssue(
                config_path(*path, "repairAction"),
                f"EKS repairs {condition} by replacing the node, not by a reboot",
                "use `Replace` or `NoAction`",
            )
        if (condition, reason) in seen:
            yield ConfigIssue(
                config_path(*path),
                f"repeats the override of {condition}/{reason}",
                "keep one override per condition and reason",
            )
        seen.add((condition, reason))


NODE_REPAIR_RULES: tuple[Rule, ...] = (count_or_percentage, settings_need_repair, override_conditions_and_reasons)
