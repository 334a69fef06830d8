"""`FactorySpec`: the validated stack config of one AI factory."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from ..catalog.regions import partition_of
from .access import AccessSpec
from .aws_values import vpc_cidr_problem
from .base import NotNull, SpecModel
from .hybrid import HybridSpec
from .images import AMI_ID
from .numbers import MAX_NODES_PER_FLEET, MAX_RACK_POWER_KW, Count, Integer, PositiveFloat
from .scheduler import SchedulerSpec
from .site import SiteSpec
from .storage import StorageSpec
from .syntax import LabelKey, LabelValue, RegistryMirror, label_value_problem, qualified_name_problem

Profile = Literal["sovereign", "commercial"]
CapacityType = Literal["on-demand", "capacity-reservation", "capacity-block", "spot"]
PlacementStrategy = Literal["pack", "spread"]
FleetKind = Literal["ec2", "hybrid"]
"""`ec2`: instances in the factory's VPC. `hybrid`: the customer's own servers in a data hall, joined to
the EKS cluster as EKS Hybrid Nodes (Amazon EKS User Guide, "Amazon EKS Hybrid Nodes overview"); such a
fleet creates no EC2 instances."""


class Sovereignty(SpecModel):
    allowed_regions: list[str] = Field(min_length=1, description="Regions data may live in.")
    allowed_partitions: list[str] | None = Field(default=None, description="Partitions data may live in.")
    kms_key_arn: str | None = Field(
        default=None, description="Customer-managed KMS key; without it the factory creates one."
    )
    # Syntax in `spec/syntax.py` (OCI distribution spec host and repository path grammar).
    registry_mirror: RegistryMirror = Field(
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
    # A zone's slot is its letter (a=0 ... z=25), so there is no 27th slot.
    zone_slots: Count | None = Field(
        default=None,
        le=26,
        description="Reserve this many zone blocks in the VPC and place each zone's subnets by its letter "
        "(a=0, b=1, ...), so adding or reordering zones or switching egress moves no subnet (and no file "
        "system). Default: 0.1's layout, sized by the zone count. Set before the first deploy.",
    )

    @field_validator("cidr")
    @classmethod
    def _cidr_is_network(cls, value: str) -> str:
        problem = vpc_cidr_problem(value)
        if problem is not None:
            raise ValueError(problem)
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
# "Object Names and IDs" / "Labels and Selectors" for the syntax, defined once in `spec/syntax.py`).
TAINT_EFFECTS: tuple[TaintEffect, ...] = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _taint_problem(key: str, value: str, effect: str) -> str | None:
    problem = qualified_name_problem(key)
    if problem is not None:
        return problem
    if len(key) > 63:
        # EKS API reference, Taint: key length 1-63 in total, stricter than Kubernetes' prefix/name limits.
        return f"key '{key}' is longer than the 63 characters an EKS node group taint allows"
    problem = label_value_problem(value)
    if problem is not None:
        return problem
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


# No accelerator in the catalog has a board power above 1,000 W (catalog/data/instance_types.yaml
# `tdp_w`, a test keeps it below this bound); a per-GPU limit above 2,000 W is a typo, and the planner
# clamps to the TDP anyway.
MAX_GPU_POWER_W = 2000


class PowerCapBounds(SpecModel):
    min: Count = Field(le=MAX_GPU_POWER_W, description="Lowest per-GPU power limit the planner may set (W).")
    max: Count = Field(le=MAX_GPU_POWER_W, description="Highest per-GPU power limit the planner may set (W).")


class Fleet(SpecModel):
    name: str
    kind: FleetKind = Field(
        default="ec2",
        description="`ec2` (instances in the VPC) or `hybrid` (on-premises servers joined as EKS Hybrid Nodes).",
    )
    server: str | None = Field(default=None, description="Hybrid fleets: the server model from the catalog.")
    instance_type: str
    count: Count = Field(le=MAX_NODES_PER_FLEET, description=f"Nodes in the fleet (1-{MAX_NODES_PER_FLEET:,}).")
    availability_zone: str | None = None
    capacity: Capacity = Capacity()
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        description="Kubernetes node labels (`[prefix/]name: value`; not under kubernetes.io or k8s.io).",
    )
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
    # Amazon EBS User Guide, "Amazon EBS General Purpose SSD volumes": a gp3 volume (the root volume's
    # type, fleet.py) is 1 GiB-16 TiB; 50 GiB is what the Deep Learning AMIs' root snapshots need.
    root_volume_gib: Integer = Field(default=200, alias="rootVolumeGiB", ge=50, le=16384)
    # A node cannot draw more than the densest rack delivers (numbers.MAX_RACK_POWER_KW).
    node_power_kw: PositiveFloat | None = Field(
        default=None, le=MAX_RACK_POWER_KW, description="Override the catalog's node power (kW)."
    )
    gpu_power_cap_w: Annotated[PowerCapBounds | None, NotNull] = None
    strategy: PlacementStrategy = "pack"


class FactorySpec(SpecModel):
    """The whole stack config: `aws:region` plus every `aifactory:` key."""

    region: str
    profile: Profile
    sovereignty: Annotated[Sovereignty | None, NotNull] = None
    network: Network = Network()
    # Each fleet is at least one launch template and node group; 100 is more than three times the EKS
    # default of 30 managed node groups per cluster (AWS General Reference, "Amazon EKS endpoints and
    # quotas") and bounds the planner at 100 fleets of at most MAX_NODES_PER_FLEET nodes.
    fleets: list[Fleet] = Field(min_length=1, max_length=100)
    storage: Annotated[StorageSpec | None, NotNull] = None
    site: Annotated[SiteSpec | None, NotNull] = None
    scheduler: Annotated[SchedulerSpec | None, NotNull] = None
    access: Annotated[AccessSpec | None, NotNull] = None
    hybrid: Annotated[HybridSpec | None, NotNull] = Field(
        default=None,
        description="The data hall's side of EKS Hybrid Nodes / on-premises Slurm nodes: remote networks, "
        "credentials and the site link (`spec/hybrid.py`).",
    )
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
