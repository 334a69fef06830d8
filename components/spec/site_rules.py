"""Rules for `aifactory:site` and the fleets' power caps: every one names the config path it is about.

The last rule runs the placement planner, so a site that cannot hold the fleets is reported before
any resource exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ..catalog.hardware import hardware_model, known_hardware, whole_rack
from ..catalog.instance_types import Accelerator
from .errors import ConfigIssue, config_path
from .numbers import MAX_PUE, MIN_PUE
from .rules import Rule, repeated_names
from .site import AWS_REGION_SWITCH, COOLING_LIMIT_KW, COOLING_RANK, ROOT_SWITCH, DatahallSite, Rack

if TYPE_CHECKING:
    from .model import FactorySpec

# Rack and block names become Kubernetes label values and Slurm switch names.
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?\Z")


def _datahall(spec: FactorySpec) -> DatahallSite | None:
    return spec.site if isinstance(spec.site, DatahallSite) else None


def _rack_paths(site: DatahallSite) -> list[tuple[Rack, tuple[str | int, ...]]]:
    """Each rack with the config path its values come from (the defaults in the short form)."""
    if isinstance(site.racks, list):
        return [(r, ("site", "racks", i)) for i, r in enumerate(site.racks)]
    return [(r, ("site", "rackDefaults")) for r in site.rack_list()[:1]]


def site_racks_named_uniquely(spec: FactorySpec) -> Iterator[ConfigIssue]:
    site = _datahall(spec)
    if site is None or not isinstance(site.racks, list):
        return
    yield from repeated_names(
        (r.name for r in site.racks),
        "racks",
        lambda i: config_path("site", "racks", i, "name"),
        "give every rack its own name",
    )
    blocks = {r.block for r in site.racks}
    for i, rack in enumerate(site.racks):
        path = config_path("site", "racks", i, "name")
        for key, value in (("name", rack.name), ("block", rack.block)):
            if not _LABEL_VALUE.match(value):
                yield ConfigIssue(
                    config_path("site", "racks", i, key),
                    f"'{value}' cannot be a Kubernetes label value or Slurm switch name",
                    "use up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                )
        if rack.name in blocks or rack.name in _RESERVED_SWITCHES:
            yield ConfigIssue(
                path,
                f"'{rack.name}' is also the name of a network block or of the switch '{rack.name}' the tree reserves",
                "name racks and blocks differently: they are switches of the same topology tree",
            )
    for reserved in _RESERVED_SWITCHES:
        if reserved in blocks:
            index = next(i for i, r in enumerate(site.racks) if r.block == reserved)
            yield ConfigIssue(
                config_path("site", "racks", index, "block"),
                f"'{reserved}' is reserved for a switch of the topology tree",
                "choose another block name",
            )


_RESERVED_SWITCHES = (ROOT_SWITCH, AWS_REGION_SWITCH)
"""The tree's root, and the leaf of a hall stack's EC2 nodes (`planning.placement._plan_hall_and_aws`)."""


def site_racks_positive(spec: FactorySpec) -> Iterator[ConfigIssue]:
    site = _datahall(spec)
    if site is None:
        return
    if isinstance(site.racks, int) and site.racks < 1:
        yield ConfigIssue(config_path("site", "racks"), f"{site.racks} racks", "give at least one rack")
    for rack, at in _rack_paths(site):
        if rack.power_kw <= 0:
            yield ConfigIssue(
                config_path(*at, "powerKw"),
                f"{rack.power_kw} kW is not a positive power",
                "set the rack's power in kW, e.g. 40",
            )
        if rack.rack_units <= 0:
            yield ConfigIssue(
                config_path(*at, "rackUnits"),
                f"{rack.rack_units} is not a positive number of units",
                "set the rack's usable U, e.g. 42",
            )
        elif site.reserved_for(rack) >= rack.rack_units:
            own = isinstance(site.racks, list) and rack.reserved_units is not None
            yield ConfigIssue(
                config_path(*at, "reservedUnits") if own else config_path("site", "reservedUnits"),
                f"{site.reserved_for(rack)} reserved units leave no room for servers in the {rack.rack_units}U "
                f"rack '{rack.name}'",
                f"reserve fewer than {rack.rack_units} units, or use taller racks",
            )


def site_headroom_and_pue(spec: FactorySpec) -> Iterator[ConfigIssue]:
    site = _datahall(spec)
    if site is None:
        return
    if not 0 <= site.headroom_pct <= 50:
        yield ConfigIssue(
            config_path("site", "headroomPct"),
            f"{site.headroom_pct}% is outside 0-50",
            "keep 0-50% of every rack's power free, e.g. 10",
        )
    if site.pue < MIN_PUE:
        yield ConfigIssue(
            config_path("site", "pue"),
            f"{site.pue} is below {MIN_PUE} (a facility cannot use less power than its IT load)",
            "set the facility's PUE, e.g. 1.3",
        )
    elif site.pue > MAX_PUE:
        yield ConfigIssue(
            config_path("site", "pue"),
            f"{site.pue} is above {MAX_PUE}, more overhead than any surveyed data hall (numbers.py)",
            "set the facility's PUE, e.g. 1.3 (facility power / IT power)",
        )


def site_cooling_removes_rack_power(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """A rack's power beyond what its cooling class typically removes needs a stronger class."""
    site = _datahall(spec)
    if site is None:
        return
    for rack, at in _rack_paths(site):
        limit = COOLING_LIMIT_KW[rack.cooling]
        if limit is not None and rack.power_kw > limit:
            stronger = [c for c, r in COOLING_RANK.items() if r > COOLING_RANK[rack.cooling]]
            yield ConfigIssue(
                config_path(*at, "powerKw"),
                f"{rack.power_kw} kW is more than {rack.cooling} cooling typically removes (about {limit:g} kW)",
                f"set `cooling` to {' or '.join(stronger)}, or lower `powerKw` to {limit:g}",
            )


