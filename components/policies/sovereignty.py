"""Sovereign guarantees: where data lives, whose keys encrypt it, where software comes from."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..invariants import is_unknown
from .registry import policy
from .runner import AWS_PROVIDER, EKS_CLUSTER, FSX_LUSTRE, PolicyConfig, dicts, known, strings, truthy

# ARN: arn:partition:service:region:account:resource (IAM user guide, "IAM identifiers").
_ARN = re.compile(r"arn:([^:\s\"]+):([^:\s\"]*):([^:\s\"]*):")


@policy(
    "allowed-regions",
    fix=(
        "create the resource in an allowed region and build ARNs from the stack's partition, or list the "
        "region in `aifactory:sovereignty.allowedRegions`"
    ),
    enforcement="mandatory",
    description="Resources and the ARNs they name stay in the allowed regions and partitions.",
    sovereign_only=True,
    config_keys=("allowedRegions", "allowedPartitions"),
)
def check_allowed_regions(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """The resource's `region` and every ARN it names lie in the allowed regions and partitions."""
    if not (resource_type.startswith("aws:") or resource_type == AWS_PROVIDER):
        return []
    out: list[str] = []
    region = props.get("region")
    if config.allowed_regions and isinstance(region, str) and known(region) and region not in config.allowed_regions:
        out.append(f"region {region} is not one of the allowed regions {list(config.allowed_regions)}")
    seen: set[str] = set()
    for text in strings(props):
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
            if config.allowed_regions and arn_region and not wildcard and arn_region not in config.allowed_regions:
                out.append(f"ARN {arn}… names region {arn_region}, not one of {list(config.allowed_regions)}")
    return out


def _needs_key(what: str, value: Any, present: bool) -> list[str]:
    if not present:
        return [f"{what} is not set; sovereign data stores are encrypted with a customer-managed KMS key"]
    if known(value) and (not isinstance(value, str) or not value.strip() or value.startswith("alias/aws/")):
        return [f"{what} is {value!r}; it must name a customer-managed KMS key"]
    return []


