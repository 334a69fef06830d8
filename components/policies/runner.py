"""What the policies check against (`PolicyConfig`), how they read a resource, and the plan runner.

Every resource check reads the engine's camelCase inputs (as `pulumi preview` hands them to an
analyzer and as `aifactory plan --json` prints them). A value that is absent where the check needs
it to be set is reported; a value that a preview does not know yet (None or Pulumi's unknown
sentinel, `aifactory.invariants.is_unknown`) is never reported.

`run_policies` is the `aifactory plan` / `policy-check` path: every registered policy over plan
JSON, no Pulumi engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..catalog.regions import partition_of
from ..invariants import is_unknown
from ..spec.site import COOLING_LIMIT_KW
from ..tags import ROLE_EFA, TAG_FACTORY, TAG_PROFILE, TAG_RESIDENCY, TAG_ROLE
from .registry import POLICIES, Level

if TYPE_CHECKING:
    from .pack_config import PackConfig

# --- config ----------------------------------------------------------------------------------------

MIN_LOG_RETENTION_DAYS = 365
"""[CloudWatch.16] parameter `minRetentionTime`, Security Hub default 365 days (Security Hub user guide,
"CloudWatch controls")."""


@dataclass(frozen=True)
class PolicyConfig:
    """What the policies check against; one per stack.

    `profile` selects the sovereign-only policies; `required_tags` None means the profile's default
    keys (`default_required_tags`); `cooling_limits_kw` is the heat a rack of each cooling class can
    remove (None: no practical limit); `default_tags` are the AWS provider's `defaultTags`, which
    count as tags on every AWS resource.
    """

    profile: str = "sovereign"
    allowed_regions: tuple[str, ...] = ()
    allowed_partitions: tuple[str, ...] = ()
    allowed_registries: tuple[str, ...] = ()
    required_tags: tuple[str, ...] | None = None
    cooling_limits_kw: Mapping[str, float | None] = field(default_factory=lambda: dict(COOLING_LIMIT_KW))
    fsx_deployment_types: tuple[str, ...] = ("PERSISTENT_2",)
    fsx_min_backup_days: int = 1
    min_log_retention_days: int = MIN_LOG_RETENTION_DAYS
    default_tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_sovereignty(cls, profile: str, sovereignty: Mapping[str, Any] | None) -> PolicyConfig:
        """The config from raw stack config: `aifactory:profile` and the camelCase `aifactory:sovereignty`."""
        if profile not in ("sovereign", "commercial"):
            raise ValueError(f"profile must be 'sovereign' or 'commercial', not {profile!r}")
        sov = sovereignty or {}
        regions = tuple(sov.get("allowedRegions") or ())
        partitions = tuple(sov.get("allowedPartitions") or ())
        if regions and not partitions:
            partitions = tuple(sorted({p for r in regions if (p := partition_of(r)) is not None}))
        mirror = sov.get("registryMirror")
        return cls(
            profile=profile,
            allowed_regions=regions,
            allowed_partitions=partitions,
            allowed_registries=(mirror,) if mirror else (),
        )

    @classmethod
    def from_stack_config(cls) -> PolicyConfig:
        """The current stack's `aifactory:profile` / `aifactory:sovereignty`, as a policy pack sees them.

        The engine hands the stack's config to policy packs (pulumi/pulumi#3612, #20570; pulumi_policy
        reads it from `PULUMI_CONFIG`). Without a profile the strict one applies.
        """
        import pulumi

        config = pulumi.Config("aifactory")
        return cls.from_sovereignty(config.get("profile") or "sovereign", config.get_object("sovereignty"))

    def with_overrides(self, pack_config: Mapping[str, Any]) -> PolicyConfig:
        """Apply one policy's CrossGuard config (the camelCase keys of `CONFIG_SCHEMA`)."""
        changes: dict[str, Any] = {}
        for key, attr in _CONFIG_KEYS.items():
            if key in pack_config and pack_config[key] is not None:
                value = pack_config[key]
                if isinstance(value, list):
                    value = tuple(value)
                elif attr in ("fsx_min_backup_days", "min_log_retention_days"):
                    value = int(value)
                changes[attr] = value
        return replace(self, **changes) if changes else self

    def tag_keys(self) -> tuple[str, ...]:
        if self.required_tags is not None:
            return self.required_tags
        return default_required_tags(self.profile)


def default_required_tags(profile: str) -> tuple[str, ...]:
    """Factory and profile tags everywhere; data-residency tags too in sovereign stacks."""
    base = (TAG_FACTORY, TAG_PROFILE)
    return (*base, TAG_RESIDENCY) if profile == "sovereign" else base


_CONFIG_KEYS: dict[str, str] = {
    "profile": "profile",
    "allowedRegions": "allowed_regions",
    "allowedPartitions": "allowed_partitions",
    "allowedRegistries": "allowed_registries",
    "requiredTags": "required_tags",
    "coolingLimitsKw": "cooling_limits_kw",
    "fsxDeploymentTypes": "fsx_deployment_types",
    "fsxMinBackupDays": "fsx_min_backup_days",
    "minRetentionDays": "min_log_retention_days",
}

