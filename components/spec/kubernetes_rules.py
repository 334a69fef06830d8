"""Rules for `aifactory:scheduler` when `kind: kubernetes`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

from .aws_values import kms_key_arn_problem, public_access_cidr_problems
from .errors import ConfigIssue, config_path, did_you_mean
from .rules import Rule, repeated_names, unknown_fleet_references
from .scheduler import KubernetesScheduler
from .syntax import is_dns_label

if TYPE_CHECKING:
    from .model import FactorySpec

# Kubernetes versions EKS offers for new clusters, with the end of extended support (after which
# EKS no longer creates clusters on that version). Amazon EKS Kubernetes release calendar,
# https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html#kubernetes-release-calendar
# (awsdocs/amazon-eks-user-guide latest/ug/versioning/kubernetes-versions.adoc), as of 2026-08.
EKS_VERSIONS_AS_OF = date(2026, 8, 1)
EKS_END_OF_EXTENDED_SUPPORT: dict[str, date] = {
    "1.31": date(2026, 11, 26),
    "1.32": date(2027, 3, 23),
    "1.33": date(2027, 7, 29),
    "1.34": date(2027, 12, 2),
    "1.35": date(2028, 3, 27),
}

RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _kubernetes(spec: FactorySpec) -> KubernetesScheduler | None:
    return spec.scheduler if isinstance(spec.scheduler, KubernetesScheduler) else None


def version_offered(spec: FactorySpec) -> Iterator[ConfigIssue]:
    k8s = _kubernetes(spec)
    if k8s is not None and k8s.version not in EKS_END_OF_EXTENDED_SUPPORT:
        yield ConfigIssue(
            config_path("scheduler", "version"),
            f"EKS does not offer Kubernetes {k8s.version} (offered as of {EKS_VERSIONS_AS_OF}: "
            f"{', '.join(EKS_END_OF_EXTENDED_SUPPORT)})",
            did_you_mean(k8s.version, EKS_END_OF_EXTENDED_SUPPORT),
        )


def endpoint_access(spec: FactorySpec) -> Iterator[ConfigIssue]:
    k8s = _kubernetes(spec)
    if k8s is None:
        return
    path = config_path("scheduler", "endpoint")
    if spec.sovereign and k8s.endpoint == "public":
        yield ConfigIssue(
            path,
            "a sovereign factory's cluster endpoint must be private",
            "set `endpoint: private` (reach the API through the VPC)",
        )
    if k8s.endpoint == "public" and not k8s.public_access_cidrs:
        yield ConfigIssue(
            config_path("scheduler", "publicAccessCidrs"),
            "a public endpoint without CIDRs is open to the whole internet",
            "list the networks that may reach the API, e.g. [203.0.113.0/24]",
        )
    if k8s.endpoint == "private" and k8s.public_access_cidrs:
        yield ConfigIssue(
            config_path("scheduler", "publicAccessCidrs"),
            "only applies to a public endpoint",
            "remove `publicAccessCidrs` or set `endpoint: public`",
        )
    for index, found in public_access_cidr_problems(list(k8s.public_access_cidrs)):
        parts: tuple[str | int, ...] = ("scheduler", "publicAccessCidrs")
        yield ConfigIssue(config_path(*parts, *(() if index is None else (index,))), found.problem, found.fix)


# Pulumi stack references: `stack`, `project/stack` or `organization/project/stack`, each part
# alphanumerics, '-', '_' and '.' (Pulumi docs, "Stacks": stack names; "Stack references").
STACK_REFERENCE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}\Z")
# An OCI image reference pinned by tag or digest: host[:port]/path[:tag][@sha256:...] (OCI
# distribution spec, "Pulling manifests": repository name and tag grammar).
IMAGE_REFERENCE = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)
# General purpose bucket names: 3-63 lowercase letters, digits, '.' and '-', starting and ending
# with a letter or digit, no '..', not an IP address (S3 user guide, "General purpose bucket
# naming rules").
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
PROJECT_DIR = re.compile(r"^/[A-Za-z0-9._/-]+\Z")


def _under(ref: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return ref.startswith(prefix + "/")


def cluster_stack_settings(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """`infrastructureStack` and `clusterRunner`: only for private endpoints, every value checked
    before it reaches the buildspec or a stack reference."""
    k8s = _kubernetes(spec)
    if k8s is None:
        return
    private = k8s.endpoint == "private" or spec.sovereign
    for key, value in (("infrastructureStack", k8s.infrastructure_stack), ("clusterRunner", k8s.cluster_runner)):
        if value is not None and not private:
            yield ConfigIssue(
                config_path("scheduler", key),
                "only applies to a private endpoint (a public endpoint is configured from the infrastructure stack)",
                f"remove `{key}` or set `endpoint: private`",
            )
    ref = k8s.infrastructure_stack
    if ref is not None and not STACK_REFERENCE.match(ref):
        yield ConfigIssue(
            config_path("scheduler", "infrastructureStack"),
            f"'{ref}' is not a stack reference",
            "write it as <organization>/<project>/<stack>, e.g. organization/aifactory/sovereign-eu",
        )
    runner = k8s.cluster_runner
    if runner is None:
        return
    image_path = config_path("scheduler", "clusterRunner", "image")
    if not IMAGE_REFERENCE.match(runner.image) or (":" not in runner.image.rsplit("/", 1)[-1]):
        yield ConfigIssue(
            image_path,
            f"'{runner.image}' is not an image reference pinned by tag or digest",
            "write it as host/repository:tag, e.g. "
            "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror/aifactory-runner:0.2.0",
        )
    mirror = spec.sovereignty.registry_mirror if spec.sovereignty else None
    if spec.sovereign and mirror and not _under(runner.image, mirror):
        yield ConfigIssue(
            image_path,
            f"'{runner.image}' is not under the registry mirror '{mirror}'; a sovereign stack pulls nothing else",
            f"push the runner image to the mirror and name it {mirror.rstrip('/')}/<repository>:<tag>",
        )
    bucket = runner.state_bucket
    if not BUCKET_NAME.match(bucket) or ".." in bucket or re.fullmatch(r"[0-9.]+", bucket):
        yield ConfigIssue(
            config_path("scheduler", "clusterRunner", "stateBucket"),
            f"'{bucket}' is not an S3 bucket name",
            "use 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit",
        )
    key_path = config_path("scheduler", "clusterRunner", "secretsKeyArn")
    secrets_key = runner.secrets_key_arn
    factory_key = spec.factory_key_arn
    if secrets_key is None and factory_key is None:
        # Both projects read one stack file, which holds the secrets provider and its encrypted
        # data key (Pulumi docs, "Secrets handling": changing the secrets provider), so the key must
        # exist before the infrastructure stack is initialised: a key the factory creates does not.
        yield ConfigIssue(
            key_path,
            "no KMS key exists before the infrastructure stack for the `awskms://` secrets provider both stacks share",
            "set `secretsKeyArn` (or `sovereignty.kmsKeyArn` / `encryption.kmsKeyArn`) to an existing key, "
            "arn:aws:kms:<region>:<account>:key/<id>, and init the infrastructure stack with it",
        )
    elif secrets_key is not None:
        # The runner reaches KMS through the VPC's regional endpoint, so the key is in the stack's region.
        found = kms_key_arn_problem(secrets_key, spec.partition, spec.region)
        if found is not None:
            yield ConfigIssue(key_path, found.problem, found.fix)
    if not PROJECT_DIR.match(runner.project_dir) or ".." in runner.project_dir.split("/"):
        yield ConfigIssue(
            config_path("scheduler", "clusterRunner", "projectDir"),
            f"'{runner.project_dir}' is not an absolute path of letters, digits, '.', '_', '-' and '/'",
            "give the image's cluster project directory, e.g. /opt/aifactory/cluster",
        )


def queue_names_unique(spec: FactorySpec) -> Iterator[ConfigIssue]:
    k8s = _kubernetes(spec)
    if k8s is None:
        return
    for i, queue in enumerate(k8s.queues):
        path = config_path("scheduler", "queues", i, "name")
        if not is_dns_label(queue.name):
            yield ConfigIssue(
                path,
                f"'{queue.name}' is not a valid Kubernetes object name",
                "use up to 63 lowercase letters, digits and '-', starting and ending alphanumeric",
            )
    yield from repeated_names(
        (q.name for q in k8s.queues),
        "queues",
        lambda i: config_path("scheduler", "queues", i, "name"),
        "give every queue its own name",
    )


def queue_namespaces_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    k8s = _kubernetes(spec)
    if k8s is None:
        return
    for i, queue in enumerate(k8s.queues):
        path = config_path("scheduler", "queues", i, "namespace")
        if not is_dns_label(queue.namespace):
            yield ConfigIssue(
                path,
                f"'{queue.namespace}' is not a valid namespace name",
                "use up to 63 lowercase letters, digits and '-', starting and ending alphanumeric",
            )
        elif queue.namespace in RESERVED_NAMESPACES or queue.namespace.startswith("kube-"):
            yield ConfigIssue(path, f"'{queue.namespace}' is a system namespace", "give the team its own namespace")


def queue_fleets_known(spec: FactorySpec) -> Iterator[ConfigIssue]:
    k8s = _kubernetes(spec)
    if k8s is None:
        return
    yield from unknown_fleet_references(
        spec,
        (
            (config_path("scheduler", "queues", i, "fleets", j), f"queue '{queue.name}'", fleet)
            for i, queue in enumerate(k8s.queues)
            for j, fleet in enumerate(queue.fleets or [])
        ),
    )


def queue_borrowing_needs_cohort(spec: FactorySpec) -> Iterator[ConfigIssue]:
    k8s = _kubernetes(spec)
    if k8s is None:
        return
    for i, queue in enumerate(k8s.queues):
        if queue.borrowing_limit is not None and queue.cohort is None:
            yield ConfigIssue(
                config_path("scheduler", "queues", i, "borrowingLimit"),
                "a queue can only borrow from other queues of its cohort, and it has none",
                "set `cohort` (the same on the queues that share) or remove `borrowingLimit`",
            )


def priorities_unique(spec: FactorySpec) -> Iterator[ConfigIssue]:
    k8s = _kubernetes(spec)
    if k8s is None:
        return
    seen: set[str] = set()
    for i, name in enumerate(k8s.priorities):
        path = config_path("scheduler", "priorities", i)
        if name in seen:
            yield ConfigIssue(path, f"'{name}' is listed twice", "list every priority once, highest first")
        if not is_dns_label(name):
            yield ConfigIssue(
                path,
                f"'{name}' is not a valid Kubernetes object name",
                "use lowercase letters, digits and '-'",
            )
        seen.add(name)


# EKS API reference, CreateNodegroup `labels`: keys and values of 1-63 characters, so a key with a
# DNS prefix (Kubernetes allows 253 + '/' + 63) or an empty value (Kubernetes allows it) is refused.
EKS_LABEL_MAX = 63


def fleet_labels_fit_eks(spec: FactorySpec) -> Iterator[ConfigIssue]:
    if _kubernetes(spec) is None:
        return
    for i, fleet in enumerate(spec.fleets):
        for key, value in fleet.labels.items():
            path = config_path("fleets", i, "labels", key)
            if len(key) > EKS_LABEL_MAX:
                yield ConfigIssue(
                    path,
                    f"key '{key}' is {len(key)} characters; an EKS node group label key has at most {EKS_LABEL_MAX}",
                    "use a shorter prefix or name (the whole key counts)",
                )
            if not value:
                yield ConfigIssue(
                    path, "is empty; an EKS node group label needs a value of 1-63 characters", "give it a value"
                )


KUBERNETES_RULES: tuple[Rule, ...] = (
    version_offered,
    endpoint_access,
    cluster_stack_settings,
    queue_names_unique,
    queue_namespaces_valid,
    queue_fleets_known,
    queue_borrowing_needs_cohort,
    priorities_unique,
    fleet_labels_fit_eks,
)
