"""Install plan CSV and the rack heatmap."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from aifactory.planning.placement import PlacementPlan, plan_placement
from aifactory.planning.thermal import (
    EMPTY_COLOUR,
    HEAT_STOPS,
    INSTALL_PLAN_COLUMNS,
    heat_colour,
    install_plan_csv,
    rack_used_pct,
    write_heatmap,
)
from aifactory.spec.model import FactorySpec


def datahall_plan() -> PlacementPlan:
    spec = FactorySpec.model_validate(
        {
            "region": "us-east-1",
            "profile": "commercial",
            "fleets": [
                {"name": "train", "kind": "hybrid", "server": "dgx-h100", "count": 50},
                {"name": "inf", "kind": "hybrid", "server": "dgx-a100", "count": 12},
            ],
            "site": {"kind": "datahall", "racks": 30},
        }
    )
    return plan_placement(spec)


def test_install_plan_places_every_server_in_free_units() -> None:
    plan = datahall_plan()
    rows = list(csv.DictReader(io.StringIO(install_plan_csv(plan))))
    assert tuple(rows[0]) == INSTALL_PLAN_COLUMNS
    assert len(rows) == 62 and len({r["hostname"] for r in rows}) == 62
    units: dict[str, set[int]] = {}
    for r in rows:
        used = units.setdefault(r["rack"], set())
        span = set(range(int(r["u_position"]), int(r["u_position"]) + int(r["rack_units"])))
        assert not used & span and max(span) <= 42
        used |= span
    first = rows[0]
    assert (first["hostname"], first["rack"], first["u_position"]) == ("train-0001", "rack-0001", "1")


def test_heatmap_is_a_png(tmp_path: Path) -> None:
    target = write_heatmap(datahall_plan(), tmp_path / "heat.png")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_needs_racks(tmp_path: Path) -> None:
    spec = FactorySpec.model_validate(
        {
            "region": "us-east-1",
            "profile": "commercial",
            "fleets": [{"name": "train", "instanceType": "p5.48xlarge", "count": 2}],
        }
    )
    with pytest.raises(ValueError, match="no data-hall racks"):
        write_heatmap(plan_placement(spec), tmp_path / "x.png")


def test_install_plan_names_the_server_model_and_its_u_range() -> None:
    rows = list(csv.DictReader(io.StringIO(install_plan_csv(datahall_plan()))))
    first = next(r for r in rows if r["hostname"] == "train-0001")
    assert (first["server"], first["instance_type"]) == ("dgx-h100", "")
    assert int(first["u_top"]) == int(first["u_position"]) + int(first["rack_units"]) - 1


def test_heat_colours_show_headroom_from_low_to_high_utilisation() -> None:
    # A packed rack sits at its budget, which keeps the headroom free: with 10% headroom it is at 90% of
    # what it can deliver, so it is not drawn in the limit's red (0.2 drew every packed rack red).
    plan = datahall_plan()
    packed = max(plan.racks, key=lambda r: r.load_kw)
    assert packed.load_kw > 0.85 * packed.budget_kw
    pct = rack_used_pct(packed)
    assert pct is not None and pct < 91
    assert heat_colour(pct) != heat_colour(100.0) == HEAT_STOPS[-1][1]
    # Low, middle and high utilisation get distinct colours that redden as power rises.
    shades = [heat_colour(p) for p in (0, 20, 40, 60, 80, 100)]
    assert len(set(shades)) == len(shades)
    reds = [int(c[1:3], 16) for c in shades[:4]]
    greens = [int(c[3:5], 16) for c in shades[3:]]
    assert reds == sorted(reds) and greens == sorted(greens, reverse=True)
    assert heat_colour(None) == EMPTY_COLOUR and rack_used_pct(next(r for r in plan.racks if not r.nodes)) is None
