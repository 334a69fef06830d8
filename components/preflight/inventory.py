"""What the preflight reasons about, read from the planned resources (as `aifactory plan --json` lists
them: engine camelCase inputs, the mock ids and computed outputs).

Everything here is about identities: which security groups an interface carries, which subnet and
route table it sits in, which endpoint serves which service. Whether traffic flows is decided in
`reachability.py`.
"""

from __future__ import annotations

import base64
import binascii
import email
import gzip
import ipaddress
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..planning.network_plan import INTERNET_IPV4

ALL = "-1"
PROTOCOL_NAMES = {"-1": ALL, "all": ALL, "6": "tcp", "17": "udp", "1": "icmp", "tcp": "tcp", "udp": "udp"}
INTERNET = INTERNET_IPV4


@dataclass(frozen=True)
class SgRule:
    """One allow rule of a security group: a protocol, a port range and one peer."""

    protocol: str
    from_port: int | None
    to_port: int | None
    peer_group: str | None = None
    cidr: str | None = None
    prefix_list: str | None = None


@dataclass
class SecurityGroup:
    id: str
    name: str
    ingress: list[SgRule] = field(default_factory=list)
    egress: list[SgRule] = field(default_factory=list)


@dataclass(frozen=True)
class Member:
    """Something with network interfaces: a node group, an instance, the EKS control plane, the file
    system, an interface endpoint, a database, a runner."""

    name: str
    kind: str
    groups: frozenset[str]
    """Security groups of its IP interface (the primary one for nodes)."""
    subnets: tuple[str, ...]
    efa_groups: frozenset[str] = frozenset()
    """Security groups of its EFA interfaces (empty: no EFA)."""
    role: str | None = None
    """Name of the IAM role its instances run as (nodes)."""
    user_data: str = ""
    """Decoded boot script (nodes)."""
    fleet: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayEndpoint:
    service: str
    route_tables: frozenset[str]
    prefix_list: str | None


@dataclass(frozen=True)
class KeyUse:
    """A resource that has the customer-managed key encrypt its data."""

    resource: str
    service: str
    """How the key is used: `autoscaling` (the Auto Scaling service-linked role), `ec2`, `eks`, `fsx`,
    `logs`, `secretsmanager`, `rds`, `s3`, `codebuild` (an IAM principal of the account through that
    service)."""
    log_group_arn: str | None = None
    role: str | None = None
    """The IAM role the service acts as, when it is one of the plan's (a CodeBuild service role)."""


