"""Whether each flow the factory needs is allowed by the planned security groups, routes and endpoints.

A flow from A to B is allowed when a group on A's interface has an egress rule that admits B and a
group on B's interface has an ingress rule that admits A (security groups are stateful, so replies
need no rule; EC2 user guide, "Security group rules"). A rule admits a peer by group reference (the
peer's interface carries that group), by CIDR (every subnet of the peer lies inside it) or, for AWS
services reached through a gateway endpoint, by the endpoint's managed prefix list. Groups created by
Pulumi have no rules but the ones declared: the AWS provider removes the default allow-all egress
rule (pulumi-aws `aws.ec2.SecurityGroup` docs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..schedulers.helm_values import DCGM_METRICS_PORT, DCGM_NODE_SELECTOR, SYSTEM_NODE_LABEL
from ..schedulers.observability_managed import KSM_METRICS_PORT
from .inventory import ALL, INTERNET, Inventory, Member, SgRule, cidr_covers
from .registry import Finding, rule

HTTPS = (443, 443)
HTTP = (80, 80)
EPHEMERAL = (1024, 65535)
# Lustre: 988 for LNet, 1018-1023 for the client's reserved ports (FSx for Lustre user guide, "File
# system access control with Amazon VPC", Lustre client rules).
LUSTRE_PORTS = ((988, 988), (1018, 1023))
POSTGRES = (5432, 5432)


@dataclass(frozen=True)
class Flow:
    source: Member
    target: Member
    protocol: str
    ports: tuple[int, int] | None
    """None: all traffic (`protocol` is `-1`)."""
    efa: bool = False
    """Between EFA interfaces (their groups) rather than IP interfaces."""

    def describe(self) -> str:
        what = "all traffic" if self.ports is None else f"{self.protocol} {_ports(self.ports)}"
        return f"{self.source.name} → {self.target.name} ({what}{', EFA' if self.efa else ''})"


def _ports(ports: tuple[int, int]) -> str:
    return str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"


def _admits(rule: SgRule, protocol: str, ports: tuple[int, int] | None) -> bool:
    if rule.protocol == ALL:
        return True
    if protocol == ALL or rule.protocol != protocol or ports is None:
        return False
    low = rule.from_port if rule.from_port is not None else 0
    high = rule.to_port if rule.to_port is not None else 65535
    return low <= ports[0] and ports[1] <= high


def _peer(inv: Inventory, rule: SgRule, member: Member, efa: bool) -> bool:
    groups = member.efa_groups if efa else member.groups
    if rule.peer_group is not None:
        return rule.peer_group in groups
    if rule.cidr is not None:
        return bool(member.subnets) and all(cidr_covers(rule.cidr, inv.subnet_cidrs.get(s, "")) for s in member.subnets)
    return False


def _rules(inv: Inventory, groups: Iterable[str], direction: str) -> Iterator[SgRule]:
    """Every `ingress` or `egress` rule of the groups (a group the plan does not hold has none)."""
    for g in groups:
        group = inv.groups.get(g)
        if group is not None:
            yield from group.ingress if direction == "ingress" else group.egress


def blocked_side(inv: Inventory, flow: Flow) -> str | None:
    """None when the flow is allowed; otherwise which side lacks a rule, with the groups it checked."""
    src_groups = flow.source.efa_groups if flow.efa else flow.source.groups
    dst_groups = flow.target.efa_groups if flow.efa else flow.target.groups
    out = any(
        _admits(r, flow.protocol, flow.ports) and _peer(inv, r, flow.target, flow.efa)
        for r in _rules(inv, src_groups, "egress")
    )
    into = any(
        _admits(r, flow.protocol, flow.ports) and _peer(inv, r, flow.source, flow.efa)
        for r in _rules(inv, dst_groups, "ingress")
    )
    missing = []
    if not out:
        missing.append(f"no egress rule of {_names(inv, src_groups)} admits it")
    if not into:
        missing.append(f"no ingress rule of {_names(inv, dst_groups)} admits it")
    return "; ".join(missing) or None


def _names(inv: Inventory, groups: Iterable[str]) -> str:
    names = sorted(inv.groups[g].name if g in inv.groups else g for g in groups)
    return ", ".join(names) if names else "its (no) security groups"


def _check(inv: Inventory, rule_id: str, flows: Iterable[Flow]) -> Iterator[Finding]:
    for flow in flows:
        why = blocked_side(inv, flow)
        if why:
            yield Finding(rule_id, flow.describe(), f"blocked: {why}")


# --- which flows the factory needs -------------------------------------------------------------------


def _nodes(inv: Inventory) -> list[Member]:
    return inv.of_kind("eks-node", "node", "slurm-compute", "instance")


def distinct(members: Iterable[Member]) -> list[Member]:
    """One member per network identity (groups, EFA groups, subnets, fleet): members that share one
    are allowed exactly the same flows, so a 12,000-instance fleet is checked once per subnet."""
    seen: dict[tuple[object, ...], Member] = {}
    for m in members:
        seen.setdefault((m.kind, m.groups, m.efa_groups, m.subnets, m.fleet, m.role), m)
    return list(seen.values())


@rule(
    "reach.eks-api",
    "nodes, the cluster runner, the VPC functions (the capacity-block expiry handler) and the managed metrics "
    "scraper (its Kubernetes service discovery) reach the EKS API (tcp 443)",
    "EKS user guide, 'View Amazon EKS security group requirements for clusters'",
    "EKS user guide, 'Cluster API server endpoint' (private access from within the VPC)",
)
def eks_api(inv: Inventory) -> Iterator[Finding]:
    for plane in inv.of_kind("control-plane"):
        clients = inv.of_kind("eks-node", "runner", "function", "scraper")
        yield from _check(inv, "reach.eks-api", (Flow(c, plane, "tcp", HTTPS) for c in clients))


@rule(
    "reach.hybrid-eks-api",
    "the data hall's hybrid nodes reach the EKS API (tcp 443) through the link, and the answers route back",
    "EKS user guide, 'Prepare networking for hybrid nodes' (VPC routes to the on-premises networks; cluster "
    "security group: inbound 443 from the remote node CIDRs)",
)
def hybrid_eks_api(inv: Inventory) -> Iterator[Finding]:
    for plane in inv.of_kind("control-plane"):
        for cidr in inv.remote_node_cidrs:
            subject = f"{cidr} (hybrid nodes) → {plane.name} (tcp 443)"
            admitted = any(
                _admits(r, "tcp", HTTPS) and r.cidr is not None and cidr_covers(r.cidr, cidr)
                for r in _rules(inv, plane.groups, "ingress")
            )
            if not admitted:
                yield Finding(
                    "reach.hybrid-eks-api",
                    subject,
                    f"blocked: no ingress rule of {_names(inv, plane.groups)} admits it",
                )
            for subnet in plane.subnets:
                table = inv.route_table_of.get(subnet)
                routed = any(
                    gateway in inv.vpn_gateways and cidr_covers(destination, cidr)
                    for destination, gateway in inv.routes.get(table or "", [])
                )
                if not routed:
                    yield Finding(
                        "reach.hybrid-eks-api",
                        subject,
                        f"no return route: route table {table} of subnet {subnet} sends {cidr} to no virtual "
                        "private gateway",
                    )


@rule(
    "reach.kubelet",
    "the control plane reaches every kubelet (tcp 10250)",
    "EKS user guide, 'View Amazon EKS security group requirements for clusters' (minimum outbound to nodes)",
)
def kubelet(inv: Inventory) -> Iterator[Finding]:
    for plane in inv.of_kind("control-plane"):
        yield from _check(
            inv, "reach.kubelet", (Flow(plane, n, "tcp", (10250, 10250)) for n in inv.of_kind("eks-node"))
        )


@rule(
    "reach.coredns",
    "every node reaches the nodes that run CoreDNS (tcp and udp 53)",
    "Kubernetes docs, 'DNS for Services and Pods'; EKS user guide, 'Manage CoreDNS for DNS in Amazon EKS clusters'",
)
def coredns(inv: Inventory) -> Iterator[Finding]:
    nodes = inv.of_kind("eks-node")
    # CoreDNS (an EKS add-on) runs on nodes without taints: the system node group when there is one.
    hosts = _system_nodes(inv) or nodes
    flows = (Flow(n, h, proto, (53, 53)) for n in nodes for h in hosts for proto in ("udp", "tcp"))
    yield from _check(inv, "reach.coredns", flows)


@rule(
    "reach.fsx",
    "file system clients and FSx for Lustre reach each other (tcp 988, 1018-1023; all traffic with EFA)",
    "FSx for Lustre user guide, 'File system access control with Amazon VPC'",
    "FSx for Lustre user guide, 'Working with EFA-enabled file systems' (EFA security groups)",
)
def fsx(inv: Inventory) -> Iterator[Finding]:
    clients = distinct(n for n in _nodes(inv) if n.fleet is not None)
    for fs in inv.of_kind("fsx"):
        flows: list[Flow] = []
        for client in clients:
            for ports in LUSTRE_PORTS:
                flows += [Flow(client, fs, "tcp", ports), Flow(fs, client, "tcp", ports)]
            if fs.efa_groups and client.efa_groups:
                flows += [Flow(client, fs, ALL, None, efa=True), Flow(fs, client, ALL, None, efa=True)]
        yield from _check(inv, "reach.fsx", flows)


@rule(
    "reach.efa",
    "every EFA interface of a fleet reaches the fleet's other EFA interfaces (all traffic)",
    "EC2 user guide, 'Prepare an EFA-enabled security group': all traffic to and from the group itself",
)
def efa(inv: Inventory) -> Iterator[Finding]:
    members = distinct(m for m in _nodes(inv) if m.efa_groups)
    by_fleet: dict[str | None, list[Member]] = {}
    for m in members:
        by_fleet.setdefault(m.fleet, []).append(m)
    flows = (Flow(a, b, ALL, None, efa=True) for group in by_fleet.values() for a in group for b in group)
    yield from _check(inv, "reach.efa", flows)


def slurm_ports(slurm_conf: str) -> dict[str, tuple[int, int] | None]:
    """slurmctld, slurmd and srun ports of a slurm.conf (Slurm defaults when a key is absent;
    slurm.conf(5): SlurmctldPort 6817, SlurmdPort 6818, SrunPortRange unset = ephemeral ports)."""

    def value(key: str) -> str | None:
        found = re.search(rf"^\s*{key}\s*=\s*(\S+)", slurm_conf, re.IGNORECASE | re.MULTILINE)
        return found.group(1) if found else None

    def port_range(text: str | None, default: tuple[int, int] | None) -> tuple[int, int] | None:
        if not text:
            return default
        low, _, high = text.partition("-")
        return int(low), int(high or low)

    return {
        "slurmctld": port_range(value("SlurmctldPort"), (6817, 6817)),
        "slurmd": port_range(value("SlurmdPort"), (6818, 6818)),
        "srun": port_range(value("SrunPortRange"), EPHEMERAL),
    }


@rule(
    "reach.slurm",
    "slurmctld, slurmd and srun reach each other (SlurmctldPort, SlurmdPort, SrunPortRange)",
    "Slurm slurm.conf(5): SlurmctldPort, SlurmdPort, SrunPortRange; Slurm network configuration guide",
)
def slurm(inv: Inventory) -> Iterator[Finding]:
    if inv.slurm_conf is None:
        return
    ports = slurm_ports(inv.slurm_conf)
    heads = inv.of_kind("instance")
    compute = distinct(inv.of_kind("slurm-compute"))
    flows: list[Flow] = []
    for head in heads:
        for node in compute:
            flows.append(Flow(node, head, "tcp", ports["slurmctld"]))
            flows.append(Flow(head, node, "tcp", ports["slurmd"]))
            # srun runs on the head (login) node; step daemons on compute nodes connect back to it.
            flows.append(Flow(node, head, "tcp", ports["srun"]))
    for a in compute:
        for b in compute:
            # slurmd forwards messages to other slurmds (hierarchical communication) and srun on one
            # compute node talks to step daemons on the others.
            flows.append(Flow(a, b, "tcp", ports["slurmd"]))
            flows.append(Flow(a, b, "tcp", ports["srun"]))
    for head in heads:
        for db in inv.of_kind("database"):
            flows.append(Flow(head, db, "tcp", (3306, 3306)))
    yield from _check(inv, "reach.slurm", flows)


def _registry_databases(inv: Inventory) -> list[Member]:
    """The MLflow backend stores: the plan's PostgreSQL instances (Slurm accounting is MariaDB)."""
    return [db for db in inv.of_kind("database") if db.labels.get("engine") == "postgres"]


