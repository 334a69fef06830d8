"""Fleet and factory cost in the plan: priced from the stack's region, labelled, sourced and dated."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.catalog.prices import HOURS_PER_MONTH
from aifactory.planning.costs import fleet_cost
from aifactory.planning.factory_plan import plan_from_config

from tests.stackfiles import PINNED_IMAGES

BLOCK = {"type": "capacity-block", "reservationId": "cr-0a1b2c3d4e5f60718", "endTime": "2027-06-15T11:30:00Z"}
RESERVATION = {"type": "capacity-reservation", "reservationId": "cr-0a1b2c3d4e5f60719"}


def summary(region: str, fleets: list[dict[str, Any]], **keys: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "aws:region": region,
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": fleets,
    }
    cfg.update({f"aifactory:{k}": v for k, v in keys.items()})
    return dict(plan_from_config(cfg, "t").summary)


def test_on_demand_fleet_carries_its_price_source_and_date() -> None:
    row = summary("us-east-1", [{"name": "a", "instanceType": "p5.48xlarge", "count": 2}])["fleets"][0]
    assert row["cost_per_hour_usd"] == pytest.approx(2 * 55.04)
    assert row["price_basis"] == "on-demand"
    assert row["price_source"].startswith("P45: ") and row["price_date"] == "2025-06"
    assert row["price_note"] is None


def test_capacity_block_is_priced_at_the_block_rate_and_says_so() -> None:
    row = summary("us-west-2", [{"name": "b", "instanceType": "p4d.24xlarge", "count": 4, "capacity": BLOCK}])
    fleet = row["fleets"][0]
    assert fleet["price_basis"] == "capacity-block"
    assert fleet["cost_per_hour_usd"] == pytest.approx(4 * 14.75)
    assert "capacityblocks/pricing" in fleet["price_source"] and fleet["price_date"] == "2024-12"


def test_capacity_block_without_a_block_rate_is_unknown_not_on_demand() -> None:
    cost = fleet_cost("p5en.48xlarge", 64, "capacity-block", "us-east-1")
    assert cost.cost_per_hour_usd is None and cost.basis == "capacity-block"
    assert cost.note == "no capacity-block rate for p5en.48xlarge in us-east-1"


def test_reservation_and_spot_are_labelled_as_on_demand_rate() -> None:
    reserved = fleet_cost("p5.48xlarge", 3, "capacity-reservation", "us-east-1")
    spot = fleet_cost("p5.48xlarge", 3, "spot", "us-east-1")
    assert reserved.basis == "on-demand rate (capacity reservation)"
    assert spot.basis == "on-demand rate (spot maximum)"
    assert reserved.cost_per_hour_usd == spot.cost_per_hour_usd == pytest.approx(3 * 55.04)


def test_us_west_2_is_not_priced_from_us_east_1() -> None:
    fleets = [{"name": "a", "instanceType": "p5.48xlarge", "count": 2}]
    east, west = summary("us-east-1", fleets), summary("us-west-2", fleets)
    assert east["fleets"][0]["cost_per_hour_usd"] == pytest.approx(110.08)
    assert west["fleets"][0]["cost_per_hour_usd"] is None
    assert west["fleets"][0]["price_note"] == "no On-Demand price for p5.48xlarge in us-west-2"


def test_region_without_price_data_yields_null_cost_and_a_note() -> None:
    s = summary("eu-north-1", [{"name": "a", "instanceType": "p5.48xlarge", "count": 2}], storage={"capacityTiB": 10})
    assert s["fleets"][0]["cost_per_hour_usd"] is None and s["fleets"][0]["price_source"] is None
    assert s["storage"]["monthly_cost_usd"] is None and s["storage"]["price_source"] is None
    assert s["cost_per_hour_usd"] is None
    assert "fleet a: no price data for eu-north-1" in s["price_notes"]
    assert any(n.startswith("storage: no FSx for Lustre PERSISTENT_2 price for eu-north-1") for n in s["price_notes"])


def test_total_is_fleets_plus_storage_spread_over_the_month() -> None:
    s = summary(
        "us-east-1",
        [
            {"name": "a", "instanceType": "p5.48xlarge", "count": 2},
            {"name": "b", "instanceType": "g6.8xlarge", "count": 3},
        ],
        storage={"capacityTiB": 10},
    )
    fleets = sum(f["cost_per_hour_usd"] for f in s["fleets"])
    storage = s["storage"]["monthly_cost_usd"]
    assert storage == pytest.approx(12_000 * 0.145)
    assert s["storage"]["price_source"].startswith("C3X: ") and s["storage"]["price_date"] == "2026-09-01"
    assert s["cost_per_hour_usd"] == pytest.approx(fleets + storage / HOURS_PER_MONTH, abs=0.01)
    assert s["cost_per_hour_usd"] > fleets
    assert s["price_notes"] == []


def test_an_unknown_part_makes_the_total_unknown() -> None:
    s = summary("us-east-2", [{"name": "a", "instanceType": "p5.48xlarge", "count": 1, "capacity": BLOCK}])
    assert s["fleets"][0]["cost_per_hour_usd"] == pytest.approx(39.33)
    assert s["cost_per_hour_usd"] == pytest.approx(39.33)
    s = summary("us-east-2", [{"name": "a", "instanceType": "p5.48xlarge", "count": 1}])
    assert s["cost_per_hour_usd"] is None and s["price_notes"] == [
        "fleet a: no On-Demand price for p5.48xlarge in us-east-2"
    ]
