"""An independent oracle for FSx for Lustre sizing: what AWS accepts, written down from AWS's pages.

The storage sizing tests brute-force against this table, never against
`aifactory.planning.storage_sizing`, so a wrong constant or step rule in the module cannot agree
with itself. Prices come from the checked-in price data (`aifactory.catalog.prices`), which
is data, not sizing logic.

Sources (read through the `search` tool, 2026):
- SSD storage capacity at creation: "For SCRATCH_2, PERSISTENT_2, and PERSISTENT_1 deployment types
  using SSD storage type, the valid values are 1200 GiB, 2400 GiB, and increments of 2400 GiB."
  FSx API reference, CreateFileSystem `StorageCapacity`
  (https://docs.aws.amazon.com/fsx/latest/APIReference/API_CreateFileSystem.html; read in the SDK page
  generated from the same API model,
  https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/fsx/aws.sdk.kotlin.services.fsx.model/-create-file-system-request/storage-capacity.html).
- PERSISTENT_2 throughput per unit of storage: "valid values are 125, 250, 500, and 1000 MBps/TiB."
  FSx for Lustre User Guide, "Managing provisioned throughput capacity"
  (https://docs.aws.amazon.com/fsx/latest/LustreGuide/managing-throughput-capacity.html).
- EFA-enabled file systems: capacity "must be in multiples of 38400 GiB for 125 MBps/TiB, 19200 GiB
  for 250, 9600 GiB for 500 and 4800 GiB for 1000 MBps/TiB file systems." FSx for Lustre User Guide,
  "Managing storage capacity" / "Increasing storage capacity"
  (https://docs.aws.amazon.com/fsx/latest/LustreGuide/managing-storage-capacity.html,
  https://docs.aws.amazon.com/fsx/latest/LustreGuide/increase-storage-capacity.html).
  EFA needs PERSISTENT_2, so SCRATCH_2 has no EFA configuration.
- SCRATCH_2 network throughput: 200 MBps/TiB of storage provisioned. FSx for Lustre User Guide,
  "Performance characteristics of SSD and HDD storage classes"
  (https://docs.aws.amazon.com/fsx/latest/LustreGuide/ssd-storage.html); the excerpt the search
  returned stopped before the table row, so this one figure was not re-read there.

Units, conservatively: 1 TiB = 1,024 GiB and 1 GB/s = 1,000 MB/s, so a tier of R MB/s/TiB on C GiB
gives R x C / 1,024 / 1,000 GB/s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aifactory.catalog.prices import region_prices

GIB_PER_TIB = 1024

# Deployment type -> its per-unit throughput tiers (MB/s per TiB).
TIERS: dict[str, tuple[int, ...]] = {
    "PERSISTENT_2": (125, 250, 500, 1000),
    "SCRATCH_2": (200,),
}

# The first SSD capacities AWS accepts (GiB), written out; past the table it is +2,400 GiB a step.
SSD_CAPACITIES_GIB = (1200, 2400, 4800, 7200, 9600, 12_000, 14_400, 16_800, 19_200)
SSD_STEP_GIB = 2400

# EFA-enabled PERSISTENT_2: capacity is a multiple of this many GiB, by tier.
EFA_MULTIPLE_GIB = {125: 38_400, 250: 19_200, 500: 9_600, 1000: 4_800}


@dataclass(frozen=True)
class Option:
    deployment_type: str
    tier: int
    capacity_gib: int
    efa: bool

    @property
    def throughput_gbps(self) -> float:
        return self.tier * self.capacity_gib / GIB_PER_TIB / 1000

    def monthly_cost_usd(self, region: str) -> float:
        prices = region_prices(region)
        assert prices is not None, f"no price table for {region}"
        tier = prices.fsx_lustre[self.deployment_type][self.tier]
        throughput_mbps = self.tier * self.capacity_gib / GIB_PER_TIB
        storage = self.capacity_gib * tier.usd_per_gb_month + throughput_mbps * tier.usd_per_mbps_month
        return storage + (prices.fsx_lustre_metadata["AUTOMATIC"].usd if self.efa else 0.0)


def capacities_gib(tier: int, efa: bool, max_gib: int) -> list[int]:
    """Every capacity AWS accepts at `tier`, ascending, up to `max_gib`."""
    if efa:
        return list(range(EFA_MULTIPLE_GIB[tier], max_gib + 1, EFA_MULTIPLE_GIB[tier]))
    listed = [c for c in SSD_CAPACITIES_GIB if c <= max_gib]
    beyond = range(SSD_CAPACITIES_GIB[-1] + SSD_STEP_GIB, max_gib + 1, SSD_STEP_GIB)
    return listed + list(beyond)


def options(deployment_types: Sequence[str], efa: bool, max_gib: int) -> list[Option]:
    """Every configuration AWS accepts up to `max_gib` GiB."""
    return [
        Option(kind, tier, capacity, efa)
        for kind in deployment_types
        if not (efa and kind != "PERSISTENT_2")
        for tier in TIERS[kind]
        for capacity in capacities_gib(tier, efa, max_gib)
    ]


def meets(
    option: Option,
    capacity_tib: float | None,
    throughput_gbps: float | None,
    checkpoint_size_tb: float | None = None,
    checkpoint_seconds: float | None = None,
) -> bool:
    """At least the capacity, and at least the throughput and checkpoint size / time (TB/s x 1000)."""
    needed = throughput_gbps or 0.0
    if checkpoint_size_tb is not None and checkpoint_seconds is not None:
        needed = max(needed, checkpoint_size_tb * 1000 / checkpoint_seconds)
    return option.capacity_gib >= (capacity_tib or 0.0) * GIB_PER_TIB and option.throughput_gbps >= needed
