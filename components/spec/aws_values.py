"""Values AWS (or the node's operating system) refuses, checked before anything is planned.

Pure functions over strings and networks, each returning what is wrong (and how to fix it) or None;
the model's validators and the cross-field rules turn those into config issues with their path.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# Amazon VPC User Guide, "VPC CIDR blocks": an IPv4 VPC CIDR block has a netmask between /16
# (65,536 addresses) and /28 (16 addresses).
VPC_MIN_PREFIX, VPC_MAX_PREFIX = 16, 28

# AWS General Reference, "Amazon Elastic Kubernetes Service endpoints and quotas": "Public endpoint
# access CIDR ranges per cluster" is 40 and not adjustable (the list is VpcConfigRequest
# publicAccessCidrs in the EKS API reference).
EKS_MAX_PUBLIC_ACCESS_CIDRS = 40

# The EKS cluster's Kubernetes service CIDR, fixed so node bootstrap (NodeConfig spec.cluster.cidr) knows
# it without a lookup and remote networks can be checked against it; 172.20.0.0/16 is what EKS picks itself
# for VPCs in 10.0.0.0/8 (EKS API reference, KubernetesNetworkConfigRequest serviceIpv4Cidr).
SERVICE_CIDR = "172.20.0.0/16"

# AWS KMS developer guide, "Key identifiers (KeyId)": a key ARN is
# arn:<partition>:kms:<region>:<12-digit account>:key/<key id>, the key id a UUID, or `mrk-` and 32
# hex digits for a multi-Region key. An alias ARN (`alias/<name>`) names a key only indirectly and is
# not accepted where a key policy or grant needs the key itself (FSx `KmsKeyId`, EBS `KmsKeyId`).
_KMS_ARN = re.compile(r"^arn:(?P<partition>[^:]*):kms:(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.*)\Z")
_KMS_KEY_ID = re.compile(r"^key/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})\Z")
_ACCOUNT = re.compile(r"^\d{12}\Z")


@dataclass(frozen=True)
class Problem:
    problem: str
    fix: str


def kms_key_arn_problem(arn: str, partition: str, region: str) -> Problem | None:
    """What is wrong with `arn` as the ARN of a KMS key in the stack's partition and region."""
    example = f"arn:{partition}:kms:{region}:<12-digit account>:key/<key id>"
    match = _KMS_ARN.match(arn)
    if match is None:
        return Problem(f"'{arn}' is not a KMS key ARN", f"write it as {example}")
    if (match["partition"], match["region"]) != (partition, region):
        return Problem(
            f"'{arn}' is a key in {match['partition']}/{match['region']}, the stack in {partition}/{region}",
            f"use a key in the stack's partition and region: {example}",
        )
    if not _ACCOUNT.match(match["account"]):
        return Problem(f"'{arn}' has account '{match['account']}', not 12 digits", f"write it as {example}")
    resource = match["resource"]
    if resource.startswith("alias/"):
        return Problem(
            f"'{arn}' is an alias ARN; a key policy, grant or FSx/EBS KmsKeyId needs the key itself",
            "use the key's ARN (`aws kms describe-key --key-id <alias>` shows it)",
        )
    if not _KMS_KEY_ID.match(resource):
        return Problem(
            f"'{arn}' names '{resource}', not key/<uuid> or key/mrk-<32 hex digits>",
            f"copy the key ARN as KMS shows it: {example}",
        )
    return None


def vpc_cidr_problem(cidr: str) -> str | None:
    try:
        network = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        return f"'{cidr}' is not an IPv4 network in CIDR form like 10.0.0.0/16 ({exc})"
    if not VPC_MIN_PREFIX <= network.prefixlen <= VPC_MAX_PREFIX:
        return (
            f"'{cidr}' has a /{network.prefixlen} netmask; a VPC's CIDR block is /{VPC_MIN_PREFIX} to "
            f'/{VPC_MAX_PREFIX} (Amazon VPC User Guide, "VPC CIDR blocks")'
        )
    return None


# VPC CNI custom networking puts pods in secondary VPC CIDR blocks; the EKS best practices guide
# ("Custom networking") recommends /16 blocks from the CG-NAT space 100.64.0.0/10 (RFC 6598), which the
# VPC User Guide ("IPv4 CIDR block association restrictions") lets any primary CIDR block add.
POD_CIDR_SPACE = ipaddress.IPv4Network("100.64.0.0/10")