def _system_nodes(inv: Inventory) -> list[Member]:
    return [n for n in inv.of_kind("eks-node") if _is_system(n)]


def _is_system(member: Member) -> bool:
    return _labelled(member, SYSTEM_NODE_LABEL)


@rule(
    "reach.model-registry",
    "the system nodes (where the MLflow server runs) reach its PostgreSQL database (tcp 5432)",
    "RDS user guide, 'Controlling access with security groups' (the DB security group must admit the client)",
    "PostgreSQL docs, 'Connections and Authentication' (port 5432, the RDS for PostgreSQL default)",
)
def model_registry(inv: Inventory) -> Iterator[Finding]:
    flows = (Flow(n, db, "tcp", POSTGRES) for db in _registry_databases(inv) for n in _system_nodes(inv))
    yield from _check(inv, "reach.model-registry", flows)


def _labelled(member: Member, labels: dict[str, str]) -> bool:
    return all(member.labels.get(key) == value for key, value in labels.items())


@rule(
    "reach.metrics-scraper",
    "the managed metrics scraper reaches the DCGM exporter on the NVIDIA nodes (tcp 9400) and kube-state-metrics "
    "on the system nodes (tcp 8080)",
    "AMP user guide, 'Using an AWS managed collector' (the scraper's subnets and security groups must reach the "
    "targets)",
    "NVIDIA dcgm-exporter chart templates/service.yaml (port 9400); kube-state-metrics chart values (port 8080)",
)
def metrics_scraper(inv: Inventory) -> Iterator[Finding]:
    # With the VPC CNI a pod's address is on its node's interfaces and carries the node's groups (EKS user guide,
    # "Assign IPs to Pods with the Amazon VPC CNI"), so the exporters are reached as their nodes are.
    nodes = distinct(inv.of_kind("eks-node"))
    targets = [(n, DCGM_METRICS_PORT) for n in nodes if _labelled(n, DCGM_NODE_SELECTOR)]
    targets += [(n, KSM_METRICS_PORT) for n in nodes if _is_system(n)]
    flows = (Flow(s, n, "tcp", (port, port)) for s in inv.of_kind("scraper") for n, port in targets)
    yield from _check(inv, "reach.metrics-scraper", flows)


