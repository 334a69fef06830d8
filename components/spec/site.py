"""`aifactory:site`: where nodes go — EC2 placement domains or the racks of a data hall."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import SpecModel

CoolingClass = Literal["air", "rear-door", "liquid"]

COOLING_RANK: dict[str, int] = {"air": 0, "rear-door": 1, "liquid": 2}
"""Cooling classes from weakest to strongest: hardware needing class X fits racks of class X or above."""

# Heat a rack of each cooling class can typically remove. Sources: DESIGN.md domain facts; the
# industry range "optimized air cooling with full containment serves 20-40 kW per rack"
# (coolnetpower.com, Ultimate guide to AI data center cooling); rear-door heat exchangers
# "20-80 kW per door" and direct-to-chip "50-150 kW per rack" (crac.services, In-row vs perimeter
# CRAC for high-density racks). We take the top of each typical range; liquid has no practical
# ceiling at rack scale (GB200 NVL72 racks run at about 120-130 kW), so its limit is None.
COOLING_LIMIT_KW: dict[str, float | None] = {"air": 40.0, "rear-door": 75.0, "liquid": None}

ROOT_SWITCH = "fabric"
"""The root of the site's switch tree; racks and blocks are its other switches, so none may share the name."""


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

    def rack_list(self) -> list[Rack]:
        """The explicit racks; the short form expands to `rack-0001`.. in rows and blocks of the set sizes."""
        if isinstance(self.racks, list):
            return list(self.racks)
        d = self.rack_defaults
        width = max(4, len(str(self.racks)))
        return [
            Rack(
                name=f"rack-{i + 1:0{width}d}",
                row=f"row-{i // self.racks_per_row + 1:03d}",
                power_kw=d.power_kw,
                cooling=d.cooling,
                rack_units=d.rack_units,
                block=f"block-{i // self.racks_per_block + 1:03d}",
            )
            for i in range(max(self.racks, 0))
        ]

    def usable_kw(self, rack: Rack) -> float:
        """What a rack may draw: its power, at most what its cooling class removes, less the headroom."""
        limit = COOLING_LIMIT_KW[rack.cooling]
        power = rack.power_kw if limit is None else min(rack.power_kw, limit)
        return max(power, 0.0) * (1 - self.headroom_pct / 100)


SiteSpec = Annotated[AwsSite | DatahallSite, Field(discriminator="kind")]
