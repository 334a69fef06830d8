"""Typed access to the FSx for Lustre price table (data/fsx_lustre_pricing.yaml)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

REFERENCE_REGION = "us-east-1"


@dataclass(frozen=True)
class TierPrice:
    usd_per_gb_month: float
    source: str
    estimate: bool
    note: str = ""


@dataclass(frozen=True)
class FsxRegionPrices:
    """SSD storage prices of one region: `tiers[deployment_type][mb_s_per_tib]`."""

    region: str
    date: str
    tiers: dict[str, dict[int, TierPrice]]
    automatic_metadata_usd_per_month: TierPrice
    borrowed_from: str | None = None
    """Set when the region has no entry and the reference region's prices stand in for it."""

    def price(self, deployment_type: str, per_unit_throughput: int) -> TierPrice:
        return self.tiers[deployment_type][per_unit_throughput]

    @property
    def estimate(self) -> bool:
        return self.borrowed_from is not None or any(
            p.estimate for tiers in self.tiers.values() for p in tiers.values()
        )


def _price(raw: dict) -> TierPrice:
    return TierPrice(
        usd_per_gb_month=float(raw["usd"]),
        source=raw["source"],
        estimate=bool(raw["estimate"]),
        note=raw.get("note", ""),
    )


@functools.cache
def _table() -> dict[str, FsxRegionPrices]:
    text = resources.files("aifactory.catalog").joinpath("data/fsx_lustre_pricing.yaml").read_text()
    table: dict[str, FsxRegionPrices] = {}
    for region, raw in yaml.safe_load(text).items():
        tiers = {
            kind: {int(tier): _price(p) for tier, p in values.items()}
            for kind, values in raw.items()
            if kind not in ("date", "automatic_metadata_usd_per_month")
        }
        table[region] = FsxRegionPrices(
            region=region,
            date=str(raw["date"]),
            tiers=tiers,
            automatic_metadata_usd_per_month=_price(raw["automatic_metadata_usd_per_month"]),
        )
    return table


def priced_regions() -> tuple[str, ...]:
    return tuple(sorted(_table()))


def fsx_prices(region: str) -> FsxRegionPrices:
    """The region's prices; a region without an entry gets the us-east-1 table, marked as borrowed."""
    table = _table()
    if region in table:
        return table[region]
    ref = table[REFERENCE_REGION]
    return FsxRegionPrices(
        region=region,
        date=ref.date,
        tiers=ref.tiers,
        automatic_metadata_usd_per_month=ref.automatic_metadata_usd_per_month,
        borrowed_from=REFERENCE_REGION,
    )
