"""Typed access to the per-region price tables (data/prices/<region>.yaml).

One file per region, each naming its sources and the date each figure was read. A region without a
file, or a figure a region's file leaves out, has no price: callers report it as unknown and never
take another region's figure. `tools/refresh_prices.py` regenerates the On-Demand and FSx sections
from the AWS Price List bulk files.

Layout of a table (all sections optional except `region`, `date` and `sources`):

    region: us-east-1
    date: 2026-12-02            # when the table was written
    sources: {KEY: text}         # what each price's `source` names
    ec2:
      on_demand:       {instance type: PRICE}  # Linux, shared tenancy, no pre-installed software, $/instance-hour
      capacity_block:  {instance type: PRICE}  # EC2 Capacity Blocks reservation fee, $/instance-hour
    fsx_lustre:        {deployment type: {MB/s/TiB: {usd_per_gb_month, usd_per_mbps_month, source, date, ...}}}
    fsx_lustre_metadata: {mode: PRICE}          # $/file system-month

where PRICE is `{usd, source, date, estimate: false, note: ""}`. A figure AWS does not publish in
that form has `estimate: true` and a `note` saying how it was estimated. Never copy another
region's figure into a table: leave the entry out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .yamldata import load_yaml

HOURS_PER_MONTH = 365 * 24 / 12
"""730: the month the AWS Pricing Calculator turns hourly prices into monthly ones with (8,760 h / 12)."""

PRICES_DIR = "data/prices"


@dataclass(frozen=True)
class Price:
    """One figure in USD per the unit of its table, with where and when it was read."""

    usd: float
    source: str
    date: str
    estimate: bool = False
    note: str = ""


@dataclass(frozen=True)
class FsxTierPrice:
    """An FSx for Lustre deployment type at one per-unit throughput."""

    usd_per_gb_month: float
    usd_per_mbps_month: float
    """Throughput billed apart from storage (0 where the storage price includes it, as on SSD tiers)."""
    source: str
    date: str
    estimate: bool = False
    note: str = ""


@dataclass(frozen=True)
class RegionPrices:
    region: str
    date: str
    on_demand: dict[str, Price]
    """Instance type -> Linux On-Demand USD per instance-hour."""
    capacity_block: dict[str, Price]
    """Instance type -> EC2 Capacity Blocks reservation fee, USD per instance-hour."""
    fsx_lustre: dict[str, dict[int, FsxTierPrice]]
    """Deployment type -> per-unit throughput (MB/s/TiB) -> price."""
    fsx_lustre_metadata: dict[str, Price]
    """Metadata mode -> USD per file system-month."""

    def fsx_tier(self, deployment_type: str, per_unit_throughput: int) -> FsxTierPrice | None:
        return self.fsx_lustre.get(deployment_type, {}).get(per_unit_throughput)


def _source(sources: dict[str, str], raw: dict[str, Any], where: str) -> str:
    key = raw["source"]
    if key not in sources:
        raise ValueError(f"{where}: source {key!r} is not listed under `sources`")
    return f"{key}: {sources[key]}"


def _price(sources: dict[str, str], raw: dict[str, Any], where: str) -> Price:
    return Price(
        usd=float(raw["usd"]),
        source=_source(sources, raw, where),
        date=str(raw["date"]),
        estimate=bool(raw.get("estimate", False)),
        note=raw.get("note", ""),
    )


def parse_region_prices(raw: dict[str, Any], where: str) -> RegionPrices:
    """A price table from its YAML mapping; ValueError names the entry that is malformed."""
    sources = {k: " ".join(str(v).split()) for k, v in raw["sources"].items()}
    ec2 = raw.get("ec2") or {}
    fsx = {
        kind: {
            int(tier): FsxTierPrice(
                usd_per_gb_month=float(p["usd_per_gb_month"]),
                usd_per_mbps_month=float(p.get("usd_per_mbps_month", 0.0)),
                source=_source(sources, p, f"{where} fsx_lustre.{kind}.{tier}"),
                date=str(p["date"]),
                estimate=bool(p.get("estimate", False)),
                note=p.get("note", ""),
            )
            for tier, p in tiers.items()
        }
        for kind, tiers in (raw.get("fsx_lustre") or {}).items()
    }
    return RegionPrices(
        region=raw["region"],
        date=str(raw["date"]),
        on_demand={
            t: _price(sources, p, f"{where} ec2.on_demand.{t}") for t, p in (ec2.get("on_demand") or {}).items()
        },
        capacity_block={
            t: _price(sources, p, f"{where} ec2.capacity_block.{t}")
            for t, p in (ec2.get("capacity_block") or {}).items()
        },
        fsx_lustre=fsx,
        fsx_lustre_metadata={
            m: _price(sources, p, f"{where} fsx_lustre_metadata.{m}")
            for m, p in (raw.get("fsx_lustre_metadata") or {}).items()
        },
    )


@functools.cache
def _tables() -> dict[str, RegionPrices]:
    tables: dict[str, RegionPrices] = {}
    for entry in resources.files("aifactory.catalog").joinpath(PRICES_DIR).iterdir():
        if not entry.name.endswith(".yaml"):
            continue
        table = parse_region_prices(load_yaml(entry.read_text()), entry.name)
        if f"{table.region}.yaml" != entry.name:
            raise ValueError(f"{entry.name}: holds region {table.region!r}")
        tables[table.region] = table
    return tables


def priced_regions() -> tuple[str, ...]:
    return tuple(sorted(_tables()))


def region_prices(region: str) -> RegionPrices | None:
    """The region's price table, or None when no table covers the region."""
    return _tables().get(region)
