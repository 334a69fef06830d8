"""`aifactory:site`: where nodes go — EC2 placement domains or the racks of a data hall."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict

from .base import SpecModel, unit
from .numbers import (
    MAX_PUE,
    MAX_RACK_POWER_KW,
    MAX_RACK_UNITS,
    MAX_RACKS,
    MIN_PUE,
    Count,
    Integer,
    Number,
)

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

AWS_REGION_SWITCH = "aws-region"
"""The leaf of a data hall's switch tree that holds the stack's EC2 nodes (their EC2 topology is unknown
before launch); no rack or block may share the name."""

ROOT_SWITCH = "fabric"
"""The root of the site's switch tree; racks and blocks are its other switches, so none may share the name."""


class AwsSite(SpecModel):
    """EC2 capacity: where a fleet's nodes go is a capacity choice made per fleet (`fleets[].capacity`,
    `fleets[].placement`), not a site figure. EC2 exposes no rack power or cooling to a customer, so
    the site has no power envelope to place against."""

    kind: Literal["aws"] = Field(default="aws", description="`aws`: nodes on EC2 capacity.")


REMOVED_AWS_SITE_KEYS: dict[str, tuple[str, str]] = {
    "domainPowerKw": (
        "was removed: EC2 exposes no rack power or cooling, so a power envelope per placement domain "
        "bounds nothing real (it only split fleets into partition placement groups, which AWS intends "
        "for fault isolation, not for tightly coupled training)",
        "remove `domainPowerKw`; for fault isolation set the fleet's `placement: {strategy: partition, "
        "partitions: 2-7}`; to run GPUs capped on purpose set the fleet's `gpuPowerLimit: {watts, reason}`",
    ),
    "maxNodesPerDomain": (
        "was removed: on EC2 a fleet's placement is its capacity (reservation, capacity block or one "
        "cluster placement group), not a node count per power domain",
        "remove `maxNodesPerDomain`; for fault isolation set the fleet's `placement: {strategy: partition, "
        "partitions: 2-7}`",
    ),
}
"""`aifactory:site` keys of `kind: aws` that 0.1 accepted, with why they are gone and what to write instead."""


_COOLING = "Cooling class: `air` (up to 40 kW), `rear-door` (up to 75 kW) or `liquid`."


class Rack(SpecModel):
    name: str = Field(min_length=1, description="Rack name, unique in the site.", examples=["r01"])
    hall: str = Field(default="hall-1", description="Data hall the rack stands in.")
    row: str = Field(default="row-1", description="Row the rack stands in.")
    # Power and units at or below zero are reported by site_rules (site_racks_positive) with the rest.
    power_kw: Number = Field(
        le=MAX_RACK_POWER_KW,
        json_schema_extra=unit("kW"),
        description="Power the rack can deliver and its cooling can remove.",
        examples=[120.0],
    )
    cooling: CoolingClass = Field(default="air", description=_COOLING)
    rack_units: Integer = Field(
        default=42, le=MAX_RACK_UNITS, json_schema_extra=unit("U"), description="Height of the rack."
    )
    reserved_units: Integer | None = Field(
        default=None,
        ge=0,
        le=MAX_RACK_UNITS,
        json_schema_extra=unit("U"),
        description="Units at the top of this rack kept for switches and patch panels (default: the site's).",
    )
    block: str = Field(default="block-1", description="Network block (leaf group) the rack belongs to.")


class RackDefaults(SpecModel):
    power_kw: Number = Field(
        default=40.0, le=MAX_RACK_POWER_KW, json_schema_extra=unit("kW"), description="Power of each rack."
    )
    cooling: CoolingClass = Field(default="air", description=_COOLING)
    rack_units: Integer = Field(
        default=42, le=MAX_RACK_UNITS, json_schema_extra=unit("U"), description="Height of each rack."
    )


DEFAULT_RESERVED_UNITS = 2
"""Units kept free at the top of every rack for the top-of-rack leaf and management switches. NVIDIA's
DGX SuperPOD reference architectures put the compute racks' leaf/management switches in the rack itself;
two 1U switches is the common case. Zero-U (vertical) PDUs take no units. Servers fill from U1 upwards."""


class DatahallSite(SpecModel):
    kind: Literal["datahall"] = Field(description="`datahall`: nodes in the racks of a data hall.")
    # The short form expands to one Rack per count (`rack_list`), so the count is bounded before any
    # expansion; the explicit list has the same bound.
    racks: Annotated[int, Strict(), Field(le=MAX_RACKS)] | Annotated[list[Rack], Field(max_length=MAX_RACKS)] = Field(
        json_schema_extra=unit("racks"),
        examples=[24],
        description=f"A rack count (short form, at most {MAX_RACKS:,}) or the explicit rack list.",
    )
    rack_defaults: RackDefaults = Field(
        default=RackDefaults(), description="Short form: the power, cooling and height of every rack."
    )
    racks_per_block: Count = Field(
        default=16, le=MAX_RACKS, json_schema_extra=unit("racks"), description="Short form: racks per network block."
    )
    racks_per_row: Count = Field(
        default=10, le=MAX_RACKS, json_schema_extra=unit("racks"), description="Short form: racks per row."
    )
    headroom_pct: Number = Field(
        default=10.0, json_schema_extra=unit("%"), description="Power kept free in every rack (0-50)."
    )
    reserved_units: Integer = Field(
        default=DEFAULT_RESERVED_UNITS,
        ge=0,
        le=MAX_RACK_UNITS,
        json_schema_extra=unit("U"),
        description="Units at the top of every rack kept for switches and patch panels; servers fill from U1 up.",
    )
    # Ranges of headroom and PUE are site_rules (site_headroom_and_pue).
    pue: Number = Field(
        default=1.3,
        json_schema_extra=unit("ratio"),
        description=f"Power usage effectiveness of the facility ({MIN_PUE}-{MAX_PUE}).",
    )

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

    def reserved_for(self, rack: Rack) -> int:
        return self.reserved_units if rack.reserved_units is None else rack.reserved_units

    def server_units(self, rack: Rack) -> int:
        """Units servers may use: the rack's height less what is reserved at the top."""
        return max(rack.rack_units - self.reserved_for(rack), 0)

    def usable_kw(self, rack: Rack) -> float:
        """What a rack may draw: its power, at most what its cooling class removes, less the headroom."""
        limit = COOLING_LIMIT_KW[rack.cooling]
        power = rack.power_kw if limit is None else min(rack.power_kw, limit)
        return max(power, 0.0) * (1 - self.headroom_pct / 100)


SiteSpec = Annotated[AwsSite | DatahallSite, Field(discriminator="kind")]
