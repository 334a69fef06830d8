"""`FactorySpec`: the validated stack config of one AI factory."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..catalog.regions import partition_of
from .access import AccessSpec
from .aws_values import vpc_cidr_problem
from .base import NotNull, SpecModel, unit
from .hybrid import HybridSpec
from .images import AMI_ID
from .node_images import NodeImagesSpec, default_slurm_version
from .numbers import (
    MAX_NODES_PER_FLEET,
    MAX_RACK_POWER_KW,
    NETWORK_ADDRESS_USAGE_DEFAULT,
    NETWORK_ADDRESS_USAGE_MAX,
    Count,
    Integer,
    PositiveFloat,
)
from .observability import ObservabilitySpec
from .production import ProductionSpec
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
    allowed_regions: list[str] = Field(
        min_length=1, description="Regions data may live in.", examples=[["eu-north-1", "eu-central-1"]]
    )
    allowed_partitions: list[str] | None = Field(
        default=None, description="Partitions data may live in.", examples=[["aws"]]
    )
    kms_key_arn: str | None = Field(
        default=None,
        description="Customer-managed KMS key; without it the factory creates one.",
        examples=["arn:aws:kms:eu-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
    )
    # Syntax in `spec/syntax.py` (OCI distribution spec host and repository path grammar).
    registry_mirror: RegistryMirror = Field(
        description="In-region registry (host[/path]) every image and chart comes from.",
        examples=["123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"],
    )


class Encryption(SpecModel):
    """The factory's customer-managed KMS key outside the sovereign profile (sovereign stacks always have one,
    `sovereignty.kmsKeyArn`)."""

    customer_managed_key: bool | None = Field(
        default=None,
        description="Encrypt with one customer-managed KMS key: EKS secrets (envelope encryption), EBS volumes, "
        "the FSx for Lustre persistent file system, log groups, the data repository bucket and the Slurm "
        "secrets. The factory creates the key (protected, with a key policy naming only the services the "
        "stack uses) unless `kmsKeyArn` brings one. Default: true in sovereign stacks, false in commercial "
        "ones (AWS-managed keys). Set before the first deploy: turning it on later replaces the file system "
        "and the Slurm head's volume, and EKS cannot turn secrets encryption off again.",
    )
    kms_key_arn: str | None = Field(
        default=None,
        description="An existing customer-managed key to use instead of creating one (implies "
        "`customerManagedKey: true`); its key policy must let the stack's services use it. Sovereign "
        "stacks set `sovereignty.kmsKeyArn` instead.",
        examples=["arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
    )


class Network(SpecModel):
    cidr: str = Field(default="10.0.0.0/16", description="IPv4 CIDR block of the VPC, netmask /16 to /28.")
    availability_zones: list[str] | None = Field(
        default=None,
        description="AZs for subnets (default: the fleets' AZs, else the region's first two).",
        examples=[["eu-north-1a", "eu-north-1b"]],
    )
    egress: Literal["none", "nat"] | None = Field(
        default=None, description="Internet egress; default `none` for sovereign, `nat` for commercial."
    )
    network_address_usage_quota: Count = Field(
        default=NETWORK_ADDRESS_USAGE_DEFAULT,
        le=NETWORK_ADDRESS_USAGE_MAX,
        json_schema_extra=unit("NAU units"),
        examples=[256_000],
        description='The VPC\'s Network Address Usage quota (Amazon VPC quota "Network Address Usage", 64,000 '
        "by default, at most 256,000): every address, prefix and additional (also EFA-only) interface of the "
        "nodes, every EKS pod and 6 units per interface endpoint and NAT gateway in each zone count. Set what "
        "Service Quotas granted.",
    )
    # A zone's slot is its letter (a=0 ... z=25), so there is no 27th slot.
    zone_slots: Count | None = Field(
        default=None,
        le=26,
        json_schema_extra=unit("zones"),
        examples=[4],
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
    type: CapacityType = Field(
        default="on-demand",
        description="How the instances are bought: `on-demand`, `capacity-reservation` (an On-Demand Capacity "
        "Reservation), `capacity-block` (EC2 Capacity Blocks for ML) or `spot`.",
    )
    reservation_id: str | None = Field(
        default=None,
        pattern=r"^cr-[0-9a-f]{8,17}$",
        description="cr-… of the reservation or capacity block.",
        examples=["cr-0123456789abcdef0"],
    )
    end_time: datetime | None = Field(
        default=None,
        description="Capacity block end (ISO 8601 with zone); instances go 30 minutes before.",
        examples=["2026-12-15T11:30:00Z"],
    )
    # EC2 user guide, "Capacity Reservations for cluster placement groups": an On-Demand Capacity
    # Reservation can be created in a cluster placement group, and instances use it only when they
    # launch into that group. Syntax and region are `placement_rules.capacity_placement_group_valid`.
    placement_group: str | None = Field(
        default=None,
        description="Capacity reservations only: the name or ARN of the cluster placement group the "
        "reservation was created in; the launch template launches into it.",
        examples=["train-cpg"],
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


TaintText = Annotated[str, StringConstraints(pattern=r"^[^=:\s]+(=[^:\s]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$")]
"""The `key[=value]:Effect` form a stack file writes a taint in (for the JSON Schema; `parse_taint` checks it)."""


class Taint(SpecModel):
    """A Kubernetes node taint; one model for the kubelet's flags and the EKS node group."""

    key: str = Field(
        description="Taint key, a qualified name (`[prefix/]name`, at most 63 characters).", examples=["nvidia.com/gpu"]
    )
    value: str = Field(default="", description="Taint value, a label value (may be empty).")
    effect: TaintEffect = Field(description="What the taint does to pods that do not tolerate it.")

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
    min: Count = Field(
        le=MAX_GPU_POWER_W,
        json_schema_extra=unit("W"),
        description="Lowest per-GPU power limit the planner may set.",
        examples=[400],
    )
    max: Count = Field(
        le=MAX_GPU_POWER_W,
        json_schema_extra=unit("W"),
        description="Highest per-GPU power limit the planner may set.",
        examples=[700],
    )


