"""Thermal report of a data-hall plan: a rack heatmap (PNG) and the install plan (CSV).

matplotlib is an optional dependency: it is imported only when a heatmap is drawn.
"""

from __future__ import annotations

import csv
import io
import math
from itertools import pairwise
from pathlib import Path

from ..spec.site import COOLING_LIMIT_KW
from .placement import Domain, PlacementPlan, RackLoad

# The heatmap's colour scale: rack power as a share of what the rack can deliver and its cooling remove
# (before headroom), from cool green through yellow to red, linear between the stops. The planner fills
# racks only up to the budget (that share less the headroom), so a packed rack shows how much headroom it
# keeps (e.g. orange at 90% with 10% headroom) instead of every packed rack showing the same red; red
# is reserved for a rack at its physical limit.
HEAT_STOPS: tuple[tuple[float, str], ...] = (
    (0.0, "#1a9850"),
    (40.0, "#91cf60"),
    (65.0, "#fee08b"),
    (85.0, "#fc8d59"),
    (100.0, "#d73027"),
)
EMPTY_COLOUR = "#d9d9d9"
_ANNOTATE_MAX_RACKS = 400


def rack_capacity_kw(rack: RackLoad) -> float:
    """What the rack can deliver and its cooling class remove, before headroom."""
    limit = COOLING_LIMIT_KW.get(rack.cooling)
    return rack.power_kw if limit is None else min(rack.power_kw, limit)


def rack_used_pct(rack: RackLoad) -> float | None:
    """Rack power as a share of its capacity (0-100); None for an empty rack."""
    if not rack.nodes:
        return None
    capacity = rack_capacity_kw(rack)
    return min(100.0, 100 * rack.load_kw / capacity) if capacity > 0 else 100.0


def heat_colour(pct: float | None) -> str:
    """The heatmap colour of a rack at `pct` of its capacity (`EMPTY_COLOUR` for an empty rack)."""
    if pct is None or math.isnan(pct):
        return EMPTY_COLOUR
    pct = min(max(pct, 0.0), 100.0)
    for (x0, c0), (x1, c1) in pairwise(HEAT_STOPS):
        if pct <= x1:
            t = (pct - x0) / (x1 - x0)
            rgb = [round(a + (b - a) * t) for a, b in zip(_rgb(c0), _rgb(c1), strict=True)]
            return "#" + "".join(f"{v:02x}" for v in rgb)
    return HEAT_STOPS[-1][1]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


INSTALL_PLAN_COLUMNS = (
    "hostname",
    "hall",
    "row",
    "rack",
    "u_position",
    "u_top",
    "rack_units",
    "block",
    "fleet",
    "domain",
    "server",
    "instance_type",
    "gpu_power_cap_w",
    "node_power_kw",
)


def install_plan_csv(plan: PlacementPlan) -> str:
    """Server -> hall/row/rack/U position, one line per node in rack order, bottom U first."""
    by_host: dict[str, Domain] = {h: d for d in plan.domains for h in d.hostnames}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(INSTALL_PLAN_COLUMNS)
    for rack in plan.racks:
        for slot in rack.slots:
            d = by_host[slot.hostname]
            writer.writerow(
                (
                    slot.hostname,
                    rack.hall,
                    rack.row,
                    rack.name,
                    slot.u_position,
                    slot.u_position + slot.rack_units - 1,
                    slot.rack_units,
                    rack.block,
                    d.fleet,
                    d.name,
                    d.server or "",
                    d.instance_type or "",
                    "" if d.gpu_power_cap_w is None else d.gpu_power_cap_w,
                    f"{d.node_power_kw:.3f}",
                )
            )
    return out.getvalue()


def write_heatmap(plan: PlacementPlan, path: Path | str) -> Path:
    """Draw every rack as a cell (one line per hall/row) coloured by its power against its capacity.

    Raises ValueError for a plan without racks (an AWS site) and ImportError without matplotlib.
    """
    if not plan.racks:
        raise ValueError("the plan has no data-hall racks to draw (AWS sites have placement domains)")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap, Normalize

    rows: dict[tuple[str, str], list[int]] = {}
    for i, rack in enumerate(plan.racks):
        rows.setdefault((rack.hall, rack.row), []).append(i)
    width = max(len(v) for v in rows.values())
    grid = [[math.nan] * width for _ in rows]
    for y, members in enumerate(rows.values()):
        for x, i in enumerate(members):
            pct = rack_used_pct(plan.racks[i])
            if pct is not None:
                grid[y][x] = pct

    # The same stops as `heat_colour`, so the drawing and the tested mapping agree.
    cmap = LinearSegmentedColormap.from_list("aifactory-heat", [(x / 100, c) for x, c in HEAT_STOPS]).with_extremes(
        bad=EMPTY_COLOUR
    )
    norm = Normalize(0.0, 100.0)
    fig_w = min(40.0, 2.5 + 0.8 * width)
    fig_h = min(40.0, 1.5 + 0.4 * len(rows))
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    image = ax.imshow(grid, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(rows)), [f"{hall} / {row}" for hall, row in rows])
    ax.set_xlabel("rack position in row")
    summary = plan.summary()
    fullest = summary["fullest_rack"]
    title = f"Rack power against capacity — IT {summary['it_power_kw']:.0f} kW"
    if fullest is not None:
        title += f", fullest {fullest['name']} at {fullest['used_pct']:.0f}%"
    ax.set_title(title)
    if len(plan.racks) <= _ANNOTATE_MAX_RACKS:
        for y, members in enumerate(rows.values()):
            for x, i in enumerate(members):
                rack = plan.racks[i]
                ax.text(
                    x,
                    y,
                    f"{rack.name}\n{rack.load_kw:.0f}/{rack.budget_kw:.0f} kW",
                    ha="center",
                    va="center",
                    fontsize=6,
                )
    bar = fig.colorbar(image, ax=ax, ticks=[x for x, _ in HEAT_STOPS])
    bar.set_label("rack power, % of capacity before headroom (grey: empty)")
    fig.tight_layout()
    target = Path(path)
    fig.savefig(target, dpi=120)
    plt.close(fig)
    return target