@policy(
    "customer-managed-keys",
    fix="encrypt with the factory's customer-managed key (`aifactory:sovereignty.kmsKeyArn`)",
    enforcement="mandatory",
    description="EBS, FSx, S3, EKS secrets, log groups, secrets and RDS use customer-managed KMS keys.",
    sovereign_only=True,
)
def check_customer_managed_keys(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Every data store (other than launch-template disks, see `check_encrypted_disks`) uses a CMK.

    EBS volumes, FSx for Lustre, S3 default encryption, EKS secrets, CloudWatch log groups and
    Secrets Manager secrets. S3: SSE-KMS (`aws:kms` or `aws:kms:dsse`) with `kmsMasterKeyId`.
    """
    if resource_type in (FSX_LUSTRE, "aws:cloudwatch/logGroup:LogGroup", "aws:secretsmanager/secret:Secret"):
        return _needs_key("kmsKeyId", props.get("kmsKeyId"), "kmsKeyId" in props)
    if resource_type == "aws:rds/instance:Instance":
        # The storage and, when RDS manages it, the master password's secret (RDS API CreateDBInstance
        # `KmsKeyId`, `MasterUserSecretKmsKeyId`: without them the AWS-managed aws/rds and aws/secretsmanager
        # keys are used).
        out = _needs_key("kmsKeyId", props.get("kmsKeyId"), "kmsKeyId" in props)
        if truthy(props.get("manageMasterUserPassword")):
            out += _needs_key(
                "masterUserSecretKmsKeyId", props.get("masterUserSecretKmsKeyId"), "masterUserSecretKmsKeyId" in props
            )
        return out
    if resource_type == "aws:ebs/volume:Volume":
        out = (
            []
            if truthy(props.get("encrypted")) or is_unknown(props.get("encrypted"))
            else ["encrypted is not true; the volume must be encrypted"]
        )
        return out + _needs_key("kmsKeyId", props.get("kmsKeyId"), "kmsKeyId" in props)
    if resource_type in (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    ):
        out = []
        for i, rule in enumerate(dicts(props.get("rules"))):
            default = rule.get("applyServerSideEncryptionByDefault")
            if not isinstance(default, Mapping):
                continue
            algorithm = default.get("sseAlgorithm")
            if known(algorithm) and algorithm not in ("aws:kms", "aws:kms:dsse"):
                out.append(f"rules[{i}]: sseAlgorithm is {algorithm!r}; sovereign buckets use SSE-KMS")
            out += _needs_key(f"rules[{i}].kmsMasterKeyId", default.get("kmsMasterKeyId"), "kmsMasterKeyId" in default)
        return out
    if resource_type == EKS_CLUSTER:
        enc = props.get("encryptionConfig")
        if "encryptionConfig" not in props:
            return ["encryptionConfig is not set; Kubernetes secrets need a customer-managed key"]
        if not isinstance(enc, Mapping):
            return []
        out = []
        provider = enc.get("provider")
        if isinstance(provider, Mapping):
            out += _needs_key("encryptionConfig.provider.keyArn", provider.get("keyArn"), "keyArn" in provider)
        elif "provider" not in enc:
            out.append("encryptionConfig.provider is not set; name the customer-managed key")
        resources = list(strings(enc.get("resources")))
        if "resources" in enc and known(enc.get("resources")) and "secrets" not in resources:
            out.append("encryptionConfig.resources does not include 'secrets'")
        return out
    return []


_HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def _normalize_ref(ref: str) -> str:
    return re.sub(r"^[a-z]+://", "", ref.strip()).rstrip("/")


def registry_allowed(ref: str, allowed: Sequence[str]) -> bool:
    """Whether an image or chart reference comes from one of the allowed host[/path] prefixes."""
    target = _normalize_ref(ref)
    for prefix in allowed:
        p = _normalize_ref(prefix)
        if target == p or target.startswith(p + "/") or target.startswith(p + ":") or target.startswith(p + "@"):
            return True
    return False


def _image_refs(value: Any) -> Iterator[str]:
    """Image references in chart values or manifests: `image` strings, `repository` strings and
    `{registry, repository}` pairs (the common chart convention)."""
    if isinstance(value, Mapping):
        registry, repository = value.get("registry"), value.get("repository")
        if isinstance(repository, str) and known(repository):
            if isinstance(registry, str) and known(registry) and registry:
                yield f"{registry}/{repository}"
            else:
                yield repository
        image = value.get("image")
        if isinstance(image, str) and known(image):
            yield image
        for v in value.values():
            if not isinstance(v, str):
                yield from _image_refs(v)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for v in value:
            yield from _image_refs(v)


@policy(
    "allowed-registries",
    fix="mirror the image or chart into `aifactory:sovereignty.registryMirror` and reference it there",
    enforcement="mandatory",
    description="Charts and container images come only from the allowed registries.",
    sovereign_only=True,
    config_keys=("allowedRegistries",),
)
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
        if isinstance(repo, str) and known(repo):
            if not registry_allowed(repo, allowed):
                out.append(f"chart repository {repo} is not an allowed registry {list(allowed)}")
        elif isinstance(chart, str) and re.match(r"^[a-z]+://", chart) and not registry_allowed(chart, allowed):
            out.append(f"chart {chart} is not from an allowed registry {list(allowed)}")
        source: Any = props.get("values")
    else:
        source = props
    for ref in sorted(set(_image_refs(source))):
        if not registry_allowed(ref, allowed):
            out.append(f"image {ref} is not from an allowed registry {list(allowed)}")
    return out


_IMAGE_BUILDER_COMPONENT = "aws:imagebuilder/component:Component"
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"]*")
# The sources a sovereign build may name: objects of an S3 bucket (which a stack without egress reaches
# only through its S3 gateway endpoint, and a gateway endpoint serves only buckets of its own region:
# Amazon VPC user guide, "Gateway endpoints for Amazon S3") and files already on the build instance.
_IN_REGION_SCHEMES = ("s3://", "file://")


@policy(
    "in-region-image-builds",
    fix="stage the artifact in `aifactory:nodeImages.artifactBucket` (an S3 bucket of the stack's region) and "
    "fetch it from there",
    enforcement="mandatory",
    description="Image Builder components of a sovereign stack fetch only from S3 in the region and local files "
    "(Amazon VPC user guide, 'Gateway endpoints for Amazon S3').",
    sovereign_only=True,
)
def check_in_region_image_builds(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Every URL in an Image Builder component's document is an `s3://` object or a local `file://`."""
    if resource_type != _IMAGE_BUILDER_COMPONENT:
        return []
    data = props.get("data")
    if not isinstance(data, str) or not known(data):
        return []
    outside = sorted({url for url in _URL.findall(data) if not url.startswith(_IN_REGION_SCHEMES)})
    return [f"the component's document fetches {url}, outside the region's S3" for url in outside]
