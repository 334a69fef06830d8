"""One typed view of a fleet's hardware, whether EC2 instances or the customer's own servers.

Planners, schedulers and the summary need the same facts of every fleet (GPUs, accelerator, node power,
rack units, cooling class); `fleet_hardware` gives them from the instance-type catalog for `kind: ec2`
and from the server catalog for `kind: hybrid`, so no module has to know which catalog a fleet uses.
"""

from __future__ import annotations

from typing import Literal, Protocol

from .instance_types import Accelerator, CoolingClass, InstanceType, NodePower, get_instance_type, instance_types
from .servers import get_server, servers


class Hardware(Protocol):
    """What `InstanceType` and `Server` both are."""

    @property
    def name(self) -> str: ...
    @property
    def accelerator(self) -> Accelerator: ...
    @property
    def node_power_kw(self) -> NodePower: ...
    @property
    def cooling(self) -> CoolingClass: ...
    @property
    def rack_units(self) -> int: ...
    @property
    def gpus(self) -> int: ...
    @property
    def vcpus(self) -> int: ...
    @property
    def memory_gib(self) -> int: ...


class FleetLike(Protocol):
    @property
    def kind(self) -> Literal["ec2", "hybrid"]: ...
    @property
    def instance_type(self) -> str | None: ...
    @property
    def server(self) -> str | None: ...


def fleet_hardware(fleet: FleetLike) -> Hardware:
    """The catalog entry of a fleet's hardware; KeyError when the fleet names nothing the catalog knows."""
    if fleet.kind == "hybrid":
        if fleet.server is None:
            raise KeyError("a hybrid fleet without a server model")
        return get_server(fleet.server)
    if fleet.instance_type is None:
        raise KeyError("an ec2 fleet without an instance type")
    return get_instance_type(fleet.instance_type)


def ec2_instance_type(fleet: FleetLike) -> InstanceType:
    """An EC2 fleet's instance type; KeyError for a hybrid fleet (its servers are not EC2 instances)."""
    if fleet.kind != "ec2" or fleet.instance_type is None:
        raise KeyError("only EC2 fleets have an instance type")
    return get_instance_type(fleet.instance_type)


def known_hardware(fleet: FleetLike) -> Hardware | None:
    """`fleet_hardware`, or None for a fleet whose model is not in its catalog (reported by the spec rules)."""
    name = fleet.server if fleet.kind == "hybrid" else fleet.instance_type
    catalog: dict[str, Hardware] = dict(servers()) if fleet.kind == "hybrid" else dict(instance_types())
    return catalog.get(name) if name is not None else None


def whole_rack(hardware: Hardware) -> bool:
    """Rack-scale systems (GB200 NVL72): one unit fills a rack of its own."""
    return bool(getattr(hardware, "whole_rack", False))


def hardware_model(fleet: FleetLike) -> str:
    """What the fleet runs on, for reports: the server model or the instance type."""
    return (fleet.server if fleet.kind == "hybrid" else fleet.instance_type) or ""
