"""Typed access to the on-premises server catalog (data/servers.yaml): the customer's own GPU servers."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from .instance_types import Accelerator, CoolingClass, NodePower
from .yamldata import load_yaml

CpuArch = Literal["x86_64", "arm64"]

_FIGURES = ("host", "accelerator", "node_power_kw.max", "cooling", "rack_units")
"""Figures every entry must source (a source key equal to the figure or naming a field under it)."""


@dataclass(frozen=True)
class Server:
    """A server model the customer racks in a data hall; `whole_rack` systems (GB200 NVL72) fill a rack."""

    name: str
    description: str
    cpu_arch: CpuArch
    vcpus: int
    """CPU threads of the host (Slurm `CPUs`)."""
    memory_gib: int
    accelerator: Accelerator
    node_power_kw: NodePower
    cooling: CoolingClass
    rack_units: int
    whole_rack: bool
    network: str
    sources: dict[str, str]
    estimates: tuple[str, ...]

    @property
    def gpus(self) -> int:
        return self.accelerator.count


def _parse(name: str, raw: dict) -> Server:
    sources = {str(k): str(v) for k, v in raw["sources"].items()}
    missing = [
        f for f in _FIGURES if not any(k == f or k.startswith(f"{f}.") or f.startswith(f"{k}.") for k in sources)
    ]
    if missing:
        raise ValueError(f"{name}: no source for {', '.join(missing)}")
    return Server(
        name=name,
        description=raw["description"],
        cpu_arch=raw["cpu_arch"],
        vcpus=raw["vcpus"],
        memory_gib=raw["memory_gib"],
        accelerator=Accelerator(**raw["accelerator"]),
        node_power_kw=NodePower(**raw["node_power_kw"]),
        cooling=raw["cooling"],
        rack_units=raw["rack_units"],
        whole_rack=bool(raw["whole_rack"]),
        network=raw["network"],
        sources=sources,
        estimates=tuple(str(e) for e in raw.get("estimates", ())),
    )


@functools.cache
def servers() -> dict[str, Server]:
    """Every server model by catalog name (`dgx-b200`, ...)."""
    text = resources.files("aifactory.catalog").joinpath("data/servers.yaml").read_text()
    return {name: _parse(name, raw) for name, raw in load_yaml(text).items()}


def get_server(name: str) -> Server:
    """The catalog entry for `name`; KeyError when the catalog does not know it."""
    return servers()[name]
