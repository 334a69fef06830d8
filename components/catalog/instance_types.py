"""Typed access to the accelerated instance-type catalog (data/instance_types.yaml)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from .yamldata import load_yaml

AmiFamily = Literal["nvidia", "neuron"]
CoolingClass = Literal["air", "rear-door", "liquid"]


@dataclass(frozen=True)
class Accelerator:
    vendor: str
    model: str
    count: int
    memory_gib: int
    tdp_w: int
    power_limit_min_w: int
    neuron_cores: int | None = None
    """NeuronCores per Neuron device as the Neuron runtime exposes them (one collective rank each); None
    for other accelerators."""

    @property
    def power_cappable(self) -> bool:
        return self.power_limit_min_w < self.tdp_w


@dataclass(frozen=True)
class NodePower:
    max: float
    typical: float


@dataclass(frozen=True)
class InstanceType:
    name: str
    family: str
    ami_family: AmiFamily
    accelerator: Accelerator
    vcpus: int
    memory_gib: int
    network_cards: int
    max_efa_interfaces: int
    fsx_efa_interfaces: int
    """EFA interfaces LNet uses to reach an EFA-enabled FSx for Lustre file system (FSx for Lustre user
    guide, "Configuring EFA clients", step 4); 0 when the type cannot be an EFA client (Lustre uses TCP)."""
    network_gbps: int
    node_power_kw: NodePower
    cooling: CoolingClass
    rack_units: int
    nccl_allreduce_busbw_gbps: float
    network_node_layers: int | None
    """Network nodes DescribeInstanceTopology returns for the type, top layer first: 3, or 4 on
    p6-b200/p6-b300 (EC2 user guide, "Prerequisites for Amazon EC2 topology", "Instance types");
    also the `topology.k8s.aws/network-node-layer-N` labels EKS sets on its nodes (EKS user guide,
    "Place distributed AI/ML workloads with network topology labels"). None: the type has no
    published topology."""
    sources: dict[str, str]
    estimates: tuple[str, ...]

    @property
    def efa_capable(self) -> bool:
        return self.max_efa_interfaces > 0

    @property
    def gpus(self) -> int:
        return self.accelerator.count


TOPOLOGY_LAYER_COUNTS = (3, 4)
"""The layer counts DescribeInstanceTopology reports (EC2 user guide, "How Amazon EC2 topology works")."""


def _parse(name: str, raw: dict) -> InstanceType:
    layers = raw["network_node_layers"]
    if layers not in (None, *TOPOLOGY_LAYER_COUNTS) or "network_node_layers" not in raw["sources"]:
        raise ValueError(f"{name}: network_node_layers {layers!r} must be null, 3 or 4 and carry a source")
    fsx_efa = raw["fsx_efa_interfaces"]
    if not 0 <= fsx_efa <= raw["max_efa_interfaces"] or "fsx_efa_interfaces" not in raw["sources"]:
        raise ValueError(
            f"{name}: fsx_efa_interfaces {fsx_efa} must be 0..max_efa_interfaces ({raw['max_efa_interfaces']}) "
            "and carry a source"
        )
    cores = raw["accelerator"].get("neuron_cores")
    neuron = raw["accelerator"]["vendor"] == "aws"
    if neuron != (cores is not None) or (neuron and "accelerator.neuron_cores" not in raw["sources"]):
        raise ValueError(f"{name}: Neuron devices, and only they, need accelerator.neuron_cores with a source")
    return InstanceType(
        name=name,
        family=raw["family"],
        ami_family=raw["ami_family"],
        accelerator=Accelerator(**raw["accelerator"]),
        vcpus=raw["vcpus"],
        memory_gib=raw["memory_gib"],
        network_cards=raw["network_cards"],
        max_efa_interfaces=raw["max_efa_interfaces"],
        fsx_efa_interfaces=fsx_efa,
        network_gbps=raw["network_gbps"],
        node_power_kw=NodePower(**raw["node_power_kw"]),
        cooling=raw["cooling"],
        rack_units=raw["rack_units"],
        nccl_allreduce_busbw_gbps=raw["nccl_allreduce_busbw_gbps"],
        network_node_layers=layers,
        sources=dict(raw["sources"]),
        estimates=tuple(raw.get("estimates", ())),
    )


@functools.cache
def instance_types() -> dict[str, InstanceType]:
    """Every catalog entry by EC2 instance type name."""
    text = resources.files("aifactory.catalog").joinpath("data/instance_types.yaml").read_text()
    return {name: _parse(name, raw) for name, raw in load_yaml(text).items()}


def get_instance_type(name: str) -> InstanceType:
    """The catalog entry for `name`; KeyError when the catalog does not know it."""
    return instance_types()[name]