def pod_cidr_problem(cidr: str) -> str | None:
    """A pod subnet's block: a valid secondary VPC CIDR (/16 to /28) inside 100.64.0.0/10."""
    problem = vpc_cidr_problem(cidr)
    if problem is not None:
        return problem
    if not ipaddress.IPv4Network(cidr).subnet_of(POD_CIDR_SPACE):
        return f"'{cidr}' is outside {POD_CIDR_SPACE}, the CG-NAT space every VPC may add as a secondary block"
    return None


def public_access_cidr_problems(cidrs: list[str]) -> list[tuple[int | None, Problem]]:
    """Problems of an EKS cluster's public access list: (entry index, or None for the whole list)."""
    problems: list[tuple[int | None, Problem]] = []
    if len(cidrs) > EKS_MAX_PUBLIC_ACCESS_CIDRS:
        problems.append(
            (
                None,
                Problem(
                    f"{len(cidrs)} CIDRs exceed the {EKS_MAX_PUBLIC_ACCESS_CIDRS} public access CIDR ranges EKS "
                    "allows per cluster (not adjustable)",
                    "merge neighbouring networks or reach the API through the VPC (`endpoint: private`)",
                ),
            )
        )
    networks: list[ipaddress.IPv4Network] = []
    for i, cidr in enumerate(cidrs):
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            problems.append((i, Problem(f"'{cidr}' is not a network in CIDR form", "write it like 203.0.113.0/24")))
            continue
        if not isinstance(network, ipaddress.IPv4Network):
            # EKS API reference, VpcConfigRequest publicAccessCidrs: IPv6 blocks only on IPv6 clusters;
            # the factory's clusters are IPv4.
            problems.append(
                (i, Problem(f"'{cidr}' is an IPv6 network; the cluster is IPv4", "list IPv4 networks only"))
            )
            continue
        if network.prefixlen == 0:
            problems.append(
                (
                    i,
                    Problem(
                        f"'{cidr}' opens the API to the whole internet", "list only the networks that need the API"
                    ),
                )
            )
            continue
        networks.append(network)
    whole = ipaddress.IPv4Network("0.0.0.0/0")
    if networks and list(ipaddress.collapse_addresses(networks)) == [whole]:
        problems.append(
            (
                None,
                Problem(
                    f"together {', '.join(str(n) for n in networks)} cover the whole IPv4 internet",
                    "list only the networks that need the API",
                ),
            )
        )
    return problems


# AWS ParallelCluster, `SharedStorageMountDirValidator` (cli/src/pcluster/validators/cluster_validators.py):
# shared storage may not be mounted on one of these directories, which the operating system (or, for
# /home, the users) already own. The factory also refuses `/` and anything under the kernel's and
# the system's own trees: mounting there shadows the files the node boots and runs from.
RESERVED_MOUNT_DIRS = frozenset(
    {
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/var",
    }
)
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/usr")
# Path components of letters, digits, '.', '_' and '-', none starting with '.': nothing the node's
# fstab, mount units or shell scripts would need to quote, and no `.`/`..` segment.
_MOUNT_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*\Z")
MAX_MOUNT_PATH = 255


def mount_path_problem(path: str) -> str | None:
    if not path.startswith("/"):
        return f"'{path}' is not an absolute path"
    if path == "/":
        return "'/' is the node's root file system"
    if path.endswith("/"):
        return f"'{path}' ends with '/'"
    if len(path) > MAX_MOUNT_PATH:
        return f"'{path}' is longer than {MAX_MOUNT_PATH} characters"
    for segment in path[1:].split("/"):
        if segment in ("", ".", ".."):
            return f"'{path}' has an empty, '.' or '..' component"
        if not _MOUNT_SEGMENT.match(segment):
            return f"'{path}': component '{segment}' has characters other than letters, digits, '.', '_' and '-'"
    if path in RESERVED_MOUNT_DIRS:
        return f"'{path}' is a system directory (AWS ParallelCluster refuses it as a shared storage mount directory)"
    for tree in SYSTEM_TREES:
        if path.startswith(tree + "/"):
            return f"'{path}' is inside the system directory {tree}"
    return None


# Helm docs, "Charts" (The Chart.yaml file): every chart version is a SemVer 2 version; `helm install
# --version` takes that version (a leading `v` is accepted and some charts, like the EFA device
# plugin's, are published with it).
CHART_VERSION = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