@dataclass
class Inventory:
    region: str
    partition: str
    account: str
    registry_mirror: str | None
    slurm_conf: str | None
    resources: list[dict[str, Any]]
    groups: dict[str, SecurityGroup] = field(default_factory=dict)
    subnet_cidrs: dict[str, str] = field(default_factory=dict)
    route_table_of: dict[str, str] = field(default_factory=dict)
    internet_route_tables: set[str] = field(default_factory=set)
    routes: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    """Route table → (destination CIDR, gateway id) of its routes through a gateway."""
    vpn_gateways: set[str] = field(default_factory=set)
    """Virtual private gateways of the plan (the data hall's link)."""
    remote_node_cidrs: tuple[str, ...] = ()
    """The cluster's EKS Hybrid Nodes networks (remoteNetworkConfig.remoteNodeNetworks)."""
    interface_endpoints: dict[str, Member] = field(default_factory=dict)
    private_dns: dict[str, bool] = field(default_factory=dict)
    gateway_endpoints: dict[str, GatewayEndpoint] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Key ARN → its policy document (keys created by this plan)."""
    key_uses: dict[str, list[KeyUse]] = field(default_factory=lambda: defaultdict(list))
    role_policies: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    """Role name → its inline policy documents."""
    role_managed_policies: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def of_kind(self, *kinds: str) -> list[Member]:
        return [m for m in self.members if m.kind in kinds]

    def by_type(self, *types: str) -> Iterable[dict[str, Any]]:
        return (r for r in self.resources if r["type"] in types)

    @property
    def has_internet_egress(self) -> bool:
        """Whether any private subnet routes to the internet (a NAT or internet gateway)."""
        return any(self.route_table_of.get(s) in self.internet_route_tables for s in self.subnet_cidrs)

    def service_name(self, service: str) -> str:
        """The endpoint service name of `service` in this region (EC2 `DescribeVpcEndpointServices`)."""
        reverse = "cn.com.amazonaws" if self.partition == "aws-cn" else "com.amazonaws"
        return f"{reverse}.{self.region}.{service}"


# --- reading resources -------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    return None if value is None else int(float(value))


def _rule(inputs: Mapping[str, Any]) -> SgRule:
    return SgRule(
        protocol=PROTOCOL_NAMES.get(str(inputs.get("ipProtocol", inputs.get("protocol", ALL))).lower(), "other"),
        from_port=_int(inputs.get("fromPort")),
        to_port=_int(inputs.get("toPort")),
        peer_group=inputs.get("referencedSecurityGroupId") or inputs.get("sourceSecurityGroupId"),
        cidr=inputs.get("cidrIpv4"),
        prefix_list=inputs.get("prefixListId"),
    )


def _inline_rules(group_id: str, entries: Sequence[Mapping[str, Any]]) -> list[SgRule]:
    """Rules of the `ingress`/`egress` blocks of an `aws.ec2.SecurityGroup`, one per peer."""
    rules: list[SgRule] = []
    for entry in entries:
        protocol = PROTOCOL_NAMES.get(str(entry.get("protocol", ALL)).lower(), "other")
        ports = (_int(entry.get("fromPort")), _int(entry.get("toPort")))
        peers: list[dict[str, str]] = [{"cidr": c} for c in entry.get("cidrBlocks") or []]
        peers += [{"peer_group": g} for g in entry.get("securityGroups") or []]
        peers += [{"prefix_list": p} for p in entry.get("prefixListIds") or []]
        if entry.get("self"):
            peers.append({"peer_group": group_id})
        rules += [SgRule(protocol, *ports, **peer) for peer in peers]  # type: ignore[arg-type]
    return rules


def decode_user_data(value: str | None, encoded: bool = True) -> str:
    """The text of user data: base64 (and gzip) undone, MIME parts joined."""
    if not value:
        return ""
    raw = value.encode()
    if encoded:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = value.encode()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode(errors="replace")
    if text.startswith("MIME-Version") or "Content-Type: multipart" in text[:500]:
        message = email.message_from_string(text)
        parts = [p.get_payload(decode=True) for p in message.walk() if not p.is_multipart()]
        return "\n".join(p.decode(errors="replace") for p in parts if isinstance(p, bytes))
    return text


def _role_name(arn: str | None) -> str | None:
    return arn.rsplit("/", 1)[-1] if arn else None


class _Reader:
    """Builds an `Inventory` in one pass over the resources."""

    def __init__(self, inv: Inventory):
        self.inv = inv
        self.by_id: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, str | None] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.cluster_group: str | None = None
        self.template_scripts: dict[str, str] = {}
        self.key_arns: dict[str, str] = {}
        """Key id or ARN → ARN, for resources that name the key by id."""
        self.db_subnet_groups: dict[str, tuple[str, ...]] = {}
        """RDS subnet group name → its subnets."""
        self.db_subnets: set[str] = set()
        """Every RDS subnet group's subnets: where a database whose group is unknown at plan time lies."""

    def read(self) -> Inventory:
        inv = self.inv
        for r in inv.resources:
            if r.get("id"):
                self.by_id[str(r["id"])] = r
        for r in inv.resources:
            inputs, outputs, typ = r.get("inputs") or {}, r.get("outputs") or {}, r["type"]
            if typ == "aws:ec2/securityGroup:SecurityGroup":
                gid = str(r["id"])
                inv.groups[gid] = SecurityGroup(
                    gid,
                    r["name"],
                    _inline_rules(gid, inputs.get("ingress") or []),
                    _inline_rules(gid, inputs.get("egress") or []),
                )
            elif typ == "aws:ec2/subnet:Subnet":
                inv.subnet_cidrs[str(r["id"])] = inputs.get("cidrBlock", "")
            elif typ == "aws:ec2/routeTableAssociation:RouteTableAssociation":
                inv.route_table_of[inputs["subnetId"]] = inputs["routeTableId"]
            elif typ == "aws:ec2/vpnGateway:VpnGateway":
                inv.vpn_gateways.add(str(r["id"]))
            elif typ == "aws:ec2/route:Route":
                if inputs.get("gatewayId") and inputs.get("destinationCidrBlock"):
                    inv.routes[inputs["routeTableId"]].append((inputs["destinationCidrBlock"], inputs["gatewayId"]))
                if inputs.get("destinationCidrBlock") == INTERNET and (
                    inputs.get("natGatewayId") or inputs.get("gatewayId")
                ):
                    inv.internet_route_tables.add(inputs["routeTableId"])
            elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
                self.templates[str(r["id"])] = r
            elif typ == "aws:rds/subnetGroup:SubnetGroup":
                subnets = tuple(str(s) for s in inputs.get("subnetIds") or [])
                for key in (outputs.get("name"), inputs.get("name"), r.get("id")):
                    if key:
                        self.db_subnet_groups[str(key)] = subnets
                self.db_subnets.update(subnets)
            elif typ == "aws:iam/instanceProfile:InstanceProfile":
                self.profiles[str(r["id"])] = inputs.get("role")
                self.profiles[str(outputs.get("arn", inputs.get("arn", "")))] = inputs.get("role")
                if inputs.get("name"):
                    self.profiles[str(inputs["name"])] = inputs.get("role")
            elif typ == "aws:iam/rolePolicy:RolePolicy":
                inv.role_policies[str(inputs.get("role"))].append(_json(inputs.get("policy")))
            elif typ == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
                inv.role_managed_policies[str(inputs.get("role"))].add(str(inputs.get("policyArn")))
            elif typ == "aws:kms/key:Key":
                arn = outputs.get("arn") or inputs.get("arn")
                if arn:
                    inv.keys[str(arn)] = _json(inputs.get("policy"))
                    self.key_arns.update({str(arn): str(arn), str(r.get("id")): str(arn)})
        for r in inv.resources:
            self._member(r)
        return inv

    def _member(self, r: dict[str, Any]) -> None:
        inv, typ = self.inv, r["type"]
        inputs, outputs = r.get("inputs") or {}, r.get("outputs") or {}
        if typ in ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",):
            self._group(inputs["securityGroupId"]).ingress.append(_rule(inputs))
        elif typ == "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":
            self._group(inputs["securityGroupId"]).egress.append(_rule(inputs))
        elif typ == "aws:ec2/securityGroupRule:SecurityGroupRule":
            rules = _inline_rules(inputs["securityGroupId"], [inputs])
            target = self._group(inputs["securityGroupId"])
            (target.ingress if inputs.get("type") == "ingress" else target.egress).extend(rules)
        elif typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
            service = str(inputs.get("serviceName", "")).split(f".{inv.region}.", 1)[-1]
            if inputs.get("vpcEndpointType") == "Gateway":
                inv.gateway_endpoints[service] = GatewayEndpoint(
                    service, frozenset(inputs.get("routeTableIds") or []), outputs.get("prefixListId")
                )
            else:
                inv.interface_endpoints[service] = Member(
                    f"{service} endpoint",
                    "endpoint",
                    frozenset(inputs.get("securityGroupIds") or []),
                    tuple(inputs.get("subnetIds") or []),
                )
                inv.private_dns[service] = bool(inputs.get("privateDnsEnabled"))
        elif typ == "aws:eks/cluster:Cluster":
            vpc = inputs.get("vpcConfig") or {}
            remote = ((inputs.get("remoteNetworkConfig") or {}).get("remoteNodeNetworks") or {}).get("cidrs") or []
            inv.remote_node_cidrs = tuple(str(c) for c in remote)
            cluster_group = (outputs.get("vpcConfig") or {}).get("clusterSecurityGroupId")
            groups = set(vpc.get("securityGroupIds") or [])
            if cluster_group:
                self.cluster_group = cluster_group
                groups.add(cluster_group)
                # EKS creates the cluster security group with one inbound rule (all traffic from the
                # group itself) and one outbound rule (all traffic to 0.0.0.0/0) (EKS user guide, "View
                # Amazon EKS security group requirements for clusters", default rules).
                group = self._group(cluster_group, name="EKS cluster security group")
                group.ingress.append(SgRule(ALL, None, None, peer_group=cluster_group))
                group.egress.append(SgRule(ALL, None, None, cidr=INTERNET))
            inv.members.append(
                Member("EKS control plane", "control-plane", frozenset(groups), tuple(vpc.get("subnetIds") or []))
            )
            self._key_use(r, (inputs.get("encryptionConfig") or {}).get("provider", {}).get("keyArn"), "eks")
        elif typ == "aws:eks/nodeGroup:NodeGroup":
            template = self.templates.get(str((inputs.get("launchTemplate") or {}).get("id")))
            ip, efa = self._template_groups(template)
            if not ip:
                # A node group whose launch template names no security groups gets the cluster
                # security group (EKS user guide, "Customize managed nodes with launch templates").
                ip = frozenset({self.cluster_group} if self.cluster_group else ())
            labels = inputs.get("labels") or {}
            inv.members.append(
                Member(
                    f"node group {inputs.get('nodeGroupName', r['name'])}",
                    "eks-node",
                    ip,
                    tuple(inputs.get("subnetIds") or []),
                    efa,
                    _role_name(inputs.get("nodeRoleArn")),
                    self._user_data(template),
                    labels.get("aifactory.io/fleet"),
                    labels,
                )
            )
            self._template_key(r, template, "autoscaling")
        elif typ == "aws:autoscaling/group:Group":
            template = self.templates.get(str((inputs.get("launchTemplate") or {}).get("id")))
            ip, efa = self._template_groups(template)
            inv.members.append(
                Member(
                    f"auto scaling group {r['name']}",
                    "node",
                    ip,
                    tuple(inputs.get("vpcZoneIdentifiers") or []),
                    efa,
                    self._template_role(template),
                    self._user_data(template),
                    _tag(inputs, "aifactory:fleet"),
                )
            )
            self._template_key(r, template, "autoscaling")
        elif typ == "aws:ec2/instance:Instance":
            template = self.templates.get(str((inputs.get("launchTemplate") or {}).get("id")))
            ip, efa = self._template_groups(template)
            ip = ip or frozenset(inputs.get("vpcSecurityGroupIds") or [])
            user_data = decode_user_data(inputs.get("userDataBase64")) or decode_user_data(
                inputs.get("userData"), encoded=False
            )
            profile = inputs.get("iamInstanceProfile")
            subnet = inputs.get("subnetId") or self._template_subnet(template)
            inv.members.append(
                Member(
                    f"instance {r['name']}",
                    "slurm-compute" if template is not None else "instance",
                    ip,
                    (subnet,) if subnet else (),
                    efa,
                    self.profiles.get(str(profile)) if profile else self._template_role(template),
                    user_data or self._user_data(template),
                    _tag(inputs, "aifactory:fleet"),
                )
            )
            self._template_key(r, template, "ec2")
            self._key_use(r, (inputs.get("rootBlockDevice") or {}).get("kmsKeyId"), "ec2")
        elif typ == "aws:fsx/lustreFileSystem:LustreFileSystem":
            fs_groups = frozenset(inputs.get("securityGroupIds") or [])
            subnets = inputs.get("subnetIds")
            inv.members.append(
                Member(
                    "FSx for Lustre",
                    "fsx",
                    fs_groups,
                    tuple([subnets] if isinstance(subnets, str) else subnets or []),
                    fs_groups if inputs.get("efaEnabled") else frozenset(),
                )
            )
            self._key_use(r, inputs.get("kmsKeyId"), "fsx")
        elif typ == "aws:rds/instance:Instance":
            inv.members.append(
                Member(
                    f"database {r['name']}",
                    "database",
                    frozenset(inputs.get("vpcSecurityGroupIds") or []),
                    # A DB instance has interfaces in its subnet group's subnets (RDS user guide, "Working
                    # with a DB instance in a VPC"); the group's name may be unknown until it exists.
                    self.db_subnet_groups.get(str(inputs.get("dbSubnetGroupName")), tuple(sorted(self.db_subnets))),
                    labels={"engine": str(inputs.get("engine", ""))},
                )
            )
            self._key_use(r, inputs.get("kmsKeyId"), "rds")
        elif typ == "aws:codebuild/project:Project":
            vpc = inputs.get("vpcConfig") or {}
            inv.members.append(
                Member(
                    f"runner {r['name']}",
                    "runner",
                    frozenset(vpc.get("securityGroupIds") or []),
                    tuple(vpc.get("subnets") or []),
                    role=_role_name(inputs.get("serviceRole")),
                    user_data=str((inputs.get("source") or {}).get("buildspec") or ""),
                )
            )
            self._key_use(r, inputs.get("encryptionKey"), "codebuild", role=_role_name(inputs.get("serviceRole")))
        elif typ == "aws:lambda/function:Function" and inputs.get("vpcConfig"):
            # A function attached to a VPC sends from interfaces in its subnets with its security groups
            # (Lambda developer guide, "Giving Lambda functions access to resources in an Amazon VPC").
            vpc = inputs["vpcConfig"]
            inv.members.append(
                Member(
                    f"function {inputs.get('name', r['name'])}",
                    "function",
                    frozenset(vpc.get("securityGroupIds") or []),
                    tuple(vpc.get("subnetIds") or []),
                    role=_role_name(inputs.get("role")),
                )
            )
        elif typ == "aws:amp/scraper:Scraper":
            # A managed collector scrapes from interfaces it creates in its subnets, with the security groups
            # it is given (AMP user guide, "Using an AWS managed collector": one ENI per subnet).
            eks = (inputs.get("source") or {}).get("eks") or {}
            inv.members.append(
                Member(
                    f"metrics scraper {inputs.get('alias', r['name'])}",
                    "scraper",
                    frozenset(eks.get("securityGroupIds") or []),
                    tuple(eks.get("subnetIds") or []),
                )
            )
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            self._key_use(r, inputs.get("kmsKeyId"), "logs", outputs.get("arn"))
        elif typ == "aws:secretsmanager/secret:Secret":
            self._key_use(r, inputs.get("kmsKeyId"), "secretsmanager")
        elif typ.startswith("aws:s3/bucketServerSideEncryptionConfiguration"):
            for rule in inputs.get("rules") or []:
                default = rule.get("applyServerSideEncryptionByDefault") or {}
                self._key_use(r, default.get("kmsMasterKeyId"), "s3")

    def _group(self, group_id: str, name: str | None = None) -> SecurityGroup:
        return self.inv.groups.setdefault(group_id, SecurityGroup(group_id, name or group_id))

    @staticmethod
    def _template_groups(template: dict[str, Any] | None) -> tuple[frozenset[str], frozenset[str]]:
        """Groups of the primary interface, and of the EFA interfaces, of a launch template."""
        if template is None:
            return frozenset(), frozenset()
        inputs = template.get("inputs") or {}
        interfaces = inputs.get("networkInterfaces") or []
        primary = [i for i in interfaces if not _int(i.get("networkCardIndex")) and not _int(i.get("deviceIndex"))]
        ip = frozenset(g for i in primary for g in i.get("securityGroups") or []) or frozenset(
            inputs.get("vpcSecurityGroupIds") or []
        )
        efa = frozenset(
            g
            for i in interfaces
            if i.get("interfaceType") in ("efa", "efa-only")
            for g in i.get("securityGroups") or []
        )
        return ip, efa

    @staticmethod
    def _template_subnet(template: dict[str, Any] | None) -> str | None:
        """The subnet a launch template's interfaces name (self-launched instances take it from there)."""
        for interface in ((template or {}).get("inputs") or {}).get("networkInterfaces") or []:
            if interface.get("subnetId"):
                return str(interface["subnetId"])
        return None

    def _template_role(self, template: dict[str, Any] | None) -> str | None:
        if template is None:
            return None
        profile = (template.get("inputs") or {}).get("iamInstanceProfile") or {}
        return self.profiles.get(str(profile.get("arn") or profile.get("name")))

    def _user_data(self, template: dict[str, Any] | None) -> str:
        """A launch template's boot script, decoded once however many instances share the template."""
        if template is None:
            return ""
        key = str(template.get("id"))
        if key not in self.template_scripts:
            self.template_scripts[key] = decode_user_data((template.get("inputs") or {}).get("userData"))
        return self.template_scripts[key]

    def _template_key(self, user: dict[str, Any], template: dict[str, Any] | None, service: str) -> None:
        if template is None:
            return
        for mapping in (template.get("inputs") or {}).get("blockDeviceMappings") or []:
            self._key_use(user, (mapping.get("ebs") or {}).get("kmsKeyId"), service)

    def _key_use(
        self,
        r: dict[str, Any],
        key: str | None,
        service: str,
        log_group: str | None = None,
        role: str | None = None,
    ) -> None:
        if key:
            arn = self.key_arns.get(str(key), str(key))
            self.inv.key_uses[arn].append(KeyUse(r["name"], service, log_group, role))


def _tag(inputs: Mapping[str, Any], key: str) -> str | None:
    tags = inputs.get("tags") or {}
    if isinstance(tags, Mapping) and key in tags:
        return str(tags[key])
    for tag in inputs.get("tags") or []:
        if isinstance(tag, Mapping) and tag.get("key") == key:
            return str(tag.get("value"))
    return None


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    try:
        parsed = json.loads(value) if isinstance(value, str) else {}
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def read_inventory(
    resources: Sequence[Mapping[str, Any]],
    *,
    region: str,
    partition: str,
    account: str,
    registry_mirror: str | None = None,
    slurm_conf: str | None = None,
) -> Inventory:
    """The inventory of a plan's resources (dicts with type, name, id, inputs, outputs)."""
    inv = Inventory(region, partition, account, registry_mirror, slurm_conf, [dict(r) for r in resources])
    return _Reader(inv).read()


def cidr_covers(outer: str, inner: str) -> bool:
    try:
        return ipaddress.ip_network(inner, strict=False).subnet_of(ipaddress.ip_network(outer, strict=False))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
