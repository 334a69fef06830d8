"""`aifactory:hybrid`: the AWS side of a data hall whose servers join the factory as EKS Hybrid Nodes.

The customer's servers (`fleets[].kind: hybrid`) live in their own network. This section says which
on-premises networks they and their pods use, how they get IAM credentials (EKS only) and how that
network reaches the VPC. The rules below are the ones EKS, Systems Manager, IAM Roles Anywhere, Site-to-
Site VPN and Direct Connect apply when the resources are created, checked before any is registered.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from .aws_values import SERVICE_CIDR
from .base import NotNull, SpecModel, unit
from .errors import ConfigIssue, config_path, warning
from .numbers import Count

if TYPE_CHECKING:
    from .model import FactorySpec

# EKS API reference, RemoteNodeNetwork / RemotePodNetwork: each block is IPv4 within an RFC 1918 range,
# /8 to /32, and overlaps neither the cluster's VPC CIDR nor the Kubernetes service CIDR; EKS user guide,
# "Prepare networking for hybrid nodes": the node and pod blocks do not overlap each other either.
RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
REMOTE_MIN_PREFIX, REMOTE_MAX_PREFIX = 8, 32
# EKS API reference, RemoteNetworkConfigRequest: remoteNodeNetworks and remotePodNetworks each hold at
# most one RemoteNodeNetwork/RemotePodNetwork object, whose `cidrs` list is what this section takes.
MAX_REMOTE_CIDRS = 15

# Systems Manager API reference, CreateActivation: RegistrationLimit 1-1000; ExpirationDate at most
# 30 days ahead (the default is 24 hours).
SSM_MAX_REGISTRATIONS = 1000
SSM_MAX_EXPIRY_DAYS = 30

# EKS user guide, "Prepare credentials for hybrid nodes": nodeadm reads the per-machine certificate and
# key from /etc/iam/pki/server.pem and /etc/iam/pki/server.key by default.
DEFAULT_CERTIFICATE_PATH = "/etc/iam/pki/server.pem"
DEFAULT_PRIVATE_KEY_PATH = "/etc/iam/pki/server.key"

# AWS Private CA API reference, CertificateAuthority Arn:
# arn:<partition>:acm-pca:<region>:<account>:certificate-authority/<uuid>.
_PCA_ARN = re.compile(
    r"^arn:(?P<partition>aws(-[a-z]+)*):acm-pca:(?P<region>[a-z0-9-]+):[0-9]{12}:"
    r"certificate-authority/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
)
# IAM Roles Anywhere API reference, SourceData x509CertificateData: a PEM-encoded certificate (1-8000
# characters).
_PEM_CERTIFICATE = re.compile(
    r"^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*\Z", re.ASCII
)
PEM_MAX = 8000
# Direct Connect API reference, DirectConnectGateway directConnectGatewayId: the gateway's UUID.
_DX_GATEWAY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
# EC2 API reference, CreateCustomerGateway BgpAsn: 1-2,147,483,647 (larger 4-byte ASNs go in
# BgpAsnExtended, which the factory does not take).
MAX_BGP_ASN = 2_147_483_647


class SsmCredentials(SpecModel):
    """Systems Manager hybrid activation: nodeadm registers each server as a managed instance."""

    kind: Literal["ssm"] = Field(description="`ssm`: a Systems Manager hybrid activation.")
    registration_limit: Count | None = Field(
        default=None,
        json_schema_extra=unit("servers"),
        examples=[128],
        description="Servers the activation may register (default: the hybrid fleets' server count; 1-1000).",
    )
    expiry_days: Count = Field(
        default=SSM_MAX_EXPIRY_DAYS,
        json_schema_extra=unit("days"),
        examples=[30],
        description="Days the activation stays usable for new registrations (1-30; a new one is needed after).",
    )


class RolesAnywhereCredentials(SpecModel):
    """IAM Roles Anywhere: each server's own X.509 certificate from the customer's CA."""

    kind: Literal["roles-anywhere"] = Field(description="`roles-anywhere`: IAM Roles Anywhere certificates.")
    acm_pca_arn: str | None = Field(
        default=None,
        examples=["arn:aws:acm-pca:eu-north-1:123456789012:certificate-authority/0f3e6a2b-4c5d-4e7f-8a9b-1c2d3e4f5a6b"],
        description="AWS Private CA that issues the servers' certificates (or `caCertificate`).",
    )
    ca_certificate: str | None = Field(
        default=None,
        examples=["-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"],
        description="PEM certificate of the customer's own CA (or `acmPcaArn`).",
    )
    certificate_path: str = Field(
        default=DEFAULT_CERTIFICATE_PATH,
        examples=[DEFAULT_CERTIFICATE_PATH],
        description="Where nodeadm reads the server's certificate.",
    )
    private_key_path: str = Field(
        default=DEFAULT_PRIVATE_KEY_PATH,
        examples=[DEFAULT_PRIVATE_KEY_PATH],
        description="Where nodeadm reads its key.",
    )


Credentials = Annotated[SsmCredentials | RolesAnywhereCredentials, Field(discriminator="kind")]


class VpnLink(SpecModel):
    """AWS Site-to-Site VPN from a virtual private gateway on the VPC to the customer's gateway device."""

    kind: Literal["vpn"] = Field(description="`vpn`: AWS Site-to-Site VPN.")
    customer_gateway_ip: str = Field(
        description="Public IPv4 address of the customer's VPN device.", examples=["81.2.69.160"]
    )
    bgp_asn: Count = Field(
        default=65000,
        le=MAX_BGP_ASN,
        json_schema_extra=unit("ASN"),
        examples=[65010],
        description="The customer gateway's BGP ASN (also with static routes).",
    )
    static_routes: bool = Field(
        default=False, description="Route the remote CIDRs statically instead of learning them over BGP."
    )