def power_limit_issues(
    acc: Accelerator, model: str, path: str, key: str, watts: Iterable[tuple[str, int]]
) -> Iterator[ConfigIssue]:
    """What a GPU takes as a power limit (`nvidia-smi -pl`, from its minimum to its board power): one issue
    when it cannot be capped at all, else one per value outside that range (`<path>.<field>`)."""
    if not acc.power_cappable:
        yield ConfigIssue(path, f"{acc.model} accelerators of {model} cannot be power-capped", f"remove `{key}`")
        return
    for field, value in watts:
        if not acc.power_limit_min_w <= value <= acc.tdp_w:
            yield ConfigIssue(
                f"{path}.{field}",
                f"{value} W is outside what {acc.model} accepts ({acc.power_limit_min_w}-{acc.tdp_w} W)",
                f"use a limit between {acc.power_limit_min_w} and {acc.tdp_w} W",
            )


def fleet_power_caps_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """`gpuPowerCapW` bounds of a data hall's fleets (on AWS the bounds are refused, `placement_rules`)."""
    if _datahall(spec) is None:
        return
    for i, fleet in enumerate(spec.fleets):
        bounds = fleet.gpu_power_cap_w
        entry = known_hardware(fleet)
        if bounds is None or entry is None:
            continue
        acc = entry.accelerator
        path = config_path("fleets", i, "gpuPowerCapW")
        if acc.power_cappable and bounds.min > bounds.max:
            yield ConfigIssue(path, f"min {bounds.min} W is above max {bounds.max} W", "swap them or make min <= max")
        yield from power_limit_issues(
            acc, hardware_model(fleet), path, "gpuPowerCapW", (("min", bounds.min), ("max", bounds.max))
        )


def _lowest_node_kw(spec: FactorySpec) -> list[tuple[int, str, float, int, int]]:
    """Per known fleet: index, name, node power at its lowest allowed cap (kW), rack units, cooling rank."""
    out = []
    for i, fleet in enumerate(spec.fleets):
        # Only hybrid fleets are racked in a data hall; EC2 fleets are placed on AWS.
        entry = known_hardware(fleet) if fleet.kind == "hybrid" else None
        if entry is None:
            continue
        full = fleet.node_power_kw if fleet.node_power_kw is not None else entry.node_power_kw.max
        acc = entry.accelerator
        bounds = fleet.gpu_power_cap_w
        low = acc.tdp_w if bounds is None or not acc.power_cappable else max(bounds.min, acc.power_limit_min_w)
        out.append(
            (
                i,
                fleet.name,
                full - acc.count * (acc.tdp_w - low) / 1000,
                0 if whole_rack(entry) else entry.rack_units,
                COOLING_RANK[entry.cooling],
            )
        )
    return out


def site_cooling_classes_present(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Hardware that needs liquid (or rear-door) cooling needs racks of that class."""
    site = _datahall(spec)
    if site is None:
        return
    best = max((COOLING_RANK[r.cooling] for r in site.rack_list()), default=-1)
    for i, name, _, _, rank in _lowest_node_kw(spec):
        if rank > best:
            need = next(c for c, r in COOLING_RANK.items() if r == rank)
            fleet = spec.fleets[i]
            yield ConfigIssue(
                config_path("fleets", i, "server"),
                f"'{fleet.server}' of fleet '{name}' needs {need} cooling and the site has no {need}-cooled racks",
                f"add racks with `cooling: {need}` to `aifactory:site.racks`, or choose air-cooled hardware",
            )


def site_racks_hold_a_node(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Every rack must hold at least one node of some fleet its cooling class accepts."""
    site = _datahall(spec)
    if site is None:
        return
    fleets = _lowest_node_kw(spec)
    if not fleets:
        return
    for rack, at in _rack_paths(site):
        if rack.power_kw <= 0 or rack.rack_units <= 0:
            continue
        budget = site.usable_kw(rack)
        units = site.server_units(rack)
        fits = [f for f in fleets if f[4] <= COOLING_RANK[rack.cooling] and f[3] <= units]
        if any(kw <= budget + 1e-9 for _, _, kw, _, _ in fits):
            continue
        smallest = min((f for f in fleets if f[4] <= COOLING_RANK[rack.cooling]), key=lambda f: f[2], default=None)
        what = (
            "no fleet's hardware is allowed in its cooling class"
            if smallest is None
            else f"the smallest node it may take (fleet '{smallest[1]}') needs {smallest[2]:.2f} kW and {smallest[3]}U"
        )
        yield ConfigIssue(
            config_path(*at, "powerKw"),
            f"rack '{rack.name}' can use {budget:.2f} kW after {site.headroom_pct:g}% headroom "
            f"and holds no node: {what}",
            "raise the rack's power or units, lower `headroomPct`, or remove the rack",
        )


SITE_RULES: tuple[Rule, ...] = (
    site_racks_named_uniquely,
    site_racks_positive,
    site_headroom_and_pue,
    site_cooling_removes_rack_power,
    fleet_power_caps_valid,
    site_cooling_classes_present,
    site_racks_hold_a_node,
)
