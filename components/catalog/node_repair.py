"""What EKS node auto repair accepts: node conditions, their unhealthy reasons, repair actions, bounds.

Sources (read 2026-08):
- EKS user guide nodes/node-repair.adoc ("Automatically repair nodes in EKS clusters"): the conditions,
  their default wait and action, the settings of a managed node group, "set either the absolute count or
  percentage, but not both", each override "requires all of the following fields", and that only managed
  node groups support `Reboot` (Auto Mode and Karpenter replace).
- EKS user guide nodes/node-health-nma.adoc ("Detect node health issues with the EKS node monitoring
  agent"): the reasons of severity "Condition" per monitoring condition (only those set the condition
  false and so can be repaired; "Event" reasons never trigger a repair), and the well-known NVIDIA XID
  codes (an unknown code is `NvidiaXID<code>Warning`, an event).
- EKS API reference `NodeRepairConfig` (counts minimum 1; percentages 1-100) and
  `NodeRepairConfigOverrides` (`minRepairWaitTimeMins` minimum 1; `repairAction` `Replace | Reboot |
  NoAction`).
"""

from __future__ import annotations

import re
from typing import Final, Literal

RepairAction = Literal["Replace", "Reboot", "NoAction"]
REPAIR_ACTIONS: Final[tuple[str, ...]] = ("Replace", "Reboot", "NoAction")
"""NodeRepairConfigOverrides `repairAction` (EKS API reference)."""

NODE_CONDITIONS: Final[tuple[str, ...]] = (
    "AcceleratedHardwareReady",
    "ContainerRuntimeReady",
    "KernelReady",
    "NetworkingReady",
    "StorageReady",
)
"""The node monitoring agent's conditions that auto repair acts on (node-repair.adoc's table without the
kubelet's own `Ready`, `DiskPressure` and `MemoryPressure`, which the agent does not report). The one list
of these condition names in the package: alerts on node health should import it."""

ACCELERATED_HARDWARE = "AcceleratedHardwareReady"

REBOOTABLE_CONDITIONS: Final[frozenset[str]] = frozenset({ACCELERATED_HARDWARE})
"""Conditions whose repair may be a reboot: node-repair.adoc lists "Replace or Reboot" for
AcceleratedHardwareReady only, "Replace" for every other condition."""

WELL_KNOWN_XIDS: Final[tuple[int, ...]] = (13, 31, 48, 63, 64, 74, 79, 94, 95, 119, 120, 121, 140)
"""NVIDIA XID codes the agent reports as `NvidiaXID<code>Error` conditions (node-health-nma.adoc,
"NVIDIA XID error codes")."""

Vendor = Literal["nvidia", "aws"]
"""The accelerator vendor a reason belongs to (`aws`: Trainium and Inferentia); None: any node."""

_REASONS: Final[dict[str, dict[str, Vendor | None]]] = {
    ACCELERATED_HARDWARE: {
        "DCGMDiagnosticFailure": "nvidia",
        "DCGMError": "nvidia",
        "NeuronDMAError": "aws",
        "NeuronHBMUncorrectableError": "aws",
        "NeuronNCUncorrectableError": "aws",
        "NeuronSRAMUncorrectableError": "aws",
        "NvidiaDoubleBitError": "nvidia",
        "NvidiaNVLinkError": "nvidia",
        **{f"NvidiaXID{code}Error": "nvidia" for code in WELL_KNOWN_XIDS},
    },
    "ContainerRuntimeReady": {"PodStuckTerminating": None},
    "KernelReady": {"ForkFailedOutOfPIDs": None},
    "NetworkingReady": {
        "IPAMDNotReady": None,
        "IPAMDNotRunning": None,
        "InterfaceNotRunning": None,
        "InterfaceNotUp": None,
        "MissingLoopbackInterface": None,
    },
    # node-health-nma.adoc lists no "Condition" severity reason under StorageReady (every storage issue is an
    # event), so no override can name one.
    "StorageReady": {},
}

_DCGM_HEALTH_CODE = re.compile(r"^DCGMHealthCode[0-9]+$")
"""`DCGMHealthCode[Code]`, a fatal DCGM health check (a condition of AcceleratedHardwareReady)."""


def condition_reasons(condition: str) -> tuple[str, ...]:
    """The reasons of `condition` an override may name (DCGM health codes aside: any `DCGMHealthCode<n>`)."""
    return tuple(_REASONS.get(condition, {}))


def reason_vendor(condition: str, reason: str) -> Vendor | None:
    """Whose accelerators report `reason`; None when every node may."""
    if condition == ACCELERATED_HARDWARE and _DCGM_HEALTH_CODE.match(reason):
        return "nvidia"
    return _REASONS[condition][reason]


def reason_known(condition: str, reason: str) -> bool:
    if condition == ACCELERATED_HARDWARE and _DCGM_HEALTH_CODE.match(reason):
        return True
    return reason in _REASONS.get(condition, {})


MIN_PERCENTAGE, MAX_PERCENTAGE = 1, 100
"""NodeRepairConfig's percentages (EKS API reference); its counts and the override's wait are at least 1."""
