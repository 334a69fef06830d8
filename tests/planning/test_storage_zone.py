"""Where the file system lives: the pinned zone, else the fleets' one zone; never where fleet sizes say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.planning.factory_plan import plan_from_config
from aifactory.spec import ConfigError, spec_from_config

from tests.stackfiles import PINNED_IMAGES

STORAGE = {"capacityTiB": 10, "throughputGBps": 5}
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def config(fleets: list[dict[str, Any]], storage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:network": {"cidr": "10.0.0.0/16", "availabilityZones": ZONES},
        "aifactory:fleets": fleets,
        "aifactory:storage": {**STORAGE, **(storage or {})},
        "aifactory:images": PINNED_IMAGES,
    }


def fleet(name: str, instance_type: str, count: int, zone: str) -> dict[str, Any]:
    return {"name": name, "instanceType": instance_type, "count": count, "availabilityZone": zone}


def test_fleets_in_one_zone_take_the_file_system_there() -> None:
    fleets = [fleet("small", "p5.48xlarge", 2, "us-east-1c"), fleet("big", "p5.48xlarge", 12, "us-east-1c")]
    assert plan_from_config(config(fleets), "t").storage_zone == "us-east-1c"


def test_reordering_the_network_zones_moves_neither_an_unpinned_fleet_nor_the_file_system() -> None:
    unpinned = {"name": "train", "instanceType": "p5.48xlarge", "count": 2}
    plans = []
    for zones in (["us-east-1a", "us-east-1b", "us-east-1c"], ["us-east-1c", "us-east-1b", "us-east-1a"]):
        cfg = config([unpinned])
        cfg["aifactory:network"]["availabilityZones"] = zones
        plans.append(plan_from_config(cfg, "t"))
    first, reordered = plans
    assert first.fleet_zones == reordered.fleet_zones
    assert first.storage_zone == reordered.storage_zone == first.fleet_zones["train"]


@pytest.mark.parametrize(
    ("fleets", "most_gpus"),
    [
        # 2 x p5 (16 GPUs) in 1a, 12 x p5 (96 GPUs) in 1c.
        ([fleet("small", "p5.48xlarge", 2, "us-east-1a"), fleet("big", "p5.48xlarge", 12, "us-east-1c")], "us-east-1c"),
        # GPUs, not nodes: 6 x g6.8xlarge is 6 GPUs, 2 x p5 is 16.
        ([fleet("many", "g6.8xlarge", 6, "us-east-1a"), fleet("dense", "p5.48xlarge", 2, "us-east-1b")], "us-east-1b"),
        # A tie names the first fleet in config order.
        (
            [fleet("first", "p5.48xlarge", 4, "us-east-1b"), fleet("second", "p5.48xlarge", 4, "us-east-1a")],
            "us-east-1b",
        ),
    ],
)
def test_fleets_in_several_zones_need_the_zone_pinned(fleets: list[dict[str, Any]], most_gpus: str) -> None:
    """Following the fleet with the most GPUs would move (replace) the file system when fleets are
    added or resized: the plan refuses and names the zone 0.1 chose, for the user to pin."""
    with pytest.raises(ConfigError) as info:
        plan_from_config(config(fleets), "t")
    (issue,) = [i for i in info.value.issues if i.path == "aifactory:storage.availabilityZone"]
    assert "not pinned" in issue.problem
    assert f"availabilityZone: {most_gpus}" in issue.fix
    pinned = plan_from_config(config(fleets, {"availabilityZone": most_gpus}), "t")
    assert pinned.storage_zone == most_gpus


def test_a_configured_zone_keeps_the_file_system_where_it_is() -> None:
    fleets = [fleet("small", "p5.48xlarge", 2, "us-east-1a"), fleet("big", "p5.48xlarge", 12, "us-east-1c")]
    plan = plan_from_config(config(fleets, {"availabilityZone": "us-east-1a"}), "t")
    assert plan.storage_zone == "us-east-1a"


@pytest.mark.parametrize("zone", ["us-east-1d", "eu-west-1a"])
def test_a_configured_zone_outside_the_network_is_refused(zone: str) -> None:
    cfg = config([fleet("big", "p5.48xlarge", 4, "us-east-1c")], {"availabilityZone": zone})
    spec_from_config(cfg)  # only the planner knows the network's zones
    with pytest.raises(ConfigError) as info:
        plan_from_config(cfg, "t")
    (issue,) = [i for i in info.value.issues if i.path == "aifactory:storage.availabilityZone"]
    assert zone in issue.problem and "us-east-1a, us-east-1b, us-east-1c" in issue.problem
    assert "aifactory:network.availabilityZones" in issue.fix


def test_a_configured_zone_is_checked_against_derived_network_zones() -> None:
    """Without `network.availabilityZones` the network's zones are the fleets' (padded to two)."""
    cfg = config([fleet("big", "p5.48xlarge", 4, "us-east-1c")], {"availabilityZone": "us-east-1f"})
    del cfg["aifactory:network"]
    with pytest.raises(ConfigError, match=r"storage\.availabilityZone"):
        plan_from_config(cfg, "t")


def test_commercial_us_stack_keeps_its_file_system_with_the_p5_fleet() -> None:
    # 96 p5 nodes (768 GPUs) in us-east-1c, 64 p5en nodes (512 GPUs) in us-east-1a: the stack pins
    # the zone earlier versions chose.
    stack = yaml.safe_load(Path("stacks/Pulumi.commercial-us.yaml").read_text())["config"]
    assert plan_from_config(stack, "commercial-us").storage_zone == "us-east-1c"
