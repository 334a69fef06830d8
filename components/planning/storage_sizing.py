"""Size an FSx for Lustre file system from capacity, throughput and checkpoint targets.

Pure: no Pulumi. `size_filesystem` returns the cheapest configuration AWS accepts that meets every
target, priced from the region's table in `catalog/data/prices/`.

Service rules used here (FSx for Lustre User Guide and API reference, read 2026-09):
- SSD capacity for SCRATCH_2 and PERSISTENT_2 is 1,200 GiB, 2,400 GiB, then steps of 2,400 GiB
  (API CreateFileSystem `StorageCapacity`).
- PERSISTENT_2 throughput per TiB is 125, 250, 500 or 1000 MB/s (managing-throughput-capacity.html);
  SCRATCH_2 has a fixed 200 MB/s/TiB baseline (ssd-storage.html).
- EFA-enabled file systems are PERSISTENT_2 with a metadata configuration, set at creation, and their
  capacity comes in multiples of 38,400 / 19,200 / 9,600 / 4,800 GiB for the 125 / 250 / 500 / 1000
  tiers (increase-storage-capacity.html; pulumi-aws `LustreFileSystem.efa_enabled`).
- The ceiling enforced is the account's storage-capacity quota, 100,800 GiB by default for
  PERSISTENT_2 (Service Quotas L-8F1B9C74) and scratch (L-AD2FC696). It is adjustable, so stacks
  whose quota was raised pass their own figure (`aifactory:storage.quotaGiB`).

Units are strict and conservative: a TiB is 1,024 GiB, a GB/s is 1,000 MB/s, a checkpoint TB is
10^12 bytes, and throughput is per-unit rate x GiB / 1,024. AWS quotes 1,200 GiB as "1.2 TiB", which
would credit about 2% more throughput; this module never counts on that.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from ..catalog.prices import RegionPrices, region_prices
from ..spec.numbers import GIB_PER_TIB
from ..spec.storage import DEFAULT_QUOTA_GIB, DeploymentType

MetadataMode = Literal["AUTOMATIC"]

FIRST_STEPS_GIB = (1200, 2400)
STEP_GIB = 2400
PERSISTENT_2_TIERS = (125, 250, 500, 1000)
SCRATCH_2_BASELINE = 200
EFA_STEP_GIB = {125: 38_400, 250: 19_200, 500: 9_600, 1000: 4_800}
METADATA_MODE: MetadataMode = "AUTOMATIC"

RANKING_REGION = "us-east-1"
"""A region without FSx prices still needs the cheapest configuration chosen: it is ranked by this
region's prices, and the plan shows its cost as unknown, never this region's figure."""

# Lustre's progressive file layout for checkpoint directories: small files stay on one storage target
# (OST); large checkpoint shards are spread wider, and everything past 16 GiB goes across every OST
# (`-c -1`). A multi-hundred-GB shard therefore never fills one OST while the others sit empty, which
# is what fails writes with ENOSPC on a file system that reports itself half full.
# Syntax: lfs-setstripe(1) composite layouts (`-E <end> -c <count>`); striping guidance:
# wiki.lustre.org/Lustre_Striping_Best_Practices.
CHECKPOINT_DIR = "checkpoints"
DATASETS_DIR = "datasets"


@dataclass(frozen=True)
class StripeComponent:
    """One PFL component: file extents up to `end` (`-1` = end of file) over `count` OSTs (`-1` = all)."""

    end: str
    count: int


CHECKPOINT_LAYOUT = (
    StripeComponent("64M", 1),
    StripeComponent("1G", 4),
    StripeComponent("16G", 16),
    StripeComponent("-1", -1),
)


def lfs_setstripe_command(path: str, layout: Sequence[StripeComponent] = CHECKPOINT_LAYOUT) -> str:
    """`lfs setstripe -E 64M -c 1 ... <path>`: set the layout on a directory before anything is written."""
    parts = " ".join(f"-E {c.end} -c {c.count}" for c in layout)
    return f"lfs setstripe {parts} {path}"


@dataclass(frozen=True)
class FsxConfiguration:
    """One configuration AWS accepts."""

    deployment_type: DeploymentType
    per_unit_throughput: int
    """MB/s per TiB (SCRATCH_2: its fixed baseline)."""
    capacity_gib: int
    efa_enabled: bool = False

    @property
    def capacity_tib(self) -> float:
        return self.capacity_gib / GIB_PER_TIB

    @property
    def throughput_gbps(self) -> float:
        return self.per_unit_throughput * self.capacity_gib / GIB_PER_TIB / 1000


@dataclass(frozen=True)
class StorageTargets:
    capacity_tib: float | None = None
    throughput_gbps: float | None = None
    checkpoint_size_tb: float | None = None
    checkpoint_seconds: float | None = None

    @property
    def required_throughput_gbps(self) -> float:
        """The larger of the throughput target and checkpoint size / time (TB/s x 1000 = GB/s)."""
        needed = self.throughput_gbps or 0.0
        if self.checkpoint_size_tb is not None and self.checkpoint_seconds is not None:
            needed = max(needed, self.checkpoint_size_tb * 1000 / self.checkpoint_seconds)
        return needed

    def met_by(self, config: FsxConfiguration) -> bool:
        if self.capacity_tib is not None and config.capacity_gib < self.capacity_tib * GIB_PER_TIB:
            return False
        return config.throughput_gbps >= self.required_throughput_gbps


class SizingError(ValueError):
    """No configuration within the quota meets the targets."""


def tiers(deployment_type: DeploymentType) -> tuple[int, ...]:
    return PERSISTENT_2_TIERS if deployment_type == "PERSISTENT_2" else (SCRATCH_2_BASELINE,)


def _step_capacity(tier: int, efa: bool, index: int) -> int:
    """The `index`-th valid SSD capacity (0-based); EFA steps depend on the tier."""
    if efa:
        return EFA_STEP_GIB[tier] * (index + 1)
    if index < len(FIRST_STEPS_GIB):
        return FIRST_STEPS_GIB[index]
    return STEP_GIB * index


def valid_capacities_gib(tier: int, efa: bool, max_gib: int) -> Iterator[int]:
    """Every SSD capacity AWS accepts at this tier, ascending, up to `max_gib`."""
    index = 0
    while (capacity := _step_capacity(tier, efa, index)) <= max_gib:
        yield capacity
        index += 1


def valid_configurations(
    deployment_types: Sequence[DeploymentType], efa: bool, max_gib: int
) -> Iterator[FsxConfiguration]:
    """Every configuration AWS accepts up to `max_gib`; EFA exists only on PERSISTENT_2."""
    for kind in deployment_types:
        if efa and kind != "PERSISTENT_2":
            continue
        for tier in tiers(kind):
            for capacity in valid_capacities_gib(tier, efa, max_gib):
                yield FsxConfiguration(kind, tier, capacity, efa)


def _smallest_index(tier: int, efa: bool, needed_gib: float) -> int:
    """Index of the smallest valid capacity >= needed_gib (arithmetic, then checked by the caller)."""
    if efa:
        return max(0, math.ceil(needed_gib / EFA_STEP_GIB[tier]) - 1)
    if needed_gib <= FIRST_STEPS_GIB[0]:
        return 0
    return max(1, math.ceil(needed_gib / STEP_GIB))


def _cheapest_for_tier(
    kind: DeploymentType, tier: int, efa: bool, targets: StorageTargets, max_gib: int
) -> FsxConfiguration | None:
    needed = max(
        (targets.capacity_tib or 0.0) * GIB_PER_TIB,
        targets.required_throughput_gbps * 1000 * GIB_PER_TIB / tier,
    )
    index = _smallest_index(tier, efa, needed)

    def config(i: int) -> FsxConfiguration:
        return FsxConfiguration(kind, tier, _step_capacity(tier, efa, i), efa)

    # Float rounding can put the arithmetic one step off either way; settle on the predicate itself.
    while index > 0 and targets.met_by(config(index - 1)):
        index -= 1
    while not targets.met_by(config(index)):
        index += 1
    chosen = config(index)
    return chosen if chosen.capacity_gib <= max_gib else None


def monthly_cost_usd(config: FsxConfiguration, prices: RegionPrices) -> float | None:
    """Storage, separately billed throughput and metadata per month; None when the table lacks a part."""
    tier = prices.fsx_tier(config.deployment_type, config.per_unit_throughput)
    metadata = prices.fsx_lustre_metadata.get(METADATA_MODE) if config.efa_enabled else None
    if tier is None or (config.efa_enabled and metadata is None):
        return None
    throughput_mbps = config.per_unit_throughput * config.capacity_gib / GIB_PER_TIB
    cost = config.capacity_gib * tier.usd_per_gb_month + throughput_mbps * tier.usd_per_mbps_month
    return cost + (metadata.usd if metadata is not None else 0.0)


@dataclass(frozen=True)
class SizingPrice:
    """The chosen configuration's monthly cost in the stack's region, with its source and date."""

    monthly_cost_usd: float | None
    estimate: bool
    source: str | None
    date: str | None
    note: str | None


def _ranking_prices(region: str, deployment_types: Sequence[DeploymentType]) -> RegionPrices | None:
    own = region_prices(region)
    if own is not None and all(own.fsx_lustre.get(kind) for kind in deployment_types):
        return own
    return region_prices(RANKING_REGION)


def _sizing_price(config: FsxConfiguration, region: str) -> SizingPrice:
    prices = region_prices(region)
    tier = prices.fsx_tier(config.deployment_type, config.per_unit_throughput) if prices else None
    cost = monthly_cost_usd(config, prices) if prices else None
    if prices is None or tier is None or cost is None:
        return SizingPrice(
            None,
            False,
            None,
            None,
            f"no FSx for Lustre {config.deployment_type} price for {region}; the configuration is the cheapest "
            f"by {RANKING_REGION}'s prices",
        )
    metadata = prices.fsx_lustre_metadata.get(METADATA_MODE) if config.efa_enabled else None
    estimated = [p for p in (tier, metadata) if p is not None and p.estimate]
    note = "; ".join(f"estimate: {p.note}" for p in estimated) or None
    return SizingPrice(cost, bool(estimated), tier.source, tier.date, note)


def largest_capacity_gib(tier: int, efa: bool, max_gib: int) -> int | None:
    """The largest valid SSD capacity at this tier within `max_gib`, in closed form (None when none fits).

    The quota is the user's figure (`storage.quotaGiB`); stepping up to it would take quota / 2,400
    iterations, so the ceiling is computed, never enumerated."""
    if efa:
        steps = max_gib // EFA_STEP_GIB[tier]
        return steps * EFA_STEP_GIB[tier] if steps else None
    if max_gib < FIRST_STEPS_GIB[0]:
        return None
    if max_gib < FIRST_STEPS_GIB[1]:
        return FIRST_STEPS_GIB[0]
    return max_gib // STEP_GIB * STEP_GIB


def _largest_configurations(
    deployment_types: Sequence[DeploymentType], efa: bool, max_gib: int
) -> Iterator[FsxConfiguration]:
    for kind in deployment_types:
        if efa and kind != "PERSISTENT_2":
            continue
        for tier in tiers(kind):
            capacity = largest_capacity_gib(tier, efa, max_gib)
            if capacity is not None:
                yield FsxConfiguration(kind, tier, capacity, efa)


def max_throughput_gbps(deployment_types: Sequence[DeploymentType], efa: bool, max_gib: int) -> float:
    """The highest throughput any valid configuration reaches within `max_gib` (0 when none fits)."""
    return max((c.throughput_gbps for c in _largest_configurations(deployment_types, efa, max_gib)), default=0.0)


def max_capacity_tib(deployment_types: Sequence[DeploymentType], efa: bool, max_gib: int) -> float:
    """The largest valid capacity within `max_gib`, in TiB (0 when none fits)."""
    largest = max((c.capacity_gib for c in _largest_configurations(deployment_types, efa, max_gib)), default=0)
    return largest / GIB_PER_TIB


@dataclass(frozen=True)
class FilesystemSizing:
    """The chosen configuration and the figures the plan report shows."""

    deployment_type: DeploymentType
    per_unit_throughput: int
    capacity_gib: int
    efa_enabled: bool
    metadata_mode: MetadataMode | None
    throughput_gbps: float
    capacity_tib: float
    price: SizingPrice
    checkpoint_size_tb: float | None
    checkpoint_seconds: float | None
    """Seconds to write one checkpoint at the file system's throughput (None without a checkpoint size)."""
    quota_gib: int
    checkpoint_layout: tuple[StripeComponent, ...] = CHECKPOINT_LAYOUT

    @property
    def per_unit_storage_throughput(self) -> int | None:
        """The `per_unit_storage_throughput` argument: SCRATCH_2 takes none."""
        return self.per_unit_throughput if self.deployment_type == "PERSISTENT_2" else None

    @property
    def monthly_cost_usd(self) -> float | None:
        return self.price.monthly_cost_usd

    def gbps_per_gpu(self, gpus: int) -> float:
        return self.throughput_gbps / gpus if gpus > 0 else 0.0


