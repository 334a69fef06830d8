"""`FactorySpec`: the validated stack config of one AI factory."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from ..catalog.regions import partition_of
from .base import SpecModel
from .scheduler import SchedulerSpec
from .site import SiteSpec
from .storage import StorageSpec

Profile = Literal["sovereign", "commercial"]
CapacityType = Literal["on-demand", "capacity-reservation", "capacity-block", "spot"]
PlacementStrategy = Literal["pack", "spread"]


class Sovereignty(SpecModel):
    allowed_regions: list[str] = Field(min_length=1, description="Regions data may live in.")
    allowed_partitions: list[str] | None = Field(default=None, description="Partitions data may live in.")
    kms_key_arn: str | None = Field(
        default=None, description="Customer-managed KMS key; without it the factory creates one."
    )
    registry_mirror: str = Field(
        min_length=1, description="In-region registry (host[/path]) every image and chart comes from."
    )


class Network(SpecModel):
    cidr: str = "10.0.0.0/16"
    availability_zones: list[str] | None = Field(
        default=None, description="AZs for subnets (default: the fleets' AZs, else the region's first two)."
    )
    egress: Literal["none", "nat"] | None = Field(
        default=None, description="Internet egress; default `none` for sovereign, `nat` for commercial."
    )

    @field_validator("cidr")
    @classmethod
    def _cidr_is_network(cls, value: str) -> str:
        try:
            ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"'{value}' is not an IPv4 network in CIDR form like 10.0.0.0/16 ({exc})") from None
        return value


class Capacity(SpecModel):
    type: CapacityType = "on-demand"
    reservation_id: str | None = Field(
        default=None, pattern=r"^cr-[0-9a-f]{8,17}$", description="cr-… of the reservation or capacity block."
    )
    end_time: datetime | None = Field(
        default=None, description="Capacity block end (ISO 8601 with zone); instances go 30 minutes before."
    )


class PowerCapBounds(SpecModel):
    min: int = Field(gt=0, description="Lowest per-GPU power limit the planner may set (W).")
    max: int = Field(gt=0, description="Highest per-GPU power limit the planner may set (W).")


class Fleet(SpecModel):
    name: str
    instance_type: str
    count: int = Field(ge=1, le=100_000)
    availability_zone: str | None = None
    capacity: Capacity = Capacity()
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[str] = Field(default_factory=list, description="`key=value:Effect` Kubernetes taints.")
    efa: bool = Field(default=True, description="Attach the instance type's full EFA layout.")
    ami_id: str | None = Field(default=None, pattern=r"^ami-[0-9a-f]{8,17}$")
    root_volume_gib: int = Field(default=200, alias="rootVolumeGiB", ge=50, le=16384)
    node_power_kw: float | None = Field(default=None, gt=0, description="Override the catalog's node power.")
    gpu_power_cap_w: PowerCapBounds | None = None
    strategy: PlacementStrategy = "pack"


class FactorySpec(SpecModel):
    """The whole stack config: `aws:region` plus every `aifactory:` key."""

    region: str
    profile: Profile
    sovereignty: Sovereignty | None = None
    network: Network = Network()
    fleets: list[Fleet] = Field(min_length=1)
    storage: StorageSpec | None = None
    site: SiteSpec | None = None
    scheduler: SchedulerSpec | None = None

    @property
    def partition(self) -> str:
        return partition_of(self.region) or "aws"

    @property
    def sovereign(self) -> bool:
        return self.profile == "sovereign"

    @property
    def egress(self) -> Literal["none", "nat"]:
        if self.network.egress is not None:
            return self.network.egress
        return "none" if self.sovereign else "nat"

    def fleet(self, name: str) -> Fleet:
        return next(f for f in self.fleets if f.name == name)