class DirectConnectLink(SpecModel):
    """An existing Direct Connect gateway associated with the VPC's virtual private gateway."""

    kind: Literal["direct-connect"] = Field(description="`direct-connect`: a Direct Connect gateway association.")
    direct_connect_gateway_id: str = Field(
        description="ID of the customer's Direct Connect gateway.", examples=["5f294f92-bafb-4011-916d-9b0bdeadbeef"]
    )
    allowed_prefixes: list[str] = Field(
        default_factory=list,
        examples=[["10.88.0.0/16"]],
        description="VPC prefixes advertised to the data hall (default: the VPC CIDR).",
    )


Link = Annotated[VpnLink | DirectConnectLink, Field(discriminator="kind")]


class HybridSpec(SpecModel):
    remote_node_cidrs: list[str] = Field(
        min_length=1,
        examples=[["192.168.0.0/20"]],
        description="On-premises networks the hybrid servers' addresses come from (RFC 1918).",
    )
    remote_pod_cidrs: list[str] = Field(
        default_factory=list,
        examples=[["192.168.64.0/18"]],
        description="Networks Cilium gives the hybrid nodes' pods (EKS; RFC 1918).",
    )
    credentials: Annotated[Credentials | None, NotNull] = Field(
        default=None, description="How hybrid nodes get IAM credentials for EKS: `ssm` or `roles-anywhere`."
    )
    link: Link = Field(description="How the data hall reaches the VPC: `vpn` or `direct-connect`.")


def remote_cidr_problem(cidr: str) -> str | None:
    """What EKS refuses in one remote node or pod CIDR (RemoteNodeNetwork, RemotePodNetwork)."""
    try:
        network = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        return f"'{cidr}' is not an IPv4 network in CIDR form like 192.168.0.0/16 ({exc})"
    if not REMOTE_MIN_PREFIX <= network.prefixlen <= REMOTE_MAX_PREFIX:
        return f"'{cidr}' is a /{network.prefixlen}; EKS takes /{REMOTE_MIN_PREFIX} to /{REMOTE_MAX_PREFIX}"
    if not any(network.subnet_of(block) for block in RFC1918):
        return f"'{cidr}' is not inside an RFC 1918 range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)"
    return None


def _hybrid_fleets(spec: FactorySpec) -> list[int]:
    return [i for i, fleet in enumerate(spec.fleets) if fleet.kind == "hybrid"]


def hybrid_server_count(spec: FactorySpec) -> int:
    return sum(fleet.count for fleet in spec.fleets if fleet.kind == "hybrid")


