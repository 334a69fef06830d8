"""What a fleet costs per hour, priced from its region's table and labelled with how it was priced.

Pure: no Pulumi. A figure the region's table does not have is unknown (`None` with a note), never
another region's or another purchase option's figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..catalog.prices import Price, region_prices
from ..spec.model import CapacityType

PriceBasis = Literal[
    "on-demand",
    "capacity-block",
    "on-demand rate (capacity reservation)",
    "on-demand rate (spot maximum)",
    "owned",
]

# EC2 user guide, "Capacity Reservation pricing and billing": a Capacity Reservation is charged at
# the equivalent On-Demand rate whether instances run in it or not.
# EC2 user guide, "Spot Instances" / "How Spot Instances work": the maximum price defaults to the
# On-Demand price, so the On-Demand rate is what a spot fleet costs at most.
# EC2 Capacity Blocks pricing page (https://aws.amazon.com/ec2/capacityblocks/pricing/): a block is
# charged its reservation fee, set by supply and demand, not the On-Demand rate.
BASIS: dict[CapacityType, PriceBasis] = {
    "on-demand": "on-demand",
    "capacity-reservation": "on-demand rate (capacity reservation)",
    "spot": "on-demand rate (spot maximum)",
    "capacity-block": "capacity-block",
}


@dataclass(frozen=True)
class FleetCost:
    cost_per_hour_usd: float | None
    basis: PriceBasis
    source: str | None
    date: str | None
    note: str | None
    """Why the cost is unknown, or how an estimated figure was estimated."""


OWNED = FleetCost(0.0, "owned", "customer-owned servers: no EC2 price", None, None)


def fleet_cost(instance_type: str, count: int, capacity: CapacityType, region: str) -> FleetCost:
    basis = BASIS[capacity]
    table = region_prices(region)
    if table is None:
        return FleetCost(None, basis, None, None, f"no price data for {region}")
    rates = table.capacity_block if capacity == "capacity-block" else table.on_demand
    price: Price | None = rates.get(instance_type)
    if price is None:
        kind = "capacity-block rate" if capacity == "capacity-block" else "On-Demand price"
        return FleetCost(None, basis, None, None, f"no {kind} for {instance_type} in {region}")
    note = f"estimate: {price.note}" if price.estimate else (price.note or None)
    return FleetCost(round(count * price.usd, 2), basis, price.source, price.date, note)
