"""`aifactory:site`: where nodes go — EC2 placement domains or the racks of a data hall."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import SpecModel

CoolingClass = Literal["air", "rear-door", "liquid"]


class AwsSite(SpecModel):
    kind: Literal["aws"] = "aws"
    domain_power_kw: float | None = Field(
        default=None, gt=0, description="Optional power envelope per placement domain (kW)."
    )
    max_nodes_per_domain: int | None = Field(
        default=None, ge=1, description="Split a fleet into placement domains of at most this many nodes."
    )


class Rack(SpecModel):
    name: str = Field(min_length=1)
    hall: str = "hall-1"
    row: str = "row-1"
    power_kw: float = Field(description="Power the rack can deliver and its cooling can remove (kW).")
    cooling: CoolingClass = "air"
    rack_units: int = 42
    block: str = Field(default="block-1", description="Network block (leaf group) the rack belongs to.")


class RackDefaults(SpecModel):
    power_kw: float = 40.0
    cooling: CoolingClass = "air"
    rack_units: int = 42


class DatahallSite(SpecModel):
    kind: Literal["datahall"]
    racks: int | list[Rack] = Field(description="A rack count (short form) or the explicit rack list.")
    rack_defaults: RackDefaults = RackDefaults()
    racks_per_block: int = Field(default=16, ge=1, description="Short form: racks per network block.")
    racks_per_row: int = Field(default=10, ge=1, description="Short form: racks per row.")
    headroom_pct: float = Field(default=10.0, description="Power kept free in every rack, percent (0-50).")
    pue: float = Field(default=1.3, description="Power usage effectiveness of the facility (>= 1).")


SiteSpec = Annotated[AwsSite | DatahallSite, Field(discriminator="kind")]
