"""Where the file system lives: with the fleet that has the most GPUs, unless the stack pins it."""

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


def test_file_system_goes_where_the_most_gpus_are() -> None:
    # 2 x p5 (16 GPUs) in 1a, 12 x p5 (96 GPUs) in 1c: the file system follows the 96.
    plan = plan_from_config(
        config([fleet("small", "p5.48xlarge", 2, "us-east-1a"), fleet("big", "p5.48xlarge", 12, "us-east-1c")]),
        "t",
    )
    assert plan.network_zones[0] == "us-east-1a"
    assert plan.storage_zone == "us-east-1c"


def test_gpus_not_nodes_decide() -> None:
    # 6 x g6.8xlarge is 6 GPUs; 2 x p5 is 16.
    plan = plan_from_config(
        config([fleet("many", "g6.8xlarge", 6, "us-east-1a"), fleet("dense", "p5.48xlarge", 2, "us-east-1b")]),
        "t",
    )
    assert plan.storage_zone == "us-east-1b"


def test_a_tie_goes_to_the_first_fleet_in_config_order() -> None:
    fleets = [fleet("first", "p5.48xlarge", 4, "us-east-1b"), fleet("second", "p5.48xlarge", 4, "us-east-1a")]
    assert plan_from_config(config(fleets), "t").storage_zone == "us-east-1b"
    assert plan_from_config(config(fleets[::-1]), "t").storage_zone == "us-east-1a"


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


def test_commercial_us_stack_puts_its_file_system_with_the_p5_fleet() -> None:
    # 96 p5 nodes (768 GPUs) in us-east-1c, 64 p5en nodes (512 GPUs) in us-east-1a.
    stack = yaml.safe_load(Path("stacks/Pulumi.commercial-us.yaml").read_text())["config"]
    assert plan_from_config(stack, "commercial-us").storage_zone == "us-east-1c"
