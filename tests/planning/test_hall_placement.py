"""Data-hall placement of the customer's own servers: racks, U positions, reserved units, rack-scale
units, EC2 fleets on AWS next to the hall, and site-too-small errors at their config paths."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.planning.factory_plan import plan_from_config
from aifactory.planning.placement import LABEL_BLOCK, LABEL_RACK, PlacementError, plan_placement
from aifactory.planning.topology import node_labels, slurm_topology_conf
from aifactory.schedulers.kubernetes_manifests import FLEET_LABEL
from aifactory.spec.errors import ConfigError
from aifactory.spec.model import FactorySpec

from tests.stackfiles import PINNED_IMAGES


def spec(fleets: list[dict[str, Any]], site: dict[str, Any]) -> FactorySpec:
    return FactorySpec.model_validate({"region": "us-east-1", "profile": "commercial", "fleets": fleets, "site": site})


def dgx(name: str = "train", count: int = 4, server: str = "dgx-b200", **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": "hybrid", "server": server, "count": count, **kw}


def rack(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "powerKw": 75, "cooling": "rear-door", "rackUnits": 48, **kw}


def test_servers_fill_from_u1_and_leave_the_reserved_units_free() -> None:
    plan = plan_placement(spec([dgx(count=4)], {"kind": "datahall", "racks": [rack("a")], "headroomPct": 0}))
    (load,) = plan.racks
    # 48U less the 2 reserved at the top: four 10U DGX B200 at U1, U11, U21, U31; U47-U48 stay free.
    assert [(s.u_position, s.rack_units) for s in load.slots] == [(1, 10), (11, 10), (21, 10), (31, 10)]
    assert plan.domains[0].server == "dgx-b200" and plan.domains[0].instance_type is None


def test_reserved_units_limit_what_a_rack_holds() -> None:
    # 4 x 10U fit 42U only when at most 2U are reserved; 3U reserved leaves 39U: three servers.
    site = {"kind": "datahall", "racks": [rack("a", rackUnits=42), rack("b", rackUnits=42)], "headroomPct": 0}
    assert [r.nodes for r in plan_placement(spec([dgx(count=4)], site)).racks] == [4, 0]
    tight = {**site, "reservedUnits": 3}
    assert sorted(r.nodes for r in plan_placement(spec([dgx(count=4)], tight)).racks) == [1, 3]


def test_every_server_gets_rack_and_block_labels_and_the_flavor_label() -> None:
    site = {"kind": "datahall", "racks": [rack("a", block="b1"), rack("b", block="b2")], "headroomPct": 0}
    plan = plan_placement(spec([dgx(count=6, labels={"team": "lab"})], site))
    labels = node_labels(plan)
    assert len(labels) == 6
    for host, got in labels.items():
        slot_rack = next(r for r in plan.racks if any(s.hostname == host for s in r.slots))
        assert got[LABEL_RACK] == slot_rack.name and got[LABEL_BLOCK] == slot_rack.block
        assert got[FLEET_LABEL] == "train" and got["team"] == "lab"


def test_the_switch_tree_is_the_customer_s_racks_and_blocks() -> None:
    site = {"kind": "datahall", "racks": [rack("a", block="b1"), rack("b", block="b2")], "headroomPct": 0}
    conf = slurm_topology_conf(plan_placement(spec([dgx(count=6)], site)).switch_tree)
    assert "SwitchName=a Nodes=train-[0001-0004]" in conf and "SwitchName=b Nodes=train-[0005-0006]" in conf
    assert "SwitchName=fabric Switches=b[1-2]" in conf


def test_ec2_fleets_next_to_a_hall_are_placed_on_aws_not_racked() -> None:
    fleets = [dgx(count=4), {"name": "cloud", "instanceType": "p5.48xlarge", "count": 2}]
    plan = plan_placement(spec(fleets, {"kind": "datahall", "racks": [rack("a")], "headroomPct": 0}))
    racked = {s.hostname for r in plan.racks for s in r.slots}
    assert racked == {f"train-000{i}" for i in range(1, 5)}
    (cloud,) = plan.domains_for("cloud")
    assert cloud.placement == "cluster" and cloud.racks == () and cloud.server is None
    assert {g.name for g in plan.placement_groups} == {"cloud-cluster"}
    conf = slurm_topology_conf(plan.switch_tree)
    assert "SwitchName=aws-region Nodes=cloud-[0001-0002]" in conf
    assert "SwitchName=fabric Switches=aws-region,block-1" in conf


def test_a_rack_scale_unit_takes_a_whole_liquid_rack() -> None:
    site = {
        "kind": "datahall",
        "racks": [
            rack("air", cooling="air", powerKw=40),
            *(rack(f"l{i}", cooling="liquid", powerKw=160) for i in range(3)),
        ],
        "headroomPct": 10,
    }
    plan = plan_placement(spec([dgx("nvl", 2, "gb200-nvl72"), dgx("b", 2)], site))
    nvl_racks = [r for r in plan.racks if any(s.hostname.startswith("nvl-") for s in r.slots)]
    assert len(nvl_racks) == 2 and all(r.cooling == "liquid" and r.nodes == 1 for r in nvl_racks)
    assert all(r.slots[0].u_position == 1 and r.slots[0].rack_units == r.rack_units for r in nvl_racks)


def test_power_caps_raise_what_rear_door_racks_hold() -> None:
    # 54 kW usable (60 kW, 10% headroom): three DGX B200 at 14.3 kW, four at a 900 W GPU cap (13.5 kW).
    site = {"kind": "datahall", "racks": [rack(f"r{i}", powerKw=60) for i in range(8)]}
    plan = plan_placement(spec([dgx(count=32, gpuPowerCapW={"min": 800, "max": 1000})], site))
    assert {d.gpu_power_cap_w for d in plan.domains} == {900}
    assert all(r.nodes == 4 for r in plan.racks)


def config(fleets: list[dict[str, Any]], site: dict[str, Any]) -> dict[str, Any]:
    return {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": fleets,
        "aifactory:site": site,
    }


def refusal(fleets: list[dict[str, Any]], site: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        plan_from_config(config(fleets, site), "t")
    return {i.path: f"{i.problem} Fix: {i.fix}" for i in exc.value.issues}


def test_a_site_short_of_power_says_how_many_kw_and_racks() -> None:
    # Two 60 kW racks (54 kW usable at 10% headroom) hold three 14.3 kW DGX B200 each: 6 of 10.
    found = refusal([dgx(count=10)], {"kind": "datahall", "racks": [rack("a", powerKw=60), rack("b", powerKw=60)]})
    text = found["aifactory:site.racks"]
    assert "the site cannot hold fleet 'train'" in text and "kW" in text and "limited by power" in text


def test_a_site_short_of_units_says_so() -> None:
    tall = {"kind": "datahall", "racks": [rack("a", powerKw=75, rackUnits=24)], "headroomPct": 0}
    text = refusal([dgx(count=4)], tall)["aifactory:site.racks"]
    assert "limited by rack units" in text and "U more" in text


def test_a_site_without_the_cooling_class_names_it() -> None:
    found = refusal([dgx("nvl", 1, "gb200-nvl72")], {"kind": "datahall", "racks": [rack("a")]})
    assert "needs liquid cooling" in found["aifactory:fleets[0].server"]
    assert "cooling: liquid" in found["aifactory:fleets[0].server"]


def test_placement_error_for_a_rack_too_small_for_one_server() -> None:
    site = {"kind": "datahall", "racks": [rack("a", powerKw=12, cooling="air")], "headroomPct": 0}
    with pytest.raises(PlacementError) as exc:
        plan_placement(spec([dgx(count=1)], site))
    assert "no air-or-better rack can hold one node" in str(exc.value) and "reservedUnits" in str(exc.value)
