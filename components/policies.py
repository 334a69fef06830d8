"""The AI factory's policy pack as plain functions.

Every resource policy is a function `(resource_type, props, config) -> list[str]` over the engine's
camelCase inputs (as `pulumi preview` hands them to an analyzer and as `aifactory plan --json`
prints them); an empty list means compliant. A value that is absent where the check needs it to be
set is reported; a value that a preview does not know yet (None or Pulumi's unknown sentinel,
`aifactory.invariants.is_unknown`) is never reported.

`POLICIES` is the registry both runners use: `run_policies` (the `aifactory plan` / `policy-check`
path, no Pulumi engine) and `build_policies` (the CrossGuard objects `policy/__main__.py` packs;
building them does not construct a `PolicyPack`, whose constructor starts a gRPC server and blocks
— pulumi_policy 1.21 policy.py `PolicyPack.__init__`).

Components tag every taggable AWS resource with `TAG_FACTORY`, `TAG_PROFILE` and, in sovereign
stacks, `TAG_RESIDENCY`; the EFA security group (and its separate rule resources) also carries
`TAG_ROLE: ROLE_EFA` so the policies can tell it from the other groups.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from .catalog.instance_types import get_instance_type
from .catalog.regions import partition_of
from .invariants import (
    block_device_violations,
    interface_layout_violations,
    is_unknown,
    metadata_violations,
)
from .spec.site import COOLING_LIMIT_KW, COOLING_RANK

if TYPE_CHECKING:
    from pulumi_policy import Policy

    from .spec.model import FactorySpec

from .tags import ROLE_EFA, TAG_FACTORY, TAG_PROFILE, TAG_RESIDENCY, TAG_ROLE

__all__ = ["ROLE_EFA", "TAG_FACTORY", "TAG_PROFILE", "TAG_RESIDENCY", "TAG_ROLE"]

Level = Literal["mandatory", "advisory"]

_LT = "aws:ec2/launchTemplate:LaunchTemplate"
_INSTANCE = "aws:ec2/instance:Instance"
_SG = "aws:ec2/securityGroup:SecurityGroup"
_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
_SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
_SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
_FSX = "aws:fsx/lustreFileSystem:LustreFileSystem"
_EKS = "aws:eks/cluster:Cluster"
_HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
_AWS_PROVIDER = "pulumi:providers:aws"
_OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


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
    default_tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: FactorySpec) -> PolicyConfig:
        """The config a validated stack implies: its profile and its sovereignty block."""
        sov = spec.sovereignty
        if sov is None:
            return cls(profile=spec.profile)
        return cls.from_sovereignty(spec.profile, sov.model_dump(by_alias=True))

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
                elif attr == "fsx_min_backup_days":
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
    "fsxDeploymentTypes": {**_STRINGS, "description": "FSx for Lustre deployment types allowed."},
    "fsxMinBackupDays": {"type": "integer", "minimum": 0, "description": "Least automatic backup retention."},
}


# --- helpers ---------------------------------------------------------------------------------------


def _known(value: Any) -> bool:
    return not is_unknown(value)


def _truthy(value: Any) -> bool:
    # pulumi-aws types some booleans as strings ("true"/"false") on the wire.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _strings(value: Any) -> Iterator[str]:
    """Every known string inside a nested value."""
    if isinstance(value, str):
        if _known(value):
            yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, Sequence):
        for v in value:
            yield from _strings(v)


def _tags(props: Mapping[str, Any]) -> Mapping[str, Any]:
    tags = props.get("tags")
    if isinstance(tags, list):
        # Auto Scaling groups list their tags as {key, value, propagateAtLaunch}.
        return {t["key"]: t.get("value") for t in tags if isinstance(t, Mapping) and "key" in t}
    return tags if isinstance(tags, Mapping) else {}


def _is_efa_group(props: Mapping[str, Any]) -> bool:
    return _tags(props).get(TAG_ROLE) == ROLE_EFA


# --- resource policies -----------------------------------------------------------------------------

# ARN: arn:partition:service:region:account:resource (IAM user guide, "IAM identifiers").
_ARN = re.compile(r"arn:([^:\s\"]+):([^:\s\"]*):([^:\s\"]*):")


def check_allowed_regions(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """The resource's `region` and every ARN it names lie in the allowed regions and partitions."""
    if not (resource_type.startswith("aws:") or resource_type == _AWS_PROVIDER):
        return []
    out: list[str] = []
    region = props.get("region")
    if (
        config.allowed_regions
        and isinstance(region, str)
        and _known(region)
        and region not in config.allowed_regions
    ):
        out.append(f"region {region} is not one of the allowed regions {list(config.allowed_regions)}")
    seen: set[str] = set()
    for text in _strings(props):
        for match in _ARN.finditer(text):
            arn_partition, arn_region = match.group(1), match.group(3)
            arn = match.group(0)
            if arn in seen:
                continue
            seen.add(arn)
            if config.allowed_partitions and arn_partition not in config.allowed_partitions:
                out.append(
                    f"ARN {arn}… is in partition {arn_partition}, not one of "
                    f"{list(config.allowed_partitions)}; build ARNs from the stack's partition"
                )
            wildcard = "*" in arn_region or "$" in arn_region
            if (
                config.allowed_regions
                and arn_region
                and not wildcard
                and arn_region not in config.allowed_regions
            ):
                out.append(f"ARN {arn}… names region {arn_region}, not one of {list(config.allowed_regions)}")
    return out