_STRINGS = {"type": "array", "items": {"type": "string"}}
CONFIG_SCHEMA: dict[str, dict[str, Any]] = {
    "profile": {
        "type": "string",
        "enum": ["sovereign", "commercial"],
        "description": "Overrides the stack's aifactory:profile.",
    },
    "allowedRegions": {**_STRINGS, "description": "Regions resources may live in (default: sovereignty)."},
    "allowedPartitions": {**_STRINGS, "description": "Partitions ARNs may name (default: of the regions)."},
    "allowedRegistries": {**_STRINGS, "description": "host[/path] prefixes images and charts may come from."},
    "requiredTags": {**_STRINGS, "description": "Tag keys every taggable AWS resource carries."},
    "coolingLimitsKw": {
        "type": "object",
        "additionalProperties": {"type": ["number", "null"]},
        "description": "Heat (kW) a rack of each cooling class removes; null = no limit.",
    },
    "fsxDeploymentTypes": {
        **_STRINGS,
        "default": ["PERSISTENT_2"],
        "description": "FSx for Lustre deployment types allowed.",
    },
    "fsxMinBackupDays": {
        "type": "integer",
        "minimum": 0,
        "default": 1,
        "description": "Least automatic backup retention (days).",
    },
    "minRetentionDays": {
        "type": "integer",
        "minimum": 1,
        "default": MIN_LOG_RETENTION_DAYS,
        "description": "Least days a log group keeps its events ([CloudWatch.16] minRetentionTime).",
    },
}


# --- the resource view: reading camelCase inputs ---------------------------------------------------

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
FSX_LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
AWS_PROVIDER = "pulumi:providers:aws"


def known(value: Any) -> bool:
    return not is_unknown(value)


def truthy(value: Any) -> bool:
    # pulumi-aws types some booleans as strings ("true"/"false") on the wire.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def dicts(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def strings(value: Any) -> Iterator[str]:
    """Every known string inside a nested value."""
    if isinstance(value, str):
        if known(value):
            yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, Sequence):
        for v in value:
            yield from strings(v)


def tags_of(props: Mapping[str, Any]) -> Mapping[str, Any]:
    tags = props.get("tags")
    if isinstance(tags, list):
        # Auto Scaling groups list their tags as {key, value, propagateAtLaunch}.
        return {t["key"]: t.get("value") for t in tags if isinstance(t, Mapping) and "key" in t}
    return tags if isinstance(tags, Mapping) else {}


def is_efa_group(props: Mapping[str, Any]) -> bool:
    """Components tag the EFA security group (and its separate rule resources) `TAG_ROLE: ROLE_EFA`."""
    return tags_of(props).get(TAG_ROLE) == ROLE_EFA


def from_launch_template(props: Mapping[str, Any]) -> bool:
    """EC2 takes every setting an instance leaves out from its launch template."""
    return isinstance(props.get("launchTemplate"), Mapping)


PLACEMENT_INPUT = "placement"
"""The input of the factory component that carries the placement summary (`{"racks": [...]}`)."""


def placement_from_resources(resources: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The placement summary a factory component carries in its `placement` input, if any."""
    for res in resources:
        if str(res.get("type", "")).startswith("aifactory:"):
            value = (res.get("inputs") or {}).get(PLACEMENT_INPUT)
            if isinstance(value, Mapping) and "racks" in value:
                return value
    return None


def provider_default_tags(provider_inputs: Mapping[str, Any]) -> dict[str, str] | None:
    """The `defaultTags.tags` of an AWS provider's inputs, None when it sets none."""
    default = provider_inputs.get("defaultTags")
    if isinstance(default, Mapping) and isinstance(default.get("tags"), Mapping):
        return dict(default["tags"])
    return None


# --- the runner over plan JSON ---------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    policy: str
    level: Level
    urn: str
    message: str


def run_policies(
    resources: Sequence[Mapping[str, Any]],
    profile: str,
    config: PolicyConfig,
    placement: Mapping[str, Any] | None,
    pack: PackConfig | None = None,
) -> list[Violation]:
    """Every violation of every applicable policy over plan-JSON resources and the placement summary.

    Resources are `{"urn", "type", "name", "parent", "inputs"}` (`aifactory plan --json`);
    `placement` is the plan's `summary.placement` (`{"racks": [...]}`) or None. `pack` is a policy
    pack config file's levels and properties (`--policy-config`), as CrossGuard applies them.
    """
    from .pack_config import PackConfig

    pack = pack or PackConfig()
    default_tags: dict[str, str] = {}
    for res in resources:
        if res.get("type") == AWS_PROVIDER:
            default_tags.update(provider_default_tags(res.get("inputs") or {}) or {})
    config = replace(config, profile=profile, default_tags={**default_tags, **config.default_tags})
    violations: list[Violation] = []
    for defn in POLICIES:
        level = pack.reported_level(defn, profile)
        policy_config = pack.policy_config(defn, config)
        if level is None or not defn.applies(policy_config.profile):
            continue
        if defn.stack_check is not None:
            found_messages = defn.stack_check(placement, policy_config)
            violations += [Violation(defn.id, level, "", defn.message(m)) for m in found_messages]
            continue
        if defn.inventory_check is not None:
            found = defn.inventory_check(resources, policy_config)
            violations += [Violation(defn.id, level, urn, defn.message(m)) for urn, m in found]
            continue
        assert defn.resource_check is not None
        for res in resources:
            inputs = res.get("inputs") or {}
            for message in defn.resource_check(str(res.get("type", "")), inputs, policy_config):
                violations.append(Violation(defn.id, level, str(res.get("urn", "")), defn.message(message)))
    return violations