AwsPlacementStrategy = Literal["cluster", "partition"]


class FleetPlacement(SpecModel):
    """An EC2 placement group the fleet asks for (on-demand and spot capacity only)."""

    strategy: AwsPlacementStrategy = Field(
        description="`cluster` (one low-latency group in one AZ; the default for EFA fleets) or `partition` "
        "(nodes split across partitions on distinct racks, for fault isolation)."
    )
    # The range (1-7 per AZ) and the fleet size are `placement_rules.fleet_placement_valid`.
    partitions: Integer | None = Field(
        default=None,
        json_schema_extra=unit("partitions"),
        description="`partition` only: number of partitions (1-7; default min(7, count)).",
        examples=[4],
    )


# Why a GPU runs below its board power on EC2, where no facility forces a cap (EC2 bills per instance
# and exposes no rack power): a closed list, so every capped AWS fleet names its reason.
GPU_POWER_LIMIT_REASONS: dict[str, str] = {
    "throughput-study": "measure how training throughput responds to a GPU power limit, independent of any "
    "facility (for example to choose the caps of a data hall before buying it)",
    "datahall-parity": "run at the limit the same accelerators run under in the customer's data hall, so "
    "results from both sites compare",
    "energy-study": "measure energy per step or per token at a limit (the driver's energy counters)",
}
GpuPowerLimitReason = Literal["throughput-study", "datahall-parity", "energy-study"]


def _reason_not_cost(value: Any) -> Any:
    if value == "cost":
        raise PydanticCustomError(
            "config_issue",
            "'cost' is not a reason on EC2: instances are billed per second of the instance, not per watt, "
            "so a lower GPU power limit saves nothing and lowers throughput per dollar",
            {"fix": "remove `gpuPowerLimit`, or name why you cap: " + ", ".join(GPU_POWER_LIMIT_REASONS)},
        )
    return value


class GpuPowerLimit(SpecModel):
    """A fixed per-GPU power limit on an EC2 fleet, set at boot, with the reason for it."""

    watts: Count = Field(
        le=MAX_GPU_POWER_W, json_schema_extra=unit("W"), description="Per-GPU power limit set at boot.", examples=[500]
    )
    reason: Annotated[GpuPowerLimitReason, BeforeValidator(_reason_not_cost)] = Field(
        description="Why the fleet runs capped: "
        + "; ".join(f"`{k}`: {v}" for k, v in GPU_POWER_LIMIT_REASONS.items())
        + "."
    )