def size_filesystem(
    *,
    capacity_tib: float | None = None,
    throughput_gbps: float | None = None,
    checkpoint_size_tb: float | None = None,
    checkpoint_seconds: float | None = None,
    efa_enabled: bool = False,
    deployment_types: Sequence[DeploymentType] = ("PERSISTENT_2",),
    region: str = "us-east-1",
    quota_gib: int = DEFAULT_QUOTA_GIB,
) -> FilesystemSizing:
    """The cheapest valid configuration meeting every target; ties go to the higher throughput.

    Raises `SizingError` when nothing within `quota_gib` meets them.
    """
    targets = StorageTargets(capacity_tib, throughput_gbps, checkpoint_size_tb, checkpoint_seconds)
    candidates: list[FsxConfiguration] = []
    for kind in deployment_types:
        if efa_enabled and kind != "PERSISTENT_2":
            continue
        for tier in tiers(kind):
            found = _cheapest_for_tier(kind, tier, efa_enabled, targets, quota_gib)
            if found is not None:
                candidates.append(found)
    if not candidates:
        raise SizingError(
            f"no {'/'.join(deployment_types)}{' EFA' if efa_enabled else ''} file system within "
            f"{quota_gib} GiB gives {targets.capacity_tib or 0:g} TiB and "
            f"{targets.required_throughput_gbps:g} GB/s (at most "
            f"{max_capacity_tib(deployment_types, efa_enabled, quota_gib):g} TiB and "
            f"{max_throughput_gbps(deployment_types, efa_enabled, quota_gib):g} GB/s)"
        )
    ranking = _ranking_prices(region, deployment_types)

    def rank(c: FsxConfiguration) -> tuple[float, float]:
        cost = monthly_cost_usd(c, ranking) if ranking is not None else None
        return (math.inf if cost is None else round(cost, 6), -c.throughput_gbps)

    best = min(candidates, key=rank)
    return FilesystemSizing(
        deployment_type=best.deployment_type,
        per_unit_throughput=best.per_unit_throughput,
        capacity_gib=best.capacity_gib,
        efa_enabled=efa_enabled,
        metadata_mode=METADATA_MODE if efa_enabled else None,
        throughput_gbps=best.throughput_gbps,
        capacity_tib=best.capacity_tib,
        price=_sizing_price(best, region),
        checkpoint_size_tb=checkpoint_size_tb,
        checkpoint_seconds=checkpoint_size_tb * 1000 / best.throughput_gbps if checkpoint_size_tb else None,
        quota_gib=quota_gib,
    )
