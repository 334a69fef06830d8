"""The per-region price tables: every figure sourced and dated, no region standing in for another."""

from __future__ import annotations

import re
from importlib import resources

import pytest
import yaml
from aifactory.catalog.instance_types import instance_types
from aifactory.catalog.prices import (
    HOURS_PER_MONTH,
    Price,
    parse_region_prices,
    priced_regions,
    region_prices,
)
from aifactory.catalog.regions import all_regions


def test_the_tables_cover_the_regions_with_sourced_figures() -> None:
    assert set(priced_regions()) == {"us-east-1", "us-east-2", "us-west-2"}
    # No figure could be sourced for these: they have no table, so their prices are unknown.
    assert region_prices("eu-north-1") is None
    assert region_prices("us-gov-west-1") is None


@pytest.mark.parametrize("region", priced_regions())
def test_every_figure_is_sourced_dated_and_known(region: str) -> None:
    table = region_prices(region)
    assert table is not None and table.region == region and region in all_regions()
    catalog = instance_types()
    prices: list[Price] = [
        *table.on_demand.values(),
        *table.capacity_block.values(),
        *table.fsx_lustre_metadata.values(),
    ]
    assert set(table.on_demand) | set(table.capacity_block) <= set(catalog)
    for price in prices:
        assert price.usd >= 0 and price.source and price.date
        assert not price.estimate or price.note, f"{region}: an estimate says how it was estimated"
    for tiers in table.fsx_lustre.values():
        for tier in tiers.values():
            assert tier.usd_per_gb_month > 0 and tier.source and tier.date
            assert not tier.estimate or tier.note


def test_regions_differ_where_their_sources_do() -> None:
    east, west = region_prices("us-east-1"), region_prices("us-west-2")
    assert east is not None and west is not None
    assert "p5.48xlarge" in east.on_demand and "p5.48xlarge" not in west.on_demand
    assert west.capacity_block["p4d.24xlarge"].usd == 14.75 and "p4d.24xlarge" not in east.capacity_block
    assert not west.fsx_lustre


def test_a_price_naming_an_unlisted_source_is_refused() -> None:
    raw = yaml.safe_load(resources.files("aifactory.catalog").joinpath("data/prices/us-west-2.yaml").read_text())
    raw["ec2"]["capacity_block"]["p4d.24xlarge"]["source"] = "NOPE"
    with pytest.raises(ValueError, match=re.escape("us-west-2.yaml ec2.capacity_block.p4d.24xlarge: source 'NOPE'")):
        parse_region_prices(raw, "us-west-2.yaml")


def test_a_month_is_730_hours() -> None:
    assert HOURS_PER_MONTH == 730