class Fleet(SpecModel):
    name: str = Field(
        description="Fleet name, unique in the stack: a short DNS label that prefixes the fleet's node names "
        "and resources.",
        examples=["train"],
    )
    kind: FleetKind = Field(
        default="ec2",
        description="`ec2` (instances in the VPC) or `hybrid` (on-premises servers joined as EKS Hybrid Nodes).",
    )
    server: str | None = Field(
        default=None,
        description="Hybrid fleets: the server model from the server catalog (required for them).",
        examples=["dgx-b200"],
    )
    instance_type: str | None = Field(
        default=None,
        description="EC2 fleets: the instance type of the nodes, one of the catalog's (required for them).",
        examples=["p5en.48xlarge"],
    )
    count: Count = Field(
        le=MAX_NODES_PER_FLEET,
        json_schema_extra=unit("nodes"),
        description=f"Nodes in the fleet (1-{MAX_NODES_PER_FLEET:,}).",
        examples=[32],
    )
    availability_zone: str | None = Field(
        default=None,
        description="Availability Zone of every node in the fleet (EFA traffic stays in one zone); default: a zone "
        "of `network.availabilityZones` (else of the region) that offers the instance type.",
        examples=["eu-north-1a"],
    )
    capacity: Capacity = Field(default=Capacity(), description="How the fleet's instances are bought.")
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        description="Kubernetes node labels (`[prefix/]name: value`; not under kubernetes.io or k8s.io).",
        examples=[{"team": "research"}],
    )
    taints: list[Annotated[Taint, BeforeValidator(parse_taint, json_schema_input_type=TaintText | Taint)]] = Field(
        default_factory=list,
        description="`key=value:Effect` Kubernetes taints (effect NoSchedule, PreferNoSchedule or NoExecute).",
        examples=[["nvidia.com/gpu=present:NoSchedule"]],
    )
    efa: bool = Field(default=True, description="Attach the instance type's full EFA layout.")
    ami_id: str | None = Field(
        default=None,
        pattern=AMI_ID.pattern,
        description="This fleet's own AMI, over its `aifactory:images` key (ami- and 8 or 17 hex digits).",
        examples=["ami-0a3c5e7f9b1d24680"],
    )
    # Amazon EBS User Guide, "Amazon EBS General Purpose SSD volumes": a gp3 volume (the root volume's
    # type, fleet.py) is 1 GiB-16 TiB; 50 GiB is what the Deep Learning AMIs' root snapshots need.
    root_volume_gib: Integer = Field(
        default=200,
        alias="rootVolumeGiB",
        ge=50,
        le=16384,
        json_schema_extra=unit("GiB"),
        description="Size of each node's gp3 root volume.",
    )
    # A node cannot draw more than the densest rack delivers (numbers.MAX_RACK_POWER_KW).
    node_power_kw: PositiveFloat | None = Field(
        default=None,
        le=MAX_RACK_POWER_KW,
        json_schema_extra=unit("kW"),
        description="Power one node draws, over the catalog's figure for the instance type.",
        examples=[10.5],
    )
    gpu_power_cap_w: Annotated[PowerCapBounds | None, NotNull] = Field(
        default=None,
        alias="gpuPowerCapW",
        description="Data halls only: bounds within which the planner may cap GPUs to fit the rack power (W); "
        "default: no power cap.",
    )
    gpu_power_limit: Annotated[GpuPowerLimit | None, NotNull] = Field(
        default=None, description="EC2 fleets only: a fixed per-GPU limit with its reason {watts, reason}."
    )
    strategy: PlacementStrategy = Field(
        default="pack",
        description="Data halls only: `pack` racks the fleet densely, `spread` spreads it across racks (fewer "
        "nodes lost with one rack).",
    )
    placement: Annotated[FleetPlacement | None, NotNull] = Field(
        default=None,
        description="EC2 on-demand and spot fleets: the placement group to launch into {strategy, partitions}; "
        "default a cluster group for EFA fleets, none otherwise. Reserved capacity is its own placement.",
    )