# --- AWS services -----------------------------------------------------------------------------------

# AWS CLI command → endpoint service it calls (AWS CLI reference; "AWS services that integrate with
# AWS PrivateLink" for the endpoint names).
CLI_SERVICES = {
    "s3": "s3",
    "s3api": "s3",
    "secretsmanager": "secretsmanager",
    "ssm": "ssm",
    "ec2": "ec2",
    "sts": "sts",
    "logs": "logs",
    "cloudwatch": "monitoring",
    "ecr": "ecr.api",
    "eks": "eks",
    "kms": "kms",
    "autoscaling": "autoscaling",
    "rds": "rds",
    "route53": "route53",
    "fsx": "fsx",
}
_CLI_CALL = re.compile(r"\baws((?:\s+--[a-z-]+(?:[ =](?!--)\S+)?)*)\s+([a-z][a-z0-9-]+)\s+[a-z][a-z0-9-]*")
# Nodes of a private EKS cluster: image pulls from ECR (api, dkr, and S3 for the layers), the VPC CNI's
# EC2 calls, STS (EKS user guide, "Deploy private clusters with limited internet access", VPC
# endpoints table; ECR user guide, "Amazon ECR interface VPC endpoints": layers are served from S3).
EKS_NODE_SERVICES = ("ecr.api", "ecr.dkr", "s3", "ec2", "sts")
# Session Manager needs ssm, ssmmessages and ec2messages (Systems Manager user guide, "Improve the
# security of EC2 instances by using VPC endpoints for Systems Manager").
SSM_SERVICES = ("ssm", "ssmmessages", "ec2messages")
SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"


