"""Thermal report of a data-hall plan: a rack heatmap (PNG) and the install plan (CSV).

matplotlib is an optional dependency: it is imported only when a heatmap is drawn.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from .placement import Domain, PlacementPlan

# Bands of rack power as a share of its budget: comfortable, warm, near the limit, at the limit.
HEAT_BANDS_PCT = (0.0, 50.0, 70.0, 85.0, 95.0, 100.0)
HEAT_COLOURS = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")
EMPTY_COLOUR = "#d9d9d9"
_ANNOTATE_MAX_RACKS = 400

INSTALL_PLAN_COLUMNS = (
    "hostname",
    "hall",
    "row",
    "rack",
    "u_position",
    "rack_units",
    "block",
    "fleet",
    "domain",
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
                    slot.rack_units,
                    rack.block,
                    d.fleet,
                    d.name,
                    d.instance_type,
                    "" if d.gpu_power_cap_w is None else d.gpu_power_cap_w,
                    f"{d.node_power_kw:.3f}",
                )
            )
    return out.getvalue()


def write_heatmap(plan: PlacementPlan, path: Path | str) -> Path:
    """Draw every rack as a cell (one line per hall/row) coloured by power against its budget.

    Raises ValueError for a plan without racks (an AWS site) and ImportError without matplotlib.
    """
    if not plan.racks:
        raise ValueError("the plan has no data-hall racks to draw (AWS sites have placement domains)")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap

    rows: dict[tuple[str, str], list[int]] = {}
    for i, rack in enumerate(plan.racks):
        rows.setdefault((rack.hall, rack.row), []).append(i)
    width = max(len(v) for v in rows.values())
    grid = [[math.nan] * width for _ in rows]
    for y, members in enumerate(rows.values()):
        for x, i in enumerate(members):
            rack = plan.racks[i]
            if rack.nodes:
                grid[y][x] = min(100.0, 100 * rack.load_kw / rack.budget_kw) if rack.budget_kw else 100.0

    cmap = ListedColormap(HEAT_COLOURS).with_extremes(bad=EMPTY_COLOUR)
    norm = BoundaryNorm(HEAT_BANDS_PCT, cmap.N)
    fig_w = min(40.0, 2.5 + 0.8 * width)
    fig_h = min(40.0, 1.5 + 0.4 * len(rows))
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    image = ax.imshow(grid, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(rows)), [f"{hall} / {row}" for hall, row in rows])
    ax.set_xlabel("rack position in row")
    summary = plan.summary()
    fullest = summary["fullest_rack"]
    title = f"Rack power against budget — IT {summary['it_power_kw']:.0f} kW"
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
    bar = fig.colorbar(image, ax=ax, ticks=HEAT_BANDS_PCT)
    bar.set_label("rack power, % of budget (grey: empty)")
    fig.tight_layout()
    target = Path(path)
    fig.savefig(target, dpi=120)
    plt.close(fig)
    return target