def _needs_key(what: str, value: Any, present: bool) -> list[str]:
    if not present:
        return [f"{what} is not set; sovereign data stores are encrypted with a customer-managed KMS key"]
    if _known(value) and (not isinstance(value, str) or not value.strip() or value.startswith("alias/aws/")):
        return [f"{what} is {value!r}; it must name a customer-managed KMS key"]
    return []


def check_customer_managed_keys(
    resource_type: str, props: Mapping[str, Any], config: PolicyConfig
) -> list[str]:
    """Every data store (other than launch-template disks, see `check_encrypted_disks`) uses a CMK.

    EBS volumes, FSx for Lustre, S3 default encryption, EKS secrets, CloudWatch log groups and
    Secrets Manager secrets. S3: SSE-KMS (`aws:kms` or `aws:kms:dsse`) with `kmsMasterKeyId`.
    """
    if resource_type in (_FSX, "aws:cloudwatch/logGroup:LogGroup", "aws:secretsmanager/secret:Secret"):
        return _needs_key("kmsKeyId", props.get("kmsKeyId"), "kmsKeyId" in props)
    if resource_type == "aws:ebs/volume:Volume":
        out = (
            []
            if _truthy(props.get("encrypted")) or is_unknown(props.get("encrypted"))
            else ["encrypted is not true; the volume must be encrypted"]
        )
        return out + _needs_key("kmsKeyId", props.get("kmsKeyId"), "kmsKeyId" in props)
    if resource_type in (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    ):
        out = []
        for i, rule in enumerate(_dicts(props.get("rules"))):
            default = rule.get("applyServerSideEncryptionByDefault")
            if not isinstance(default, Mapping):
                continue
            algorithm = default.get("sseAlgorithm")
            if _known(algorithm) and algorithm not in ("aws:kms", "aws:kms:dsse"):
                out.append(f"rules[{i}]: sseAlgorithm is {algorithm!r}; sovereign buckets use SSE-KMS")
            out += _needs_key(
                f"rules[{i}].kmsMasterKeyId", default.get("kmsMasterKeyId"), "kmsMasterKeyId" in default
            )
        return out
    if resource_type == _EKS:
        enc = props.get("encryptionConfig")
        if "encryptionConfig" not in props:
            return ["encryptionConfig is not set; Kubernetes secrets need a customer-managed key"]
        if not isinstance(enc, Mapping):
            return []
        out = []
        provider = enc.get("provider")
        if isinstance(provider, Mapping):
            out += _needs_key(
                "encryptionConfig.provider.keyArn", provider.get("keyArn"), "keyArn" in provider
            )
        elif "provider" not in enc:
            out.append("encryptionConfig.provider is not set; name the customer-managed key")
        resources = list(_strings(enc.get("resources")))
        if "resources" in enc and _known(enc.get("resources")) and "secrets" not in resources:
            out.append("encryptionConfig.resources does not include 'secrets'")
        return out
    return []


