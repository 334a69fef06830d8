"""Bad `aifactory:site` and power-cap input: each error names its config path."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aifactory.catalog.servers import get_server, servers
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import spec_from_config

from tests.stackfiles import PINNED_IMAGES

EC2_FLEET = {"name": "train", "instanceType": "p5.48xlarge", "count": 4}
HALL_FLEET = {"name": "train", "kind": "hybrid", "server": "dgx-h100", "count": 4}
"""A data hall racks the customer's own servers: its stacks' default fleet is a hybrid one."""


def config(fleets: list[dict[str, Any]] | None = None, site: dict[str, Any] | None = None) -> dict[str, Any]:
    hall = site is not None and site.get("kind") == "datahall"
    cfg: dict[str, Any] = {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": fleets or [HALL_FLEET if hall else EC2_FLEET],
    }
    if site is not None:
        cfg["aifactory:site"] = site
    return cfg


def rack(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "powerKw": 40, **kw}


def error_text(cfg: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as exc:
        spec_from_config(cfg)
    return str(exc.value)


def test_good_site_passes() -> None:
    spec = spec_from_config(config(site={"kind": "datahall", "racks": [rack("a"), rack("b")]}))
    assert spec.site is not None


def test_duplicate_rack_names() -> None:
    text = error_text(config(site={"kind": "datahall", "racks": [rack("a"), rack("a")]}))
    assert "aifactory:site.racks[1].name" in text and "already used" in text


def test_rack_name_not_label_safe() -> None:
    assert "aifactory:site.racks[0].name" in error_text(config(site={"kind": "datahall", "racks": [rack("rack 1")]}))


def test_rack_named_like_a_block() -> None:
    text = error_text(config(site={"kind": "datahall", "racks": [rack("b1", block="b1"), rack("x")]}))
    assert "aifactory:site.racks[0].name" in text


@pytest.mark.parametrize("switch", ["fabric", "aws-region"])
def test_racks_and_blocks_cannot_take_the_tree_s_reserved_switch_names(switch: str) -> None:
    text = error_text(config(site={"kind": "datahall", "racks": [rack(switch), rack("b", block=switch)]}))
    assert "aifactory:site.racks[0].name" in text and "aifactory:site.racks[1].block" in text


def test_non_positive_power_and_units() -> None:
    text = error_text(config(site={"kind": "datahall", "racks": [rack("a", powerKw=0), rack("b", rackUnits=-1)]}))
    assert "aifactory:site.racks[0].powerKw" in text and "aifactory:site.racks[1].rackUnits" in text
    short = error_text(config(site={"kind": "datahall", "racks": 4, "rackDefaults": {"powerKw": -5}}))
    assert "aifactory:site.rackDefaults.powerKw" in short
    assert "aifactory:site.racks:" in error_text(config(site={"kind": "datahall", "racks": 0}))


def test_headroom_and_pue() -> None:
    text = error_text(config(site={"kind": "datahall", "racks": 4, "headroomPct": 60, "pue": 0.9}))
    assert "aifactory:site.headroomPct" in text and "aifactory:site.pue" in text
    assert "aifactory:site.headroomPct" in error_text(config(site={"kind": "datahall", "racks": 4, "headroomPct": -1}))


def test_air_rack_beyond_air_cooling() -> None:
    text = error_text(config(site={"kind": "datahall", "racks": [rack("a", powerKw=60)]}))
    assert "aifactory:site.racks[0].powerKw" in text and "rear-door or liquid" in text


HALL = {"kind": "datahall", "racks": 4}  # power-cap bounds are a data hall's (on AWS: placement_rules)


def test_power_cap_bounds() -> None:
    inverted = [{"name": "t", "instanceType": "p5.48xlarge", "count": 1, "gpuPowerCapW": {"min": 600, "max": 500}}]
    assert "aifactory:fleets[0].gpuPowerCapW" in error_text(config(inverted, HALL))
    outside = [{"name": "t", "instanceType": "p5.48xlarge", "count": 1, "gpuPowerCapW": {"min": 100, "max": 800}}]
    text = error_text(config(outside, HALL))
    assert "aifactory:fleets[0].gpuPowerCapW.min" in text and "aifactory:fleets[0].gpuPowerCapW.max" in text


def test_power_cap_on_trainium() -> None:
    fleets = [{"name": "t", "instanceType": "trn1.32xlarge", "count": 1, "gpuPowerCapW": {"min": 210, "max": 210}}]
    text = error_text(config(fleets, HALL))
    assert "aifactory:fleets[0].gpuPowerCapW" in text and "cannot be power-capped" in text


def test_rack_that_holds_no_node() -> None:
    text = error_text(config(site={"kind": "datahall", "racks": [rack("a"), rack("tiny", powerKw=8)]}))
    assert "aifactory:site.racks[1].powerKw" in text and "holds no node" in text


def test_liquid_only_hardware_without_liquid_racks(monkeypatch: pytest.MonkeyPatch) -> None:
    liquid = dataclasses.replace(get_server("dgx-h100"), cooling="liquid")
    monkeypatch.setitem(servers(), "dgx-h100", liquid)
    text = error_text(config(site={"kind": "datahall", "racks": [rack("a")]}))
    assert "aifactory:fleets[0].server" in text and "liquid" in text