def hybrid_section_matches_fleets(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Hybrid fleets that join a scheduler need the section; the section needs a hybrid fleet.

    Without a scheduler the servers are only racked (install plan, heatmap, power caps: a hall planned
    before its cluster exists, or rack-scale GB200 NVL72 systems no scheduler takes as one node yet), which
    is a warning, not an error: nothing is deployed for them."""
    hybrid = _hybrid_fleets(spec)
    if hybrid and spec.hybrid is None and spec.scheduler is not None:
        yield ConfigIssue(
            config_path("hybrid"),
            f"fleet '{spec.fleets[hybrid[0]].name}' is hybrid, but no on-premises network is configured",
            "add `aifactory:hybrid` with `remoteNodeCidrs`, `link` (and `remotePodCidrs`, `credentials` for EKS)",
        )
    if spec.hybrid is not None and not hybrid:
        yield ConfigIssue(
            config_path("hybrid"),
            "is set, but no fleet is `kind: hybrid`",
            "remove `aifactory:hybrid`, or add the data hall's servers as a fleet with `kind: hybrid`",
        )
    if hybrid and spec.scheduler is None:
        yield warning(
            config_path("fleets", hybrid[0], "kind"),
            "the hybrid fleet's servers are only racked: without a scheduler nothing joins them to a cluster",
            "set `aifactory:scheduler` (kind: kubernetes joins them as EKS Hybrid Nodes, kind: slurm as slurmd "
            "nodes) and `aifactory:hybrid` to join them",
        )


def remote_cidrs_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    hybrid = spec.hybrid
    if hybrid is None:
        return
    vpc = ipaddress.IPv4Network(spec.network.cidr)
    service = ipaddress.IPv4Network(SERVICE_CIDR)
    kubernetes = spec.scheduler is not None and spec.scheduler.kind == "kubernetes"
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for key, cidrs in (("remoteNodeCidrs", hybrid.remote_node_cidrs), ("remotePodCidrs", hybrid.remote_pod_cidrs)):
        if len(cidrs) > MAX_REMOTE_CIDRS:
            yield ConfigIssue(
                config_path("hybrid", key),
                f"{len(cidrs)} networks exceed the {MAX_REMOTE_CIDRS} the factory routes and opens per list",
                "merge neighbouring networks into larger blocks",
            )
        for i, cidr in enumerate(cidrs):
            path = config_path("hybrid", key, i)
            problem = remote_cidr_problem(cidr)
            if problem is not None:
                yield ConfigIssue(path, problem, "use a private IPv4 block from your data hall's address plan")
                continue
            network = ipaddress.IPv4Network(cidr)
            if network.overlaps(vpc):
                yield ConfigIssue(
                    path,
                    f"'{cidr}' overlaps the VPC CIDR {vpc}; EKS refuses remote networks inside the VPC",
                    "use the data hall's own block, or move the VPC (`aifactory:network.cidr`)",
                )
            if kubernetes and network.overlaps(service):
                yield ConfigIssue(
                    path,
                    f"'{cidr}' overlaps the cluster's service CIDR {SERVICE_CIDR}",
                    "use a block outside 172.20.0.0/16",
                )
            for other_path, other in seen:
                if network.overlaps(other):
                    yield ConfigIssue(
                        path,
                        f"'{cidr}' overlaps {other} ({other_path}); node and pod networks must be disjoint",
                        "give every on-premises node and pod network its own block",
                    )
            seen.append((path, network))


def eks_fields_match_scheduler(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Credentials and pod networks are EKS's; a Slurm data hall needs neither, EKS needs both."""
    hybrid = spec.hybrid
    if hybrid is None or spec.scheduler is None:
        return
    if spec.scheduler.kind == "slurm":
        if hybrid.credentials is not None:
            yield ConfigIssue(
                config_path("hybrid", "credentials"),
                "only applies to EKS Hybrid Nodes; Slurm's servers join with the munge key, not IAM credentials",
                "remove `credentials`, or use `scheduler.kind: kubernetes`",
            )
        if hybrid.remote_pod_cidrs:
            yield ConfigIssue(
                config_path("hybrid", "remotePodCidrs"),
                "only applies to EKS Hybrid Nodes (the pod networks Cilium uses); Slurm runs no pods",
                "remove `remotePodCidrs`, or use `scheduler.kind: kubernetes`",
            )
        return
    if hybrid.credentials is None:
        yield ConfigIssue(
            config_path("hybrid", "credentials"),
            "is required: nodeadm joins hybrid nodes to EKS with IAM credentials from SSM or IAM Roles Anywhere",
            "set `credentials: {kind: ssm}` (no PKI needed), or `{kind: roles-anywhere, acmPcaArn: ...}`",
        )
    if not hybrid.remote_pod_cidrs:
        # EKS user guide, "Prepare networking for hybrid nodes": the remote pod network is needed when
        # the CNI does not NAT pod traffic and for webhooks on hybrid nodes; "Configure CNI for hybrid
        # nodes": Cilium's cluster-pool IPAM allocates pod addresses from these blocks. The factory
        # routes pods without NAT, so the control plane and cloud pods reach them.
        yield ConfigIssue(
            config_path("hybrid", "remotePodCidrs"),
            "is required with EKS: Cilium allocates the hybrid nodes' pod addresses from these networks and "
            "EKS routes to them without NAT",
            "add the on-premises pod network, e.g. remotePodCidrs: [10.244.0.0/16]",
        )


def endpoint_reachable_from_hall(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """EKS user guide, "Create an Amazon EKS cluster with hybrid nodes" (Considerations): the endpoint is
    public or private, never both, because with both the API name resolves to public addresses for
    nodes outside the VPC. The factory's public endpoint keeps private access for the VPC's nodes, so
    hybrid nodes need `endpoint: private`; the data hall then resolves the name to the control plane's
    ENIs in the VPC (a Route 53 Resolver inbound endpoint, or conditional forwarding) through the link."""
    if spec.hybrid is None or spec.scheduler is None or spec.scheduler.kind != "kubernetes":
        return
    if spec.scheduler.endpoint == "public" and not spec.sovereign:
        yield ConfigIssue(
            config_path("scheduler", "endpoint"),
            "EKS refuses hybrid nodes on a public-and-private endpoint, which a public endpoint here is "
            "(the VPC's own nodes use its private side)",
            "set `endpoint: private`; the data hall reaches the API through the link "
            "(resolve the cluster name with a Route 53 Resolver inbound endpoint)",
        )


def credentials_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    hybrid = spec.hybrid
    if hybrid is None or hybrid.credentials is None:
        return
    creds = hybrid.credentials
    base = ("hybrid", "credentials")
    if isinstance(creds, SsmCredentials):
        servers = hybrid_server_count(spec)
        limit = creds.registration_limit
        if limit is not None and limit < servers:
            yield ConfigIssue(
                config_path(*base, "registrationLimit"),
                f"{limit} registrations leave {servers - limit} of the {servers} hybrid servers unregistered",
                f"set `registrationLimit` to at least {servers}, or leave it out",
            )
        if max(servers, limit or 0) > SSM_MAX_REGISTRATIONS:
            yield ConfigIssue(
                config_path(*base, "registrationLimit"),
                f"an SSM activation registers at most {SSM_MAX_REGISTRATIONS} servers; "
                f"the hybrid fleets have {servers}",
                "use `kind: roles-anywhere` (one certificate per server), or fewer hybrid servers",
            )
        if creds.expiry_days > SSM_MAX_EXPIRY_DAYS:
            yield ConfigIssue(
                config_path(*base, "expiryDays"),
                f"{creds.expiry_days} days: an SSM activation expires at most "
                f"{SSM_MAX_EXPIRY_DAYS} days after creation",
                f"use 1-{SSM_MAX_EXPIRY_DAYS}; create a new activation for servers added later",
            )
        return
    if (creds.acm_pca_arn is None) == (creds.ca_certificate is None):
        yield ConfigIssue(
            config_path(*base),
            "a trust anchor has exactly one source: an AWS Private CA or a CA certificate bundle",
            "set either `acmPcaArn` or `caCertificate`",
        )
    if creds.acm_pca_arn is not None:
        match = _PCA_ARN.match(creds.acm_pca_arn)
        if match is None:
            yield ConfigIssue(
                config_path(*base, "acmPcaArn"),
                f"'{creds.acm_pca_arn}' is not an AWS Private CA ARN",
                f"write it as arn:{spec.partition}:acm-pca:{spec.region}:<account>:certificate-authority/<uuid>",
            )
        elif (match["partition"], match["region"]) != (spec.partition, spec.region):
            # IAM Roles Anywhere user guide, "Trust model": an AWS Private CA trust anchor names a CA
            # of the trust anchor's own Region.
            yield ConfigIssue(
                config_path(*base, "acmPcaArn"),
                f"the CA is in {match['partition']}/{match['region']}, "
                f"the trust anchor in {spec.partition}/{spec.region}",
                "use a Private CA in the stack's region, or its certificate as `caCertificate`",
            )
    cert = creds.ca_certificate
    if cert is not None and (len(cert) > PEM_MAX or not _PEM_CERTIFICATE.match(cert)):
        yield ConfigIssue(
            config_path(*base, "caCertificate"),
            f"is not one PEM certificate of at most {PEM_MAX} characters",
            "paste the CA certificate from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----",
        )
    for key, path in (("certificatePath", creds.certificate_path), ("privateKeyPath", creds.private_key_path)):
        problem = _file_path_problem(path)
        if problem is not None:
            yield ConfigIssue(
                config_path(*base, key), problem, f"use an absolute path such as {DEFAULT_CERTIFICATE_PATH}"
            )


_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*\Z")


def _file_path_problem(path: str) -> str | None:
    """An absolute file path nodeadm reads, of segments that need no quoting in a YAML or shell line."""
    if not path.startswith("/") or path.endswith("/") or len(path) > 255:
        return f"'{path}' is not an absolute file path"
    for segment in path[1:].split("/"):
        if not _PATH_SEGMENT.match(segment):
            return (
                f"'{path}': component '{segment}' is empty, '.' or '..', or has characters other than "
                "letters, digits, '.', '_' and '-'"
            )
    return None


def link_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    hybrid = spec.hybrid
    if hybrid is None:
        return
    link = hybrid.link
    if isinstance(link, VpnLink):
        path = config_path("hybrid", "link", "customerGatewayIp")
        try:
            address = ipaddress.IPv4Address(link.customer_gateway_ip)
        except ValueError:
            yield ConfigIssue(
                path,
                f"'{link.customer_gateway_ip}' is not an IPv4 address",
                "give the VPN device's public IPv4 address",
            )
            return
        if not address.is_global:
            # Site-to-Site VPN user guide, "Customer gateway options for your Site-to-Site VPN connection":
            # the device's internet-routable IP address (private addresses only for private IP VPN over
            # Direct Connect, which the factory does not build).
            yield ConfigIssue(
                path,
                f"{address} is not internet-routable; a Site-to-Site VPN terminates on the device's public address",
                "give the public IPv4 address of the VPN device (or use `kind: direct-connect`)",
            )
        return
    if not _DX_GATEWAY_ID.match(link.direct_connect_gateway_id):
        yield ConfigIssue(
            config_path("hybrid", "link", "directConnectGatewayId"),
            f"'{link.direct_connect_gateway_id}' is not a Direct Connect gateway ID",
            "copy it from `aws directconnect describe-direct-connect-gateways` (a UUID)",
        )
    vpc = ipaddress.IPv4Network(spec.network.cidr)
    for i, prefix in enumerate(link.allowed_prefixes):
        path = config_path("hybrid", "link", "allowedPrefixes", i)
        try:
            network = ipaddress.IPv4Network(prefix, strict=True)
        except ValueError:
            yield ConfigIssue(path, f"'{prefix}' is not an IPv4 network", "write it like 10.0.0.0/16")
            continue
        if not network.subnet_of(vpc):
            # Direct Connect user guide, "Allowed prefixes interactions": for a virtual private gateway
            # association the prefixes are the VPC's that are advertised to the data hall.
            yield ConfigIssue(
                path,
                f"'{prefix}' is not inside the VPC CIDR {vpc}",
                "advertise the VPC's own blocks (leave `allowedPrefixes` out for the whole VPC)",
            )


HYBRID_RULES = (
    hybrid_section_matches_fleets,
    remote_cidrs_valid,
    eks_fields_match_scheduler,
    endpoint_reachable_from_hall,
    credentials_valid,
    link_valid,
)

__all__ = [
    "HYBRID_RULES",
    "DirectConnectLink",
    "HybridSpec",
    "RolesAnywhereCredentials",
    "SsmCredentials",
    "VpnLink",
    "hybrid_server_count",
    "remote_cidr_problem",
]
