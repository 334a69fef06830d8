"""Each managed node group's EKS node auto repair settings, from `scheduler.nodeRepair` (pure).

Unset thresholds become counts sized to the group: repair stops once more than a tenth of the group is
unhealthy (at least one node), so an event that takes down a whole fabric or zone, which no replacement
fixes, does not cycle every node of a capacity block. EKS's own default stops repair above 20% in groups
of more than five nodes (EKS user guide nodes/node-repair.adoc); a count also behaves in small groups,
where a percentage of two nodes rounds to nothing. Overrides of one accelerator vendor's reasons go to
that vendor's node groups only (catalog.node_repair.reason_vendor).
"""

# No `from __future__ import annotations`: the component args validator reads these TypedDicts' Required
# and NotRequired markers at run time (component_args.validate_component_args).
import math
from collections.abc import Sequence
from typing import NotRequired, Required, TypedDict

from ..catalog.node_repair import ACCELERATED_HARDWARE, reason_vendor
from ..spec.scheduler import NodeRepair, NodeRepairOverride

DEFAULT_UNHEALTHY_FRACTION = 0.10
"""Repair stops above this share of a node group's nodes unhealthy (rounded up, at least one node)."""
DEFAULT_PARALLEL_REPAIRS = 2
"""Nodes of a group repaired at once when neither parallelism key is set (never above the threshold)."""


def _override(reason: str, minutes: int, action: str) -> NodeRepairOverride:
    return NodeRepairOverride.model_validate(
        {
            "nodeMonitoringCondition": ACCELERATED_HARDWARE,
            "nodeUnhealthyReason": reason,
            "minRepairWaitTimeMins": minutes,
            "repairAction": action,
        }
    )


# The factory's GPU defaults (EKS user guide nodes/node-health-nma.adoc, "NVIDIA XID error codes", gives each
# XID's meaning and EKS's default: Reboot after 10 minutes for 31, 64 and 94, Replace for 79).
DEFAULT_OVERRIDES: tuple[NodeRepairOverride, ...] = (
    # XID 79, the GPU fell off the bus: hardware; replace sooner than EKS's 10 minutes.
    _override("NvidiaXID79Error", 5, "Replace"),
    # XID 64, memory remapping failed: the GPU cannot retire the bad row, so a reboot does not fix it (the
    # user guide's own example replaces it after 5 minutes).
    _override("NvidiaXID64Error", 5, "Replace"),
    # XID 94, a contained memory error: a reboot clears it; sooner than EKS's 10 minutes.
    _override("NvidiaXID94Error", 5, "Reboot"),
    # XID 31, a GPU memory page fault, is an application's bad access far more often than hardware (the user
    # guide's example takes no action): a reboot would only take the node from the queue.
    _override("NvidiaXID31Error", 15, "NoAction"),
    # An uncorrectable HBM error on a Neuron device: replace sooner than EKS's default.
    _override("NeuronHBMUncorrectableError", 5, "Replace"),
)


class NodeRepairOverrideArgs(TypedDict):
    """One NodeRepairConfigOverrides entry (EKS API reference)."""

    node_monitoring_condition: Required[str]
    """The node monitoring agent's condition."""
    node_unhealthy_reason: Required[str]
    """The reason under it."""
    min_repair_wait_time_mins: Required[int]
    """Minutes the condition persists before the repair."""
    repair_action: Required[str]
    """`Replace`, `Reboot` or `NoAction`."""


class NodeRepairArgs(TypedDict):
    """A node group's NodeRepairConfig (EKS API reference): one of each count/percentage pair at most."""

    enabled: Required[bool]
    """Node auto repair on."""
    max_unhealthy_node_threshold_count: NotRequired[int]
    """Unhealthy nodes above which repair stops."""
    max_unhealthy_node_threshold_percentage: NotRequired[int]
    """Percentage of unhealthy nodes above which repair stops."""
    max_parallel_nodes_repaired_count: NotRequired[int]
    """Nodes repaired at once."""
    max_parallel_nodes_repaired_percentage: NotRequired[int]
    """Percentage of the unhealthy nodes repaired at once."""
    overrides: NotRequired[list[NodeRepairOverrideArgs]]
    """Per condition and reason, the action and its wait."""


def node_repair_args(repair: NodeRepair, nodes: int, vendor: str | None) -> NodeRepairArgs:
    """The settings of a group of `nodes` nodes whose accelerators are `vendor`'s (None: no accelerators)."""
    if not repair.enabled:
        return {"enabled": False}
    args: NodeRepairArgs = {"enabled": True}
    if repair.max_unhealthy_node_threshold_percentage is not None:
        args["max_unhealthy_node_threshold_percentage"] = repair.max_unhealthy_node_threshold_percentage
        threshold = nodes
    else:
        threshold = repair.max_unhealthy_node_threshold_count or max(1, math.ceil(nodes * DEFAULT_UNHEALTHY_FRACTION))
        args["max_unhealthy_node_threshold_count"] = threshold
    if repair.max_parallel_nodes_repaired_percentage is not None:
        args["max_parallel_nodes_repaired_percentage"] = repair.max_parallel_nodes_repaired_percentage
    else:
        args["max_parallel_nodes_repaired_count"] = repair.max_parallel_nodes_repaired_count or min(
            DEFAULT_PARALLEL_REPAIRS, threshold
        )
    overrides = _for_vendor(DEFAULT_OVERRIDES if repair.overrides is None else repair.overrides, vendor)
    if overrides:
        args["overrides"] = overrides
    return args


def _for_vendor(overrides: Sequence[NodeRepairOverride], vendor: str | None) -> list[NodeRepairOverrideArgs]:
    return [
        {
            "node_monitoring_condition": o.node_monitoring_condition,
            "node_unhealthy_reason": o.node_unhealthy_reason,
            "min_repair_wait_time_mins": o.min_repair_wait_time_mins,
            "repair_action": o.repair_action,
        }
        for o in overrides
        if reason_vendor(o.node_monitoring_condition, o.node_unhealthy_reason) in (None, vendor)
    ]
