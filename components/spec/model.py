"""`FactorySpec`: the validated stack config of one AI factory."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from ..catalog.regions import partition_of
from .base import SpecModel
from .images import AMI_ID
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
    # host[:port][/path]: a DNS name and lowercase OCI repository path components (OCI distribution
    # spec, "Pulling manifests": `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` per component); the value reaches
    # image references, chart URLs and the nodes' containerd configuration.
    registry_mirror: str = Field(
        min_length=1,
        pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
        description="In-region registry (host[/path]) every image and chart comes from.",
    )


class Network(SpecModel):
    cidr: str = "10.0.0.0/16"
    availability_zones: list[str] | None = Field(
        default=None, description="AZs for subnets (default: the fleets' AZs, else the region's first two)."
    )
    egress: Literal["none", "nat"] | None = Field(
        default=None, description="Internet egress; default `none` for sovereign, `nat` for commercial."
    )
    zone_slots: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Reserve this many zone blocks in the VPC and place each zone's subnets by its letter "
        "(a=0, b=1, ...), so adding or reordering zones or switching egress moves no subnet (and no file "
        "system). Default: 0.1's layout, sized by the zone count. Set before the first deploy.",
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


TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
# Kubernetes API reference, Taint (core/v1): effect is one of NoSchedule, PreferNoSchedule, NoExecute;
# the key is a qualified name and the value a label value ("Well-Known Labels, Annotations and Taints";
# "Object Names and IDs" / "Labels and Selectors" for the syntax): an optional DNS-subdomain prefix of
# at most 253 characters and '/', a name of at most 63 characters, a value of at most 63.
TAINT_EFFECTS: tuple[TaintEffect, ...] = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _taint_problem(key: str, value: str, effect: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if not name or len(name) > 63 or not _NAME.match(name):
        return f"key '{key}' is not a Kubernetes qualified name (at most 63 letters, digits, '-', '_', '.')"
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"key prefix '{prefix}' is not a DNS subdomain of at most 253 characters"
    if len(key) > 63:
        # EKS API reference, Taint: key length 1-63 in total, stricter than Kubernetes' prefix/name limits.
        return f"key '{key}' is longer than the 63 characters an EKS node group taint allows"
    if value and (len(value) > 63 or not _NAME.match(value)):
        return f"value '{value}' is not a label value (at most 63 letters, digits, '-', '_', '.')"
    if effect not in TAINT_EFFECTS:
        return f"effect '{effect}' is not one of {', '.join(TAINT_EFFECTS)}"
    return None


def parse_taint(text: Any) -> Any:
    """`key[=value]:Effect` -> the Taint fields; anything else is a config error with its fix."""
    if not isinstance(text, str):
        return text
    pair, colon, effect = text.rpartition(":")
    if not colon:
        raise PydanticCustomError(
            "config_issue",
            "taint '{text}' has no effect",
            {"text": text, "fix": f"write it as `{text}:NoSchedule` (or PreferNoSchedule, NoExecute)"},
        )
    key, _, value = pair.partition("=")
    problem = _taint_problem(key, value, effect)
    if problem is not None:
        raise PydanticCustomError(
            "config_issue",
            "taint '{text}': {problem}",
            {"text": text, "problem": problem, "fix": "write it as `key=value:Effect`, e.g. `gpu=yes:NoSchedule`"},
        )
    return {"key": key, "value": value, "effect": effect}


class Taint(SpecModel):
    """A Kubernetes node taint; one model for the kubelet's flags and the EKS node group."""

    key: str
    value: str = ""
    effect: TaintEffect

    def __str__(self) -> str:
        """The kubelet's `--register-with-taints` form, `key=value:Effect`."""
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"

    def toleration(self) -> dict[str, str]:
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


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
    taints: list[Annotated[Taint, BeforeValidator(parse_taint)]] = Field(
        default_factory=list,
        description="`key=value:Effect` Kubernetes taints (effect NoSchedule, PreferNoSchedule or NoExecute).",
    )
    efa: bool = Field(default=True, description="Attach the instance type's full EFA layout.")
    ami_id: str | None = Field(
        default=None,
        pattern=AMI_ID.pattern,
        description="This fleet's own AMI, over its `aifactory:images` key (ami- and 8 or 17 hex digits).",
    )
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
    images: dict[str, str] = Field(
        default_factory=dict,
        description="Pinned machine images by role (`spec/images.py`); `aifactory images pin <stack>` writes them.",
    )

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
