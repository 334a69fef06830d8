"""Catalog facts against their sources."""

from __future__ import annotations

import json
from dataclasses import fields
from importlib import metadata, resources

import pytest
import yaml
from aifactory.catalog.instance_types import get_instance_type, instance_types
from aifactory.catalog.prices import region_prices
from aifactory.catalog.regions import (
    availability_zones,
    offered_in_region,
    offerings_source,
    partition_of,
    partitions,
    zones_offering,
)

REQUIRED = {
    "p4d.24xlarge",
    "p4de.24xlarge",
    "p5.48xlarge",
    "p5e.48xlarge",
    "p5en.48xlarge",
    "p6-b200.48xlarge",
    "trn1.32xlarge",
    "trn1n.32xlarge",
    "trn2.48xlarge",
}

# Network cards / max EFA interfaces / Gbps from the EC2 accelerated-computing network
# specifications (DESIGN.md "Domain facts").
NETWORK_FACTS = {
    "p4d.24xlarge": (4, 4, 400),
    "p5.48xlarge": (32, 32, 3200),
    "p5e.48xlarge": (32, 32, 3200),
    "p5en.48xlarge": (16, 16, 3200),
    "p6-b200.48xlarge": (8, 8, 3200),
    "trn1.32xlarge": (8, 8, 800),
    "trn1n.32xlarge": (16, 16, 1600),
}

# Node power from NVIDIA's DGX datasheets (DGX A100 6.5 kW, DGX H100/H200 10.2 kW, DGX B200 14.3 kW).
NODE_POWER_MAX_KW = {"p4d.24xlarge": 6.5, "p5.48xlarge": 10.2, "p5en.48xlarge": 10.2, "p6-b200.48xlarge": 14.3}


def test_catalog_has_required_types_and_a_cheap_efa_dev_type() -> None:
    catalog = instance_types()
    assert set(catalog) >= REQUIRED
    prices = region_prices("us-east-1")
    assert prices is not None
    cheap = [
        t for t in catalog.values() if t.efa_capable and t.name in prices.on_demand and prices.on_demand[t.name].usd < 5
    ]
    assert cheap, "the catalog needs a small EFA-capable type for dev stacks"


@pytest.mark.parametrize("name", sorted(NETWORK_FACTS))
def test_network_facts(name: str) -> None:
    cards, efa, gbps = NETWORK_FACTS[name]
    entry = get_instance_type(name)
    assert (entry.network_cards, entry.max_efa_interfaces, entry.network_gbps) == (cards, efa, gbps)


# EFA interfaces LNet uses per client (FSx for Lustre user guide, "Configuring EFA clients", step 4):
# 8 on p5/p5e/p5en/p6-b200, 2 on other multi-card types, 1 on single-card ones, none on trn2.
FSX_EFA_INTERFACES = {
    "p4d.24xlarge": 2,
    "p5.48xlarge": 8,
    "p5e.48xlarge": 8,
    "p5en.48xlarge": 8,
    "p6-b200.48xlarge": 8,
    "trn1.32xlarge": 2,
    "trn2.48xlarge": 0,
    "g6.8xlarge": 1,
    "g6.xlarge": 0,
}


@pytest.mark.parametrize("name", sorted(FSX_EFA_INTERFACES))
def test_lnet_efa_interfaces_follow_the_fsx_table(name: str) -> None:
    entry = get_instance_type(name)
    assert entry.fsx_efa_interfaces == FSX_EFA_INTERFACES[name]
    assert "FSX-EFA" in entry.sources["fsx_efa_interfaces"] or entry.max_efa_interfaces == 0


def test_an_lnet_figure_beyond_the_efa_interfaces_is_refused() -> None:
    from aifactory.catalog.instance_types import _parse

    raw = yaml.safe_load(resources.files("aifactory.catalog").joinpath("data/instance_types.yaml").read_text())
    entry = raw["g6.8xlarge"] | {"fsx_efa_interfaces": 2}
    with pytest.raises(ValueError, match="fsx_efa_interfaces"):
        _parse("g6.8xlarge", entry)


@pytest.mark.parametrize("name", sorted(NODE_POWER_MAX_KW))
def test_node_power_from_dgx_datasheets(name: str) -> None:
    assert get_instance_type(name).node_power_kw.max == NODE_POWER_MAX_KW[name]


def test_h100_and_h200_gpus_are_700_w() -> None:
    for name in ("p5.48xlarge", "p5e.48xlarge", "p5en.48xlarge"):
        assert get_instance_type(name).accelerator.tdp_w == 700


@pytest.mark.parametrize("name", sorted(instance_types()))
def test_every_figure_has_a_source_and_estimates_say_so(name: str) -> None:
    entry = get_instance_type(name)
    assert "hardware" in entry.sources
    for figure in ("node_power_kw.max", "node_power_kw.typical", "rack_units", "nccl_allreduce_busbw_gbps"):
        assert figure in entry.sources, f"{name}: {figure} has no source"
    for estimate in entry.estimates:
        source = entry.sources.get(estimate, entry.sources["hardware"])
        assert "estimate" in source.lower() or "unverified" in source.lower(), (name, estimate, source)
    assert entry.node_power_kw.typical <= entry.node_power_kw.max
    assert entry.accelerator.power_limit_min_w <= entry.accelerator.tdp_w


