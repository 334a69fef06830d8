"""The server catalog: the customer's own GPU servers, every figure with a source."""

from __future__ import annotations

import pytest
from aifactory.catalog.hardware import fleet_hardware, known_hardware, whole_rack
from aifactory.catalog.power_curves import curve_for
from aifactory.catalog.servers import get_server, servers
from aifactory.spec.model import MAX_GPU_POWER_W, Fleet
from aifactory.spec.site import COOLING_RANK

REQUIRED = ("dgx-h100", "dgx-h200", "hgx-h100", "hgx-h200", "dgx-b200", "dgx-b300", "gb200-nvl72")


def test_the_issue_s_server_models_are_in_the_catalog() -> None:
    assert set(REQUIRED) <= set(servers())


@pytest.mark.parametrize("name", sorted(servers()))
def test_every_figure_has_a_source_and_estimates_are_sourced(name: str) -> None:
    server = get_server(name)
    for figure in ("host", "accelerator", "node_power_kw.max", "cooling", "rack_units"):
        assert any(k == figure or k.startswith(f"{figure}.") for k in server.sources), figure
    for estimate in server.estimates:
        assert estimate in server.sources and "estimate" in server.sources[estimate], estimate
    assert server.cooling in COOLING_RANK
    assert 0 < server.accelerator.power_limit_min_w <= server.accelerator.tdp_w <= MAX_GPU_POWER_W
    # The power-cap planner needs a throughput curve for every GPU it may cap.
    if server.accelerator.power_cappable:
        assert curve_for(server.accelerator.model) is not None
    # Node power must exceed what its GPUs alone draw.
    assert server.node_power_kw.max > server.gpus * server.accelerator.tdp_w / 1000


def test_vendor_figures_of_the_dgx_systems() -> None:
    # NVIDIA DGX B200 user guide: 10U, 14.3 kW max; DGX H100/H200 user guide: 8U, 10.2 kW max.
    b200 = get_server("dgx-b200")
    assert (b200.rack_units, b200.node_power_kw.max, b200.gpus, b200.cooling) == (10, 14.3, 8, "air")
    for name in ("dgx-h100", "dgx-h200"):
        dgx = get_server(name)
        assert (dgx.rack_units, dgx.node_power_kw.max, dgx.gpus) == (8, 10.2, 8)


def test_gb200_nvl72_is_a_whole_liquid_cooled_rack_of_72_gpus() -> None:
    nvl72 = get_server("gb200-nvl72")
    assert nvl72.whole_rack and whole_rack(nvl72) and nvl72.gpus == 72 and nvl72.cooling == "liquid"
    assert not whole_rack(get_server("dgx-b200"))


def test_a_fleet_s_hardware_comes_from_its_kind_s_catalog() -> None:
    hybrid = Fleet.model_validate({"name": "h", "kind": "hybrid", "server": "dgx-b200", "count": 2})
    ec2 = Fleet.model_validate({"name": "e", "instanceType": "p6-b200.48xlarge", "count": 2})
    assert fleet_hardware(hybrid) is get_server("dgx-b200")
    assert fleet_hardware(ec2).name == "p6-b200.48xlarge"
    unknown = Fleet.model_validate({"name": "u", "kind": "hybrid", "server": "dgx-z9", "count": 1})
    assert known_hardware(unknown) is None
    with pytest.raises(KeyError):
        fleet_hardware(unknown)