def _instance_block_devices(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An instance's root and EBS devices in launch-template `blockDeviceMappings` form."""
    mappings: list[dict[str, Any]] = []
    root = props.get("rootBlockDevice")
    if isinstance(root, Mapping):
        mappings.append({"deviceName": "root", "ebs": dict(root)})
    for dev in _dicts(props.get("ebsBlockDevices")):
        mappings.append({"deviceName": dev.get("deviceName"), "ebs": dict(dev)})
    return mappings


def check_encrypted_disks(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Node disks gp3 and encrypted; with a customer-managed key in sovereign stacks."""
    require_cmk = config.profile == "sovereign"
    if resource_type == _LT:
        return block_device_violations(props.get("blockDeviceMappings"), require_cmk)
    if resource_type == _INSTANCE:
        devices = _instance_block_devices(props)
        if not devices and _from_launch_template(props):
            return []  # the template's disks apply, and this policy checks the template itself
        return block_device_violations(devices or None, require_cmk)
    return []


def _from_launch_template(props: Mapping[str, Any]) -> bool:
    """EC2 takes every setting an instance leaves out from its launch template."""
    return isinstance(props.get("launchTemplate"), Mapping)


def check_no_public_network(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No internet gateway, public NAT gateway, elastic IP or public IP address."""
    forbidden = {
        "aws:ec2/internetGateway:InternetGateway": "an internet gateway",
        "aws:ec2/internetGatewayAttachment:InternetGatewayAttachment": "an internet gateway attachment",
        "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": "an egress-only internet gateway",
        "aws:ec2/eip:Eip": "an elastic IP",
    }
    if resource_type in forbidden:
        return [f"{forbidden[resource_type]} gives the factory an internet path; sovereign stacks have none"]
    if resource_type == "aws:ec2/natGateway:NatGateway":
        # connectivityType defaults to "public" (pulumi-aws ec2/nat_gateway.py); a private NAT
        # gateway has no route to the internet.
        kind = props.get("connectivityType", "public")
        if _known(kind) and kind != "private":
            return ["a public NAT gateway gives the factory internet egress; sovereign stacks have none"]
        return []
    if resource_type == "aws:ec2/subnet:Subnet" and _truthy(props.get("mapPublicIpOnLaunch")):
        return ["mapPublicIpOnLaunch is true; instances in this subnet get public IP addresses"]
    if resource_type == _INSTANCE and _truthy(props.get("associatePublicIpAddress")):
        return ["associatePublicIpAddress is true; the instance gets a public IP address"]
    if resource_type == _LT:
        return [
            f"networkInterfaces[{i}]: associatePublicIpAddress is true; nodes get public IP addresses"
            for i, nic in enumerate(_dicts(props.get("networkInterfaces")))
            if _truthy(nic.get("associatePublicIpAddress"))
        ]
    return []


def check_imdsv2(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Launch templates and instances require IMDSv2 (token) with a hop limit containers can reach."""
    if resource_type not in (_LT, _INSTANCE):
        return []
    options = props.get("metadataOptions")
    if is_unknown(options) and "metadataOptions" in props:
        return []
    if resource_type == _INSTANCE and options is None and _from_launch_template(props):
        return []  # the template's options apply, and this policy checks the template itself
    # Launch templates build container hosts (hop limit 2); a standalone instance may keep 1.
    runs_containers = resource_type == _LT or _from_launch_template(props)
    return metadata_violations(options if isinstance(options, Mapping) else None, runs_containers)


def _self_only_rule(rule: Mapping[str, Any], where: str) -> list[str]:
    out = []
    if not _truthy(rule.get("self")) and _known(rule.get("self")):
        out.append(f"{where}: does not reference the group itself (self: true)")
    for key in ("cidrBlocks", "ipv6CidrBlocks", "prefixListIds", "securityGroups"):
        values = [v for v in _strings(rule.get(key))]
        if values:
            out.append(f"{where}: {key} {values} let other sources in; the EFA group allows only itself")
    return out


def check_efa_security_group(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """The EFA security group allows all traffic to and from itself and nothing else.

    Source: EC2 user guide, "Get started with EFA and MPI", step "Prepare an EFA-enabled security
    group" (all inbound and all outbound traffic from/to the group itself).
    """
    if not _is_efa_group(props):
        return []
    if resource_type == _SG:
        out: list[str] = []
        for direction in ("ingress", "egress"):
            rules = _dicts(props.get(direction))
            if direction not in props or is_unknown(props.get(direction)):
                continue
            for i, rule in enumerate(rules):
                out += _self_only_rule(rule, f"{direction}[{i}]")
            if not any(_truthy(r.get("self")) and r.get("protocol") in ("-1", "all") for r in rules):
                out.append(
                    f"{direction}: no rule allows all traffic {'from' if direction == 'ingress' else 'to'} "
                    "the group itself (protocol -1, self: true)"
                )
        return out
    if resource_type in (_SG_INGRESS, _SG_EGRESS):
        out = []
        for key in ("cidrIpv4", "cidrIpv6", "prefixListId"):
            if key in props and _known(props[key]):
                out.append(f"{key} {props[key]} lets other sources in; the EFA group allows only itself")
        ref, group = props.get("referencedSecurityGroupId"), props.get("securityGroupId")
        if "referencedSecurityGroupId" not in props:
            out.append("referencedSecurityGroupId is not set; the rule must reference the EFA group itself")
        elif _known(ref) and _known(group) and ref != group:
            out.append(f"rule references {ref}, not the EFA group {group} itself")
        return out
    return []


def check_no_open_ingress(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No security group admits traffic from 0.0.0.0/0 or ::/0."""

    def opened(values: Any) -> list[str]:
        return sorted({v for v in _strings(values) if v in _OPEN_CIDRS})

    if resource_type == _SG:
        return [
            f"ingress[{i}] (protocol {rule.get('protocol')}, ports "
            f"{rule.get('fromPort')}-{rule.get('toPort')}) is open to {cidrs}"
            for i, rule in enumerate(_dicts(props.get("ingress")))
            if (cidrs := opened([rule.get("cidrBlocks"), rule.get("ipv6CidrBlocks")]))
        ]
    if resource_type == _SG_INGRESS:
        cidrs = opened([props.get("cidrIpv4"), props.get("cidrIpv6")])
        return [f"ingress rule is open to {cidrs}"] if cidrs else []
    if resource_type == _SG_RULE and props.get("type") == "ingress":
        cidrs = opened([props.get("cidrBlocks"), props.get("ipv6CidrBlocks")])
        return [f"ingress rule is open to {cidrs}"] if cidrs else []
    return []


def check_efa_layout(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """A launch template that declares EFA interfaces declares the instance type's complete layout."""
    if resource_type != _LT:
        return []
    nics = props.get("networkInterfaces")
    if not _dicts(nics) or not any(n.get("interfaceType") in ("efa", "efa-only") for n in _dicts(nics)):
        return []
    return interface_layout_violations([dict(n) for n in _dicts(nics)], props.get("instanceType"))


def check_no_placement_group_on_reserved_capacity(
    resource_type: str, props: Mapping[str, Any], config: PolicyConfig
) -> list[str]:
    """No placement group on capacity reservations or capacity blocks.

    Those instances are already placed; forcing a placement group on them fails launches with
    InsufficientInstanceCapacity (EC2 user guide, "Capacity Blocks for ML"; "Use capacity
    reservations with cluster placement groups").
    """
    if resource_type == _LT:
        placement = props.get("placement")
        group = (
            (placement.get("groupName") or placement.get("groupId"))
            if isinstance(placement, Mapping)
            else None
        )
    elif resource_type == _INSTANCE:
        group = props.get("placementGroup")
    else:
        return []
    if not group:
        return []
    market = props.get("instanceMarketOptions")
    market_type = market.get("marketType") if isinstance(market, Mapping) else None
    spec = props.get("capacityReservationSpecification")
    reserved = False
    if isinstance(spec, Mapping):
        target = spec.get("capacityReservationTarget")
        reserved = (isinstance(target, Mapping) and any(target.get(k) for k in target)) or (
            spec.get("capacityReservationPreference") == "capacity-reservations-only"
        )
    where = "" if is_unknown(group) else f" {group}"
    if market_type == "capacity-block":
        return [f"placement group{where} on a capacity block; capacity blocks are already co-located"]
    if reserved:
        return [f"placement group{where} on a capacity reservation; reserved instances are already placed"]
    return []


def check_fsx_lustre(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """FSx for Lustre: an allowed (persistent) deployment type, encrypted at rest, automatic backups.

    `deploymentType` defaults to SCRATCH_1 and `automaticBackupRetentionDays` to 0 (disabled)
    (pulumi-aws fsx/lustre_file_system.py). Persistent file systems are always encrypted at rest
    (FSx for Lustre user guide, "Encrypting data at rest"); the key must not be the AWS-managed
    alias in a sovereign stack (see `check_customer_managed_keys`).
    """
    if resource_type != _FSX:
        return []
    out: list[str] = []
    deployment = props.get("deploymentType", "SCRATCH_1")
    if _known(deployment) and deployment not in config.fsx_deployment_types:
        out.append(
            f"deploymentType is {deployment}; allowed: {list(config.fsx_deployment_types)} "
            "(scratch file systems are not replicated and have no backups)"
        )
    if "automaticBackupRetentionDays" not in props:
        if config.fsx_min_backup_days > 0:
            out.append(
                "automaticBackupRetentionDays is not set (0: no backups); "
                f"keep at least {config.fsx_min_backup_days} day(s)"
            )
    else:
        days = props["automaticBackupRetentionDays"]
        if _known(days) and isinstance(days, int | float) and days < config.fsx_min_backup_days:
            out.append(
                f"automaticBackupRetentionDays is {int(days)}; keep at least {config.fsx_min_backup_days}"
            )
    key = props.get("kmsKeyId")
    if isinstance(key, str) and _known(key) and str(deployment).startswith("SCRATCH"):
        out.append("kmsKeyId is set on a scratch file system, which cannot use a customer-managed key")
    return out


def check_private_endpoint(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """EKS API endpoint private only (endpointPublicAccess defaults to true, private to false)."""
    if resource_type != _EKS:
        return []
    vpc = props.get("vpcConfig")
    if not isinstance(vpc, Mapping):
        return []
    out = []
    public = vpc.get("endpointPublicAccess", True)
    if _known(public) and (public is True or _truthy(public)):
        out.append("vpcConfig.endpointPublicAccess is not false; the cluster endpoint must be private")
    private = vpc.get("endpointPrivateAccess", False)
    if _known(private) and not _truthy(private):
        out.append("vpcConfig.endpointPrivateAccess is not true; nodes reach the API server privately")
    return out


def _normalize_ref(ref: str) -> str:
    return re.sub(r"^[a-z]+://", "", ref.strip()).rstrip("/")


def registry_allowed(ref: str, allowed: Sequence[str]) -> bool:
    """Whether an image or chart reference comes from one of the allowed host[/path] prefixes."""
    target = _normalize_ref(ref)
    for prefix in allowed:
        p = _normalize_ref(prefix)
        if (
            target == p
            or target.startswith(p + "/")
            or target.startswith(p + ":")
            or target.startswith(p + "@")
        ):
            return True
    return False


def _image_refs(value: Any) -> Iterator[str]:
    """Image references in chart values or manifests: `image` strings, `repository` strings and
    `{registry, repository}` pairs (the common chart convention)."""
    if isinstance(value, Mapping):
        registry, repository = value.get("registry"), value.get("repository")
        if isinstance(repository, str) and _known(repository):
            if isinstance(registry, str) and _known(registry) and registry:
                yield f"{registry}/{repository}"
            else:
                yield repository
        image = value.get("image")
        if isinstance(image, str) and _known(image):
            yield image
        for v in value.values():
            if not isinstance(v, str):
                yield from _image_refs(v)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for v in value:
            yield from _image_refs(v)


def check_allowed_registries(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Charts and container images only from the allowed (in-region mirror) registries."""
    if not resource_type.startswith("kubernetes:"):
        return []
    allowed = config.allowed_registries
    out: list[str] = []
    if resource_type == _HELM_RELEASE:
        opts = props.get("repositoryOpts")
        repo = opts.get("repo") if isinstance(opts, Mapping) else None
        chart = props.get("chart")
        if isinstance(repo, str) and _known(repo):
            if not registry_allowed(repo, allowed):
                out.append(f"chart repository {repo} is not an allowed registry {list(allowed)}")
        elif (
            isinstance(chart, str) and re.match(r"^[a-z]+://", chart) and not registry_allowed(chart, allowed)
        ):
            out.append(f"chart {chart} is not from an allowed registry {list(allowed)}")
        source: Any = props.get("values")
    else:
        source = props
    for ref in sorted(set(_image_refs(source))):
        if not registry_allowed(ref, allowed):
            out.append(f"image {ref} is not from an allowed registry {list(allowed)}")
    return out


@functools.cache
def _taggable(resource_type: str) -> bool:
    """Whether the pulumi-aws resource class for a type token accepts `tags`."""
    match = re.fullmatch(r"aws:([a-zA-Z0-9]+)/[a-zA-Z0-9]+:([A-Za-z0-9]+)", resource_type)
    if not match:
        return False
    try:
        module = importlib.import_module(f"pulumi_aws.{match.group(1)}")
        cls = getattr(module, match.group(2))
    except (ImportError, AttributeError):
        return False
    return "tags" in inspect.signature(cls._internal_init).parameters


def check_required_tags(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Every taggable AWS resource carries the required tag keys (own tags or provider defaultTags)."""
    if not _taggable(resource_type):
        return []
    tags = props.get("tags")
    if is_unknown(tags) and "tags" in props:
        return []
    present = set(_tags(props)) | set(config.default_tags)
    missing = [k for k in config.tag_keys() if k not in present]
    out = [f"missing tags {missing}"] if missing else []
    if resource_type == _LT:
        for i, spec in enumerate(_dicts(props.get("tagSpecifications"))):
            spec_tags = spec.get("tags")
            if isinstance(spec_tags, Mapping):
                lacking = [
                    k for k in config.tag_keys() if k not in spec_tags and k not in config.default_tags
                ]
                if lacking:
                    out.append(f"tagSpecifications[{i}] ({spec.get('resourceType')}) lacks tags {lacking}")
    return out


# IAM policy documents by resource type: (property path, is a trust policy). Property names from
# pulumi-aws 7.x (iam/role.py assume_role_policy, inline_policies; iam/*_policy.py policy;
# s3/bucket_policy.py).
_POLICY_DOCS: dict[str, tuple[tuple[str, bool], ...]] = {
    "aws:iam/role:Role": (("assumeRolePolicy", True), ("inlinePolicies[].policy", False)),
    "aws:iam/rolePolicy:RolePolicy": (("policy", False),),
    "aws:iam/policy:Policy": (("policy", False),),
    "aws:iam/userPolicy:UserPolicy": (("policy", False),),
    "aws:iam/groupPolicy:GroupPolicy": (("policy", False),),
    "aws:s3/bucketPolicy:BucketPolicy": (("policy", False),),
    "aws:kms/key:Key": (("policy", False),),
    "aws:secretsmanager/secretPolicy:SecretPolicy": (("policy", False),),
}


def _policy_documents(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any, bool]]:
    """(where, parsed document, is trust policy) for each known JSON policy document."""
    for path, trust in _POLICY_DOCS.get(resource_type, ()):
        if path.endswith("[].policy"):
            key = path.split("[")[0]
            candidates = [
                (f"{key}[{i}].policy", d.get("policy")) for i, d in enumerate(_dicts(props.get(key)))
            ]
        else:
            candidates = [(path, props.get(path))]
        for where, raw in candidates:
            if raw is None or is_unknown(raw):
                continue
            if isinstance(raw, str):
                try:
                    doc = json.loads(raw)
                except ValueError as exc:
                    yield where, exc, trust
                    continue
            else:
                doc = raw
            if any(is_unknown(s) for s in _strings(doc)):
                continue  # an Output still unresolved inside the document: lint it once it is known
            yield where, doc, trust


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def check_iam_wildcards(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No Allow of every action (`*`, `*:*`) or of `iam:PassRole` on every resource (`*`)."""
    out: list[str] = []
    for where, doc, _trust in _policy_documents(resource_type, props):
        if not isinstance(doc, Mapping):
            continue
        for i, stmt in enumerate(_dicts(_as_list(doc.get("Statement")))):
            if stmt.get("Effect") != "Allow" or "*" not in _as_list(stmt.get("Resource")):
                continue
            actions = [a for a in _as_list(stmt.get("Action")) if isinstance(a, str)]
            if any(a in ("*", "*:*") for a in actions):
                out.append(f"{where} Statement[{i}] allows every action on every resource")
            passrole = [a for a in actions if re.fullmatch(r"iam:(\*|Pass\*|PassRole)", a, re.IGNORECASE)]
            if passrole:
                out.append(f"{where} Statement[{i}] allows {passrole[0]} on every role (Resource '*')")
    return out


_PARLIAMENT_BLOCKING = frozenset({"HIGH", "CRITICAL"})
# Parliament lints identity policies; a trust policy has a Principal and no Resource (IAM user
# guide, "Role trust policies"), which parliament reports as this MALFORMED finding.
_TRUST_NO_RESOURCE = "Statement contains neither Resource nor NotResource"


def check_iam_lint(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Every IAM policy document passes parliament (offline IAM linter) with no high/critical finding."""
    documents = list(_policy_documents(resource_type, props))
    if not documents:
        return []
    with warnings.catch_warnings():
        # parliament imports pkg_resources, which warns on import; the warning is not ours to act on.
        warnings.simplefilter("ignore", UserWarning)
        import parliament  # slow import (loads the IAM definition); only when there is a document

    out: list[str] = []
    for where, doc, trust in documents:
        if isinstance(doc, Exception):
            out.append(f"{where} is not valid JSON: {doc}")
            continue
        for finding in parliament.analyze_policy_string(json.dumps(doc)).findings:
            severity = parliament.config.get(finding.issue, {}).get("severity", "")
            if severity not in _PARLIAMENT_BLOCKING:
                continue
            if trust and finding.issue == "MALFORMED" and finding.detail == _TRUST_NO_RESOURCE:
                continue
            out.append(f"{where}: parliament {severity} {finding.issue}: {finding.detail}")
    return out


# --- stack policy ----------------------------------------------------------------------------------

PLACEMENT_INPUT = "placement"
"""The input of the factory component that carries the placement summary (`{"racks": [...]}`)."""


def check_rack_power(placement: Mapping[str, Any] | None, config: PolicyConfig) -> list[str]:
    """Each rack draws within its power budget and what its cooling class removes, and holds no
    hardware that needs a stronger cooling class (catalog `cooling` of the node's instance type).

    Racks are `{name, cooling, budget_kw, power_kw, nodes}`; `nodes` may be a count, names, or
    `{name, instance_type}` records (only the last can be checked for cooling class).
    """
    if not isinstance(placement, Mapping):
        return []
    out: list[str] = []
    for rack in _dicts(placement.get("racks")):
        name = rack.get("name", "?")
        cooling = rack.get("cooling")
        power, budget = rack.get("power_kw"), rack.get("budget_kw")
        if isinstance(power, int | float) and isinstance(budget, int | float) and power > budget + 1e-9:
            out.append(f"rack {name} draws {power:.1f} kW over its {budget:.1f} kW budget")
        if not isinstance(cooling, str) or not _known(cooling):
            continue
        if cooling not in config.cooling_limits_kw:
            out.append(
                f"rack {name} has unknown cooling class {cooling!r} "
                f"(known: {sorted(config.cooling_limits_kw)})"
            )
            continue
        limit = config.cooling_limits_kw[cooling]
        if limit is not None and isinstance(power, int | float) and power > limit + 1e-9:
            out.append(f"rack {name} draws {power:.1f} kW; {cooling} cooling removes at most {limit:.0f} kW")
        for node in _dicts(rack.get("nodes")):
            itype = node.get("instance_type")
            if not isinstance(itype, str):
                continue
            try:
                needed = get_instance_type(itype).cooling
            except KeyError:
                continue
            if COOLING_RANK.get(needed, 0) > COOLING_RANK.get(cooling, 0):
                out.append(
                    f"rack {name} ({cooling}) holds {node.get('name', itype)}, a {itype} that needs "
                    f"{needed} cooling"
                )
    return out


# --- registry --------------------------------------------------------------------------------------

ResourceCheck = Callable[[str, Mapping[str, Any], PolicyConfig], list[str]]
StackCheck = Callable[[Mapping[str, Any] | None, PolicyConfig], list[str]]


@dataclass(frozen=True)
class PolicyDef:
    """One policy: exactly one of `resource_check` / `stack_check`.

    `enforcement` is the default level; `sovereign_only` policies do not run in commercial stacks;
    `mandatory_in_sovereign` makes the level mandatory in sovereign stacks whatever the default.
    `config_keys` are the CrossGuard config properties (from `CONFIG_SCHEMA`) the policy reads.
    """

    name: str
    description: str
    enforcement: Level
    sovereign_only: bool
    mandatory_in_sovereign: bool
    config_keys: tuple[str, ...]
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None

    def __post_init__(self) -> None:
        if (self.resource_check is None) == (self.stack_check is None):
            raise ValueError(f"policy {self.name}: give exactly one of resource_check and stack_check")

    def applies(self, profile: str) -> bool:
        return not self.sovereign_only or profile == "sovereign"

    def level(self, profile: str) -> Level:
        if profile == "sovereign" and (self.sovereign_only or self.mandatory_in_sovereign):
            return "mandatory"
        return self.enforcement

    def config_schema(self) -> dict[str, dict[str, Any]]:
        return {key: CONFIG_SCHEMA[key] for key in ("profile", *self.config_keys)}


POLICIES: tuple[PolicyDef, ...] = (
    PolicyDef(
        "allowed-regions",
        "Resources and the ARNs they name stay in the allowed regions and partitions.",
        "mandatory",
        True,
        True,
        ("allowedRegions", "allowedPartitions"),
        check_allowed_regions,
    ),
    PolicyDef(
        "customer-managed-keys",
        "EBS, FSx, S3, EKS secrets, log groups and secrets use customer-managed KMS keys.",
        "mandatory",
        True,
        True,
        (),
        check_customer_managed_keys,
    ),
    PolicyDef(
        "encrypted-disks",
        "Node disks are gp3 and encrypted (customer-managed key in sovereign stacks).",
        "mandatory",
        False,
        True,
        (),
        check_encrypted_disks,
    ),
    PolicyDef(
        "no-public-network",
        "No internet gateway, public NAT gateway, elastic IP or public IP address.",
        "mandatory",
        True,
        True,
        (),
        check_no_public_network,
    ),
    PolicyDef(
        "imdsv2-required",
        "Launch templates and instances require IMDSv2 with hop limit 2.",
        "mandatory",
        False,
        True,
        (),
        check_imdsv2,
    ),
    PolicyDef(
        "efa-security-group-self-only",
        "The EFA security group allows all traffic to and from itself and nothing else.",
        "mandatory",
        False,
        True,
        (),
        check_efa_security_group,
    ),
    PolicyDef(
        "no-open-ingress",
        "No security group ingress from 0.0.0.0/0 or ::/0.",
        "mandatory",
        False,
        True,
        (),
        check_no_open_ingress,
    ),
    PolicyDef(
        "efa-interface-layout",
        "EFA launch templates declare the instance type's complete interface layout.",
        "mandatory",
        False,
        True,
        (),
        check_efa_layout,
    ),
    PolicyDef(
        "no-placement-group-on-reserved-capacity",
        "No placement group on capacity reservations or capacity blocks.",
        "mandatory",
        False,
        True,
        (),
        check_no_placement_group_on_reserved_capacity,
    ),
    PolicyDef(
        "fsx-lustre-durability",
        "FSx for Lustre is persistent, encrypted and backed up.",
        "mandatory",
        False,
        True,
        ("fsxDeploymentTypes", "fsxMinBackupDays"),
        check_fsx_lustre,
    ),
    PolicyDef(
        "private-cluster-endpoint",
        "The EKS API endpoint is private only.",
        "mandatory",
        True,
        True,
        (),
        check_private_endpoint,
    ),
    PolicyDef(
        "allowed-registries",
        "Charts and container images come only from the allowed registries.",
        "mandatory",
        True,
        True,
        ("allowedRegistries",),
        check_allowed_registries,
    ),
    PolicyDef(
        "required-tags",
        "Every taggable AWS resource carries the factory, profile (and, sovereign, data-residency) tags.",
        "advisory",
        False,
        True,
        ("requiredTags",),
        check_required_tags,
    ),
    PolicyDef(
        "iam-no-wildcard-admin",
        "No IAM statement allows every action, or iam:PassRole, on every resource.",
        "mandatory",
        False,
        True,
        (),
        check_iam_wildcards,
    ),
    PolicyDef(
        "iam-policy-lint",
        "Every IAM policy document passes parliament with no high or critical finding.",
        "mandatory",
        False,
        True,
        (),
        check_iam_lint,
    ),
    PolicyDef(
        "rack-power-and-cooling",
        "Every rack stays within its power budget and its cooling class.",
        "mandatory",
        False,
        True,
        ("coolingLimitsKw",),
        stack_check=check_rack_power,
    ),
)


# --- runner over plan JSON -------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    policy: str
    level: Level
    urn: str
    message: str


def _provider_default_tags(resources: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for res in resources:
        if res.get("type") != _AWS_PROVIDER:
            continue
        default = (res.get("inputs") or {}).get("defaultTags")
        if isinstance(default, Mapping) and isinstance(default.get("tags"), Mapping):
            tags.update(default["tags"])
    return tags


def run_policies(
    resources: Sequence[Mapping[str, Any]],
    profile: str,
    config: PolicyConfig,
    placement: Mapping[str, Any] | None,
) -> list[Violation]:
    """Every violation of every applicable policy over plan-JSON resources and the placement summary.

    Resources are `{"urn", "type", "name", "parent", "inputs"}` (`aifactory plan --json`);
    `placement` is the plan's `summary.placement` (`{"racks": [...]}`) or None.
    """
    config = replace(
        config, profile=profile, default_tags={**_provider_default_tags(resources), **config.default_tags}
    )
    violations: list[Violation] = []
    for policy in POLICIES:
        if not policy.applies(profile):
            continue
        level = policy.level(profile)
        if policy.stack_check is not None:
            violations += [
                Violation(policy.name, level, "", m) for m in policy.stack_check(placement, config)
            ]
            continue
        assert policy.resource_check is not None
        for res in resources:
            inputs = res.get("inputs") or {}
            for message in policy.resource_check(str(res.get("type", "")), inputs, config):
                violations.append(Violation(policy.name, level, str(res.get("urn", "")), message))
    return violations


def placement_from_resources(resources: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The placement summary a factory component carries in its `placement` input, if any."""
    for res in resources:
        if str(res.get("type", "")).startswith("aifactory:"):
            value = (res.get("inputs") or {}).get(PLACEMENT_INPUT)
            if isinstance(value, Mapping) and "racks" in value:
                return value
    return None


# --- CrossGuard ------------------------------------------------------------------------------------


def build_policies(base: PolicyConfig) -> list[Policy]:
    """The CrossGuard policy objects for `POLICIES`, without constructing a `PolicyPack`.

    `base` is the stack's config (profile, sovereignty); each policy's CrossGuard config overrides
    it. The default enforcement follows `base.profile`; the pack config can still override it.
    """
    from pulumi_policy import (
        EnforcementLevel,
        PolicyConfigSchema,
        ReportViolation,
        ResourceValidationArgs,
        ResourceValidationPolicy,
        StackValidationArgs,
        StackValidationPolicy,
    )
    from pulumi_policy.deserialize import serialize_properties

    levels = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}

    def resource_validator(defn: PolicyDef, check: ResourceCheck) -> Callable[..., None]:
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            config = base.with_overrides(args.get_config())
            if not defn.applies(config.profile):
                return
            if args.provider is not None and args.provider.resource_type == _AWS_PROVIDER:
                default = serialize_properties(args.provider.props).get("defaultTags")
                if isinstance(default, Mapping) and isinstance(default.get("tags"), Mapping):
                    config = replace(config, default_tags=dict(default["tags"]))
            # Unwrap pulumi_policy's unknown-checking proxies: unknowns stay as the engine's sentinel
            # strings, which the checks skip, instead of raising UnknownValueError mid-check.
            props = serialize_properties(args.props)
            for message in check(args.resource_type, props, config):
                report_violation(message, None)

        return validate

    def stack_validator(defn: PolicyDef, check: StackCheck) -> Callable[..., None]:
        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            config = base.with_overrides(args.get_config())
            if not defn.applies(config.profile):
                return
            resources = [
                {"type": r.resource_type, "inputs": serialize_properties(r.props)} for r in args.resources
            ]
            for message in check(placement_from_resources(resources), config):
                report_violation(message, None)

        return validate

    policies: list[Policy] = []
    for defn in POLICIES:
        schema = PolicyConfigSchema(properties=defn.config_schema())
        level = levels[defn.level(base.profile)]
        if defn.resource_check is not None:
            policies.append(
                ResourceValidationPolicy(
                    name=defn.name,
                    description=defn.description,
                    enforcement_level=level,
                    config_schema=schema,
                    validate=resource_validator(defn, defn.resource_check),
                )
            )
        else:
            assert defn.stack_check is not None
            policies.append(
                StackValidationPolicy(
                    name=defn.name,
                    description=defn.description,
                    enforcement_level=level,
                    config_schema=schema,
                    validate=stack_validator(defn, defn.stack_check),
                )
            )
    return policies