def test_catalog_fields_are_all_loaded() -> None:
    raw = {f.name for f in fields(get_instance_type("p5.48xlarge"))}
    assert {"network_cards", "max_efa_interfaces", "node_power_kw", "cooling"} <= raw
    # prices live in the per-region tables (aifactory.catalog.prices), not in the hardware catalog
    assert "price" not in raw


def test_partitions_come_from_botocore() -> None:
    assert {"aws", "aws-us-gov", "aws-eusc", "aws-cn"} <= set(partitions())
    assert partition_of("us-gov-west-1") == "aws-us-gov"
    assert partition_of("eusc-de-east-1") == "aws-eusc"
    assert partition_of("eu-north-1") == "aws"


def test_offerings_come_from_per_region_data() -> None:
    assert offered_in_region("p5en.48xlarge", "eu-north-1") is True
    assert offered_in_region("trn2.48xlarge", "eu-north-1") is False
    assert offered_in_region("p5.48xlarge", "us-gov-west-1") is None  # no data: unknown, not unavailable
    assert availability_zones("eu-north-1") == ("eu-north-1a", "eu-north-1b", "eu-north-1c")
    assert set(zones_offering("p5en.48xlarge", "us-east-1") or ()) < set(availability_zones("us-east-1") or ())


def test_vendored_offerings_match_the_installed_moto_snapshot() -> None:
    from tools.refresh_offerings import build

    shipped = json.loads(resources.files("aifactory.catalog").joinpath("data/offerings.json").read_text())
    if f"moto {metadata.version('moto')} " not in offerings_source():
        pytest.skip(f"offerings.json is from {offerings_source().split(' ec2')[0]}; run tools/refresh_offerings.py")
    assert shipped == build()


# EC2 user guide "Prerequisites for Amazon EC2 topology", "Instance types": 3 network nodes for the
# p4d/p5/trn families, 4 for p6-b200; g6 is not in the list.
TOPOLOGY_LAYERS = {
    "p4d.24xlarge": 3,
    "p5.48xlarge": 3,
    "p5en.48xlarge": 3,
    "p6-b200.48xlarge": 4,
    "trn1.32xlarge": 3,
    "trn2.48xlarge": 3,
    "g6.xlarge": None,
}


@pytest.mark.parametrize("name", sorted(TOPOLOGY_LAYERS))
def test_topology_layers_per_type(name: str) -> None:
    entry = get_instance_type(name)
    assert entry.network_node_layers == TOPOLOGY_LAYERS[name]
    assert "TOPO" in entry.sources["network_node_layers"]


def test_topology_layers_must_be_three_four_or_none() -> None:
    import importlib

    module = importlib.import_module("aifactory.catalog.instance_types")
    raw = yaml.safe_load(resources.files("aifactory.catalog").joinpath("data/instance_types.yaml").read_text())
    entry = dict(raw["p5.48xlarge"], network_node_layers=5)
    with pytest.raises(ValueError, match="network_node_layers 5"):
        module._parse("p5.48xlarge", entry)
    unsourced = dict(
        raw["p5.48xlarge"],
        sources={k: v for k, v in raw["p5.48xlarge"]["sources"].items() if k != "network_node_layers"},
    )
    with pytest.raises(ValueError, match="carry a source"):
        module._parse("p5.48xlarge", unsourced)


def test_neuron_types_carry_their_neuron_cores_and_nothing_else_does() -> None:
    from aifactory.catalog.instance_types import _parse

    cores = {name: t.accelerator.neuron_cores for name, t in instance_types().items() if t.accelerator.vendor == "aws"}
    # Two NeuronCore-v2 per Trainium; four logical cores per Trainium2 at the default LNC=2 (Neuron docs).
    assert cores == {"trn1.32xlarge": 2, "trn1n.32xlarge": 2, "trn2.48xlarge": 4}
    assert all(t.accelerator.neuron_cores is None for t in instance_types().values() if t.accelerator.vendor != "aws")
    raw = yaml.safe_load(resources.files("aifactory.catalog").joinpath("data/instance_types.yaml").read_text())
    missing = raw["trn2.48xlarge"] | {
        "accelerator": {k: v for k, v in raw["trn2.48xlarge"]["accelerator"].items() if k != "neuron_cores"}
    }
    unsourced = raw["trn2.48xlarge"] | {
        "sources": {k: v for k, v in raw["trn2.48xlarge"]["sources"].items() if k != "accelerator.neuron_cores"}
    }
    on_a_gpu = raw["p5.48xlarge"] | {"accelerator": raw["p5.48xlarge"]["accelerator"] | {"neuron_cores": 2}}
    for name, entry in (("trn2.48xlarge", missing), ("trn2.48xlarge", unsourced), ("p5.48xlarge", on_a_gpu)):
        with pytest.raises(ValueError, match="neuron_cores"):
            _parse(name, entry)