class FactorySpec(SpecModel):
    """The whole stack config: `aws:region` plus every `aifactory:` key."""

    region: str = Field(
        description="The AWS region every resource is created in; the stack file sets it as `aws:region`.",
        examples=["eu-north-1"],
    )
    profile: Profile = Field(
        description="`sovereign`: data stays in the allowed regions, no internet egress by default, "
        "customer-managed keys and an in-region registry mirror (needs `sovereignty`); `commercial`: none of "
        "these constraints."
    )
    sovereignty: Annotated[Sovereignty | None, NotNull] = Field(
        default=None, description="Data-residency rules; required with the sovereign profile."
    )
    encryption: Encryption = Field(
        default=Encryption(), description="The customer-managed KMS key outside the sovereign profile."
    )
    network: Network = Field(default=Network(), description="The factory's VPC: CIDR, zones, egress, subnet layout.")
    # Each fleet is at least one launch template and node group; 100 is more than three times the EKS
    # default of 30 managed node groups per cluster (AWS General Reference, "Amazon EKS endpoints and
    # quotas") and bounds the planner at 100 fleets of at most MAX_NODES_PER_FLEET nodes.
    fleets: list[Fleet] = Field(
        min_length=1,
        max_length=100,
        description="The node fleets (1-100): EC2 instances of one type in one zone, or the customer's own "
        "servers of one model.",
    )
    storage: Annotated[StorageSpec | None, NotNull] = Field(
        default=None, description="The FSx for Lustre file system every node mounts; default: none."
    )
    site: Annotated[SiteSpec | None, NotNull] = Field(
        default=None,
        description="Where nodes are placed: `kind: aws` (EC2 capacity) or `kind: datahall` (the racks of the "
        "customer's halls for `kind: hybrid` fleets).",
    )
    scheduler: Annotated[SchedulerSpec | None, NotNull] = Field(
        default=None,
        description="`kind: kubernetes` (EKS with Kueue and JobSet) or `kind: slurm` (a Slurm head node); "
        "default: none, the nodes only.",
    )
    production: Annotated[ProductionSpec | None, NotNull] = Field(
        default=None,
        description="Model lines on the EKS cluster: train (Kubeflow Trainer), evaluate, publish to a registry "
        "and serve (`spec/production.py`); needs `scheduler.kind: kubernetes`. Default: none.",
    )
    observability: Annotated[ObservabilitySpec | None, NotNull] = Field(
        default=None,
        description="Metrics, recording and alert rules and the Grafana dashboard of the EKS cluster "
        "(`spec/observability.py`); needs `scheduler.kind: kubernetes`. Default: none, no metrics backend.",
    )
    access: Annotated[AccessSpec | None, NotNull] = Field(
        default=None, description="Who administers the factory's key and cluster."
    )
    hybrid: Annotated[HybridSpec | None, NotNull] = Field(
        default=None,
        description="The data hall's side of EKS Hybrid Nodes / on-premises Slurm nodes: remote networks, "
        "credentials and the site link (`spec/hybrid.py`).",
    )
    node_images: NodeImagesSpec = Field(
        default=NodeImagesSpec(),
        description="Node images built by EC2 Image Builder from the package's locked recipe (`spec/node_images.py`).",
    )
    images: dict[str, str] = Field(
        default_factory=dict,
        description="Pinned machine images by role (`spec/images.py`); `aifactory images pin <stack>` writes them.",
        examples=[{"dlami-nvidia": "ami-0a3c5e7f9b1d24680"}],
    )

    @model_validator(mode="before")
    @classmethod
    def _slurm_version_default(cls, data: Any) -> Any:
        """`scheduler.version` left out: the release the stack's nodes boot (`default_slurm_version`)."""
        if not isinstance(data, dict):
            return data
        scheduler = data.get("scheduler")
        if not isinstance(scheduler, dict) or scheduler.get("kind") != "slurm" or "version" in scheduler:
            return data
        images = data.get("nodeImages", data.get("node_images"))
        boot = isinstance(images, dict) and images.get("boot") is True
        return {**data, "scheduler": {**scheduler, "version": default_slurm_version(boot)}}

    @property
    def partition(self) -> str:
        return partition_of(self.region) or "aws"

    @property
    def sovereign(self) -> bool:
        return self.profile == "sovereign"

    @property
    def customer_managed_key(self) -> bool:
        """Whether the factory's data is encrypted with a customer-managed key (always when sovereign)."""
        if self.sovereign:
            return True
        return bool(self.encryption.customer_managed_key) or self.encryption.kms_key_arn is not None

    @property
    def factory_key_arn(self) -> str | None:
        """The configured customer-managed key (`sovereignty.kmsKeyArn` or `encryption.kmsKeyArn`); None
        when the factory creates its key or uses none."""
        if self.sovereignty is not None and self.sovereignty.kms_key_arn:
            return self.sovereignty.kms_key_arn
        return self.encryption.kms_key_arn

    @property
    def egress(self) -> Literal["none", "nat"]:
        if self.network.egress is not None:
            return self.network.egress
        return "none" if self.sovereign else "nat"

    def fleet(self, name: str) -> Fleet:
        return next(f for f in self.fleets if f.name == name)

    @property
    def ec2_fleets(self) -> list[Fleet]:
        """Fleets of EC2 instances: the ones that get zones, launch templates, node groups and quotas."""
        return [f for f in self.fleets if f.kind == "ec2"]

    @property
    def hybrid_fleets(self) -> list[Fleet]:
        """Fleets of the customer's own servers in a data hall: racked, never launched."""
        return [f for f in self.fleets if f.kind == "hybrid"]
