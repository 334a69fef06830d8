"""`fleets[].kind`: hybrid fleets name a catalog server and refuse EC2 keys; a data hall racks only them."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import spec_from_config

from tests.stackfiles import PINNED_IMAGES

HALL = {"kind": "datahall", "racks": 8, "rackDefaults": {"powerKw": 60, "cooling": "rear-door"}}
DGX = {"name": "hall", "kind": "hybrid", "server": "dgx-b200", "count": 4}


def config(fleets: list[dict[str, Any]], site: dict[str, Any] | None = HALL) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": fleets,
    }
    if site is not None:
        cfg["aifactory:site"] = site
    return cfg


def issues(cfg: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        spec_from_config(cfg)
    return {i.path: f"{i.problem} Fix: {i.fix}" for i in exc.value.errors}


def test_a_hybrid_fleet_of_catalog_servers_in_a_data_hall_is_valid() -> None:
    spec = spec_from_config(config([DGX]))
    assert spec.hybrid_fleets == [spec.fleets[0]] and spec.ec2_fleets == []


def test_unknown_server_model_suggests_the_nearest() -> None:
    found = issues(config([{**DGX, "server": "dgx-b20"}]))
    assert "not in the server catalog" in found["aifactory:fleets[0].server"]
    assert "dgx-b200" in found["aifactory:fleets[0].server"]


def test_hybrid_fleet_without_server_lists_the_models() -> None:
    fleet = {k: v for k, v in DGX.items() if k != "server"}
    assert "dgx-b200" in issues(config([fleet]))["aifactory:fleets[0].server"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("instanceType", "p5.48xlarge"),
        ("capacity", {"type": "on-demand"}),
        ("efa", True),
        ("amiId", "ami-0123456789abcdef0"),
        ("rootVolumeGiB", 200),
        ("availabilityZone", "us-east-1a"),
    ],
)
def test_ec2_keys_are_refused_on_hybrid_fleets(key: str, value: Any) -> None:
    # Even a value equal to the default: the key means nothing for the customer's own servers.
    found = issues(config([{**DGX, key: value}]))
    assert "does not apply to a hybrid fleet" in found[f"aifactory:fleets[0].{key}"]
    assert f"remove `{key}`" in found[f"aifactory:fleets[0].{key}"]


def test_ec2_fleets_need_an_instance_type_and_refuse_a_server() -> None:
    found = issues(config([{"name": "e", "count": 1, "server": "dgx-b200"}], site=None))
    assert "needs its instance type" in found["aifactory:fleets[0].instanceType"]
    assert "only applies to `kind: hybrid`" in found["aifactory:fleets[0].server"]


def test_a_data_hall_of_ec2_instances_is_refused() -> None:
    # 0.1's slurm-datahall racked p5.48xlarge instances: EC2 instances cannot be racked.
    found = issues(config([{"name": "train", "instanceType": "p5.48xlarge", "count": 8}]))
    assert "EC2 instances cannot be racked" in found["aifactory:site.kind"]
    assert "kind: hybrid" in found["aifactory:site.kind"]


def test_hybrid_fleets_need_a_data_hall() -> None:
    found = issues(config([DGX], site=None))
    assert "data hall" in found["aifactory:fleets[0].kind"]


def test_reserved_units_must_leave_room_for_servers() -> None:
    site = {"kind": "datahall", "racks": 4, "rackDefaults": {"rackUnits": 42}, "reservedUnits": 42}
    assert "leave no room" in issues(config([DGX], site))["aifactory:site.reservedUnits"]
    one = {"kind": "datahall", "racks": [{"name": "a", "powerKw": 40, "rackUnits": 10, "reservedUnits": 12}]}
    assert "leave no room" in issues(config([DGX], one))["aifactory:site.racks[0].reservedUnits"]


def test_power_cap_bounds_are_checked_against_the_server_s_gpus() -> None:
    found = issues(config([{**DGX, "gpuPowerCapW": {"min": 100, "max": 1200}}]))
    assert "B200-180GB accepts (200-1000 W)" in found["aifactory:fleets[0].gpuPowerCapW.min"]
    assert "aifactory:fleets[0].gpuPowerCapW.max" in found


def test_rack_scale_units_are_not_handed_to_a_scheduler_as_one_node() -> None:
    nvl72 = {"name": "nvl", "kind": "hybrid", "server": "gb200-nvl72", "count": 2}
    liquid = {"kind": "datahall", "racks": 2, "rackDefaults": {"powerKw": 150, "cooling": "liquid", "rackUnits": 48}}
    assert spec_from_config(config([nvl72], liquid)).fleets[0].server == "gb200-nvl72"
    slurm = {"kind": "slurm", "partitions": [{"name": "p", "fleets": ["nvl"]}]}
    found = issues({**config([nvl72], liquid), "aifactory:scheduler": slurm})
    assert "rack-scale" in found["aifactory:fleets[0].server"]