# Pulumi's self-managed backend and secrets provider call S3 and KMS (Pulumi docs, "State and
# backends": `s3://`; "Secrets handling": `awskms://`).
_URL_SERVICES = {"s3://": "s3", "awskms://": "kms"}


def services_called(script: str) -> set[str]:
    """Endpoint services that a script's AWS CLI calls, S3 URLs and KMS secrets providers reach."""
    called = {CLI_SERVICES.get(m.group(2), m.group(2)) for m in _CLI_CALL.finditer(script) if m.group(2) != "configure"}
    return called | {service for scheme, service in _URL_SERVICES.items() if scheme in script}


def services_needed(inv: Inventory, member: Member) -> set[str]:
    needed = services_called(member.user_data)
    if member.kind == "eks-node":
        needed |= set(EKS_NODE_SERVICES)
        if any(True for _ in inv.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")):
            # The Pod Identity agent on every node calls EKS Auth (EKS user guide, "Learn how EKS Pod
            # Identity grants pods access to AWS services": eks-auth endpoint for private clusters).
            needed.add("eks-auth")
        if _is_system(member) and _registry_databases(inv):
            # The MLflow server reads its database password from Secrets Manager and proxies its artifacts
            # to S3 (schedulers/registry_server.py; `--serve-artifacts`).
            needed |= {"secretsmanager", "s3"}
    if member.role and any(p.endswith(f"/{SSM_CORE_POLICY}") for p in inv.role_managed_policies.get(member.role, ())):
        needed |= set(SSM_SERVICES)
    return needed


def _internet(inv: Inventory, member: Member, ports: tuple[int, int] = HTTPS) -> bool:
    """Whether `member` reaches tcp `ports` anywhere on the internet: its subnets route there and an egress
    rule admits the port to 0.0.0.0/0."""
    if not member.subnets or not all(inv.route_table_of.get(s) in inv.internet_route_tables for s in member.subnets):
        return False
    return any(
        _admits(r, "tcp", ports) and r.cidr is not None and cidr_covers(r.cidr, INTERNET)
        for r in _rules(inv, member.groups, "egress")
    )


def service_route(inv: Inventory, member: Member, service: str) -> str | None:
    """None when `member` reaches `service` over HTTPS; otherwise why not."""
    if _internet(inv, member):
        return None
    gateway = inv.gateway_endpoints.get(service)
    if gateway is not None:
        tables = {inv.route_table_of.get(s) for s in member.subnets}
        if not tables <= gateway.route_tables:
            return f"the {service} gateway endpoint is not on the route tables of its subnets"
        allowed = any(
            _admits(r, "tcp", HTTPS)
            and (
                (r.prefix_list is not None and r.prefix_list == gateway.prefix_list)
                or (r.cidr is not None and cidr_covers(r.cidr, INTERNET))
            )
            for r in _rules(inv, member.groups, "egress")
        )
        return None if allowed else f"no egress rule admits tcp 443 to the {service} gateway endpoint's prefix list"
    endpoint = inv.interface_endpoints.get(service)
    if endpoint is None:
        return f"no route to the internet and no {inv.service_name(service)} interface endpoint"
    if not inv.private_dns.get(service):
        return f"the {service} endpoint has private DNS off, so the default service name resolves to the internet"
    return blocked_side(inv, Flow(member, endpoint, "tcp", HTTPS))


@rule(
    "reach.aws-services",
    "every node reaches each AWS service it calls (interface endpoint, S3 gateway prefix list, or NAT)",
    "EKS user guide, 'Deploy private clusters with limited internet access' (VPC endpoints)",
    "VPC user guide (PrivateLink), 'Gateway endpoints for Amazon S3': security groups must allow the prefix list",
    "Systems Manager user guide, 'VPC endpoints for Systems Manager'",
)
def aws_services(inv: Inventory) -> Iterator[Finding]:
    for member in distinct(_nodes(inv) + inv.of_kind("runner")):
        for service in sorted(services_needed(inv, member)):
            why = service_route(inv, member, service)
            if why:
                yield Finding("reach.aws-services", f"{member.name} → {service} (tcp 443)", f"unreachable: {why}")


_APT = re.compile(r"\bapt(?:-get)?\b[^\n;&|]*\b(?:update|install)\b")


@rule(
    "reach.package-archives",
    "with internet egress, every node whose boot script runs apt reaches tcp 80 on the internet",
    "cloud-init DataSourceEC2: the apt mirror of an EC2 instance is http://<region>.ec2.archive.ubuntu.com/ubuntu/",
    "VPC user guide, 'Security group rules': a group admits only the traffic its outbound rules name",
)
def package_archives(inv: Inventory) -> Iterator[Finding]:
    # Without egress the boot scripts may install nothing (`fetch.packages`); HTTPS is `reach.aws-services`'.
    if not inv.has_internet_egress:
        return
    for member in distinct(_nodes(inv)):
        if member.user_data and _APT.search(member.user_data) and not _internet(inv, member, HTTP):
            yield Finding(
                "reach.package-archives",
                f"{member.name} → Ubuntu archive (tcp 80)",
                "unreachable: its boot script runs apt, and no egress rule admits tcp 80 to 0.0.0.0/0 "
                "through a NAT route",
            )


__all__ = ["Flow", "blocked_side", "service_route", "services_called", "slurm_ports"]
