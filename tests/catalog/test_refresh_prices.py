"""tools/refresh_prices.py against small recorded offer files in the bulk files' shape (no network)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.catalog.prices import parse_region_prices

from tools import refresh_prices as tool

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "prices"
EC2_URL = f"{tool.PRICE_LIST_BASE}/offers/v1.0/aws/AmazonEC2/20261120000000/us-west-2/index.json"
FSX_URL = f"{tool.PRICE_LIST_BASE}/offers/v1.0/aws/AmazonFSx/20261115000000/us-west-2/index.json"
CATALOG = {"p5.48xlarge", "g6.xlarge"}


def offer(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}-us-west-2.json").read_text())


def test_keeps_only_linux_shared_used_on_demand_prices_of_catalog_types() -> None:
    # Windows, dedicated tenancy, unused reservation capacity, SQL, us-east-1 and m5.large are dropped,
    # and the Reserved term of the kept SKU is never read (35.0 would otherwise win or collide).
    assert tool.ec2_on_demand(offer("AmazonEC2"), "us-west-2", CATALOG) == {"p5.48xlarge": 51.11, "g6.xlarge": 0.7777}


def test_two_skus_matching_the_filter_are_an_error_not_a_guess() -> None:
    ec2 = offer("AmazonEC2")
    ec2["products"]["SKUP5UNUSED"]["attributes"]["capacitystatus"] = "Used"
    with pytest.raises(ValueError, match="two SKUs"):
        tool.ec2_on_demand(ec2, "us-west-2", CATALOG)


def test_keeps_lustre_ssd_tiers_and_drops_hdd_and_other_file_systems() -> None:
    assert tool.fsx_lustre(offer("AmazonFSx"), "us-west-2") == {
        "PERSISTENT_2": {
            125: {"usd_per_gb_month": 0.145, "usd_per_mbps_month": 0.0},
            1000: {"usd_per_gb_month": 0.6, "usd_per_mbps_month": 0.0},
        },
        "SCRATCH_2": {200: {"usd_per_gb_month": 0.14, "usd_per_mbps_month": 0.0}},
    }


def test_the_table_names_its_offer_files_and_keeps_the_hand_sourced_sections() -> None:
    previous = yaml.safe_load(Path(tool.OUTPUT_DIR / "us-west-2.yaml").read_text())
    table = tool.build_table(
        "us-west-2",
        (EC2_URL, offer("AmazonEC2")),
        (FSX_URL, offer("AmazonFSx")),
        CATALOG,
        copy.deepcopy(previous),
        dt.date(2026, 12, 2),
    )
    assert (
        table["sources"]["EC2"]
        == f"AWS Price List bulk file {EC2_URL} (publicationDate 2026-11-20T00:00:00Z, version 20261120000000)"
    )
    assert table["sources"]["FSX"].startswith(f"AWS Price List bulk file {FSX_URL} (publicationDate 2026-11-15")
    assert table["ec2"]["on_demand"]["p5.48xlarge"] == {"usd": 51.11, "source": "EC2", "date": "2026-11-20"}
    assert table["ec2"]["capacity_block"] == previous["ec2"]["capacity_block"]
    assert table["sources"]["CB"] == previous["sources"]["CB"]
    # what the tool writes is what the loader reads
    prices = parse_region_prices(yaml.safe_load(yaml.safe_dump(table)), "us-west-2.yaml")
    assert prices.on_demand["g6.xlarge"].usd == 0.7777 and prices.on_demand["g6.xlarge"].date == "2026-11-20"
    assert prices.fsx_lustre["PERSISTENT_2"][1000].usd_per_gb_month == 0.6
    assert prices.capacity_block["p4d.24xlarge"].usd == 14.75


def test_sources_no_price_names_are_dropped() -> None:
    previous = {
        "region": "us-west-2",
        "date": "2026-01-01",
        "sources": {"OLD": "a page", "CB": "blocks"},
        "ec2": {
            "on_demand": {"p5.48xlarge": {"usd": 1.0, "source": "OLD", "date": "2026-01"}},
            "capacity_block": {"p4d.24xlarge": {"usd": 2.0, "source": "CB", "date": "2026-01"}},
        },
    }
    table = tool.build_table("us-west-2", (EC2_URL, offer("AmazonEC2")), None, CATALOG, previous, dt.date(2026, 12, 2))
    assert set(table["sources"]) == {"EC2", "CB"}
    assert "fsx_lustre" not in table


def test_offer_urls_come_from_the_region_index() -> None:
    index = {
        "regions": {
            "us-west-2": {
                "regionCode": "us-west-2",
                "currentVersionUrl": "/offers/v1.0/aws/AmazonEC2/20261120000000/us-west-2/index.json",
            }
        }
    }
    assert tool.region_offer_url(index, "us-west-2") == EC2_URL
    assert tool.region_offer_url(index, "us-gov-east-1") is None
    assert f"{tool.PRICE_LIST_BASE}/offers/v1.0/aws/index.json" == tool.OFFER_INDEX_URL
