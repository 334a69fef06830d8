"""Install plan CSV and the rack heatmap."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from aifactory.planning.placement import PlacementPlan, plan_placement
from aifactory.planning.thermal import INSTALL_PLAN_COLUMNS, install_plan_csv, write_heatmap
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
