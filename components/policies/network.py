"""Network exposure: internet paths, security groups (the EFA group's self-only rules), endpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..invariants import is_unknown
from .registry import inventory_policy, policy
from .runner import EKS_CLUSTER, INSTANCE, LAUNCH_TEMPLATE, PolicyConfig, dicts, is_efa_group, known, strings, truthy

_SG = "aws:ec2/securityGroup:SecurityGroup"
_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
_SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
_SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
_OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


@policy(
    "no-public-network",
    fix=(
        "remove the internet gateway, public NAT gateway or elastic IP; reach AWS services through VPC "
        "endpoints (`aifactory:network.egress: none`)"
    ),
    enforcement="mandatory",
    description="No internet gateway, public NAT gateway or elastic IP: no internet path at all.",
    sovereign_only=True,
)
def check_no_public_network(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No internet gateway, public NAT gateway or elastic IP (public IP addresses: `no-public-ip`)."""
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
        if known(kind) and kind != "private":
            return ["a public NAT gateway gives the factory internet egress; sovereign stacks have none"]
        return []
    return []


@policy(
    "no-public-ip",
    fix="set `mapPublicIpOnLaunch` / `associatePublicIpAddress` to false; nodes reach out through NAT or VPC endpoints",
    enforcement="mandatory",
    description=(
        "[EC2.9] [EC2.15] [EC2.25] No instance, subnet or launch template gives a public IPv4 "
        "address: nodes reach the internet, if at all, through NAT."
    ),
)
def check_no_public_ip(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No public IP address on an instance ([EC2.9]), subnet launch ([EC2.15]) or launch template ([EC2.25]).

    Security Hub controls "EC2 instances should not have a public IPv4 address", "EC2 subnets
    should not automatically assign public IP addresses", "EC2 launch templates should not assign
    public IPs to network interfaces". `mapPublicIpOnLaunch` defaults to false (pulumi-aws
    ec2/subnet.py); an instance without `associatePublicIpAddress` takes its subnet's setting.
    """
    if resource_type == "aws:ec2/subnet:Subnet" and truthy(props.get("mapPublicIpOnLaunch")):
        return ["mapPublicIpOnLaunch is true; instances in this subnet get public IP addresses ([EC2.15])"]
    if resource_type == INSTANCE and truthy(props.get("associatePublicIpAddress")):
        return ["associatePublicIpAddress is true; the instance gets a public IP address ([EC2.9])"]
    if resource_type == LAUNCH_TEMPLATE:
        return [
            f"networkInterfaces[{i}]: associatePublicIpAddress is true; nodes get public IP addresses ([EC2.25])"
            for i, nic in enumerate(dicts(props.get("networkInterfaces")))
            if truthy(nic.get("associatePublicIpAddress"))
        ]
    return []


def _self_only_rule(rule: Mapping[str, Any], where: str) -> list[str]:
    out = []
    if not truthy(rule.get("self")) and known(rule.get("self")):
        out.append(f"{where}: does not reference the group itself (self: true)")
    for key in ("cidrBlocks", "ipv6CidrBlocks", "prefixListIds", "securityGroups"):
        values = [v for v in strings(rule.get(key))]
        if values:
            out.append(f"{where}: {key} {values} let other sources in; the EFA group allows only itself")
    return out


@policy(
    "efa-security-group-self-only",
    fix="give the EFA group one ingress and one egress rule, all traffic, `self: true`, and nothing else",
    enforcement="mandatory",
    description="The EFA security group allows all traffic to and from itself and nothing else.",
)
def check_efa_security_group(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """The EFA security group allows all traffic to and from itself and nothing else.

    Source: EC2 user guide, "Get started with EFA and MPI", step "Prepare an EFA-enabled security
    group" (all inbound and all outbound traffic from/to the group itself).
    """
    if not is_efa_group(props):
        return []
    if resource_type == _SG:
        out: list[str] = []
        for direction in ("ingress", "egress"):
            rules = dicts(props.get(direction))
            if direction not in props or is_unknown(props.get(direction)):
                continue
            for i, rule in enumerate(rules):
                out += _self_only_rule(rule, f"{direction}[{i}]")
            if not any(truthy(r.get("self")) and r.get("protocol") in ("-1", "all") for r in rules):
                out.append(
                    f"{direction}: no rule allows all traffic {'from' if direction == 'ingress' else 'to'} "
                    "the group itself (protocol -1, self: true)"
                )
        return out
    if resource_type in (_SG_INGRESS, _SG_EGRESS):
        out = []
        for key in ("cidrIpv4", "cidrIpv6", "prefixListId"):
            if key in props and known(props[key]):
                out.append(f"{key} {props[key]} lets other sources in; the EFA group allows only itself")
        ref, group = props.get("referencedSecurityGroupId"), props.get("securityGroupId")
        if "referencedSecurityGroupId" not in props:
            out.append("referencedSecurityGroupId is not set; the rule must reference the EFA group itself")
        elif known(ref) and known(group) and ref != group:
            out.append(f"rule references {ref}, not the EFA group {group} itself")
        return out
    return []


@policy(
    "no-open-ingress",
    fix=(
        "admit only the networks or security groups that need the port "
        "(`aifactory:scheduler.publicAccessCidrs` for the EKS API)"
    ),
    enforcement="mandatory",
    description=(
        "[EC2.18] [EC2.19] [EC2.53] [EC2.54] No security group ingress from 0.0.0.0/0 or ::/0, "
        "on any port (CIS 5.2, 5.3)."
    ),
)
def check_no_open_ingress(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No security group admits traffic from 0.0.0.0/0 or ::/0.

    Stricter than the Security Hub controls it covers (security group controls, "Amazon EC2
    controls"): [EC2.18] allows unrestricted ingress only on authorized ports (default 80, 443),
    [EC2.19] forbids it on high-risk ports, [EC2.53]/[EC2.54] on remote administration ports from
    0.0.0.0/0 / ::/0. The factory serves nothing to the internet, so no port is authorized.
    """

    def opened(values: Any) -> list[str]:
        return sorted({v for v in strings(values) if v in _OPEN_CIDRS})

    if resource_type == _SG:
        return [
            f"ingress[{i}] (protocol {rule.get('protocol')}, ports "
            f"{rule.get('fromPort')}-{rule.get('toPort')}) is open to {cidrs}"
            for i, rule in enumerate(dicts(props.get("ingress")))
            if (cidrs := opened([rule.get("cidrBlocks"), rule.get("ipv6CidrBlocks")]))
        ]
    if resource_type == _SG_INGRESS:
        cidrs = opened([props.get("cidrIpv4"), props.get("cidrIpv6")])
        return [f"ingress rule is open to {cidrs}"] if cidrs else []
    if resource_type == _SG_RULE and props.get("type") == "ingress":
        cidrs = opened([props.get("cidrBlocks"), props.get("ipv6CidrBlocks")])
        return [f"ingress rule is open to {cidrs}"] if cidrs else []
    return []


@policy(
    "private-cluster-endpoint",
    fix="set `aifactory:scheduler.endpoint: private` (and run the cluster stack from inside the VPC)",
    enforcement="advisory",
    description=(
        "[EKS.1] EKS cluster endpoints should not be publicly accessible. Advisory outside sovereign "
        "stacks: a commercial stack may open the endpoint to listed networks (publicAccessCidrs)."
    ),
)
def check_private_endpoint(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """EKS API endpoint private only (endpointPublicAccess defaults to true, private to false).

    Security Hub [EKS.1] fails any public endpoint. `aifactory:scheduler.endpoint: public` with
    `publicAccessCidrs` is a supported commercial choice, hence advisory there;
    `eks-public-endpoint-restricted` is the mandatory floor.
    """
    if resource_type != EKS_CLUSTER:
        return []
    vpc = props.get("vpcConfig")
    if not isinstance(vpc, Mapping):
        return []
    out = []
    public = vpc.get("endpointPublicAccess", True)
    if known(public) and (public is True or truthy(public)):
        out.append("vpcConfig.endpointPublicAccess is not false; the cluster endpoint must be private")
    private = vpc.get("endpointPrivateAccess", False)
    if known(private) and not truthy(private):
        out.append("vpcConfig.endpointPrivateAccess is not true; nodes reach the API server privately")
    return out


@policy(
    "eks-public-endpoint-restricted",
    fix=(
        "list the networks that may reach the API in `aifactory:scheduler.publicAccessCidrs`, or make the "
        "endpoint private"
    ),
    enforcement="mandatory",
    description="[EKS.1] A public EKS endpoint admits only listed networks, never 0.0.0.0/0.",
)
def check_public_endpoint_restricted(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """A public endpoint lists the networks that may reach it.

    `publicAccessCidrs` defaults to 0.0.0.0/0 (EKS user guide, "Cluster API server endpoint";
    EKS API reference, VpcConfigRequest), so a public endpoint without it is open to everyone.
    """
    if resource_type != EKS_CLUSTER:
        return []
    vpc = props.get("vpcConfig")
    if not isinstance(vpc, Mapping):
        return []
    public = vpc.get("endpointPublicAccess", True)
    if not known(public) or not (public is True or truthy(public)):
        return []
    cidrs = vpc.get("publicAccessCidrs")
    if "publicAccessCidrs" in vpc and not known(cidrs):
        return []
    listed = list(strings(cidrs))
    if not listed:
        return ["the endpoint is public and publicAccessCidrs is not set (0.0.0.0/0); list the networks"]
    opened = sorted(c for c in listed if c in _OPEN_CIDRS)
    return [f"the public endpoint admits {', '.join(opened)}; list the networks that may reach it"] if opened else []


def _open_egress_rule(protocol: Any, from_port: Any, to_port: Any, cidrs: list[str], where: str) -> list[str]:
    opened = sorted({c for c in cidrs if c in _OPEN_CIDRS})
    if not opened:
        return []
    if str(protocol) in ("tcp", "6") and from_port == to_port == 443:
        return []  # HTTPS to AWS APIs and endpoints (whose addresses are not the VPC's)
    # Protocol -1 (all) carries no ports (EC2 API reference, IpPermission: "-1 ... all ports").
    ports = "all ports" if from_port is None and to_port is None else f"ports {from_port}-{to_port}"
    what = "all protocols" if str(protocol) == "-1" else f"protocol {protocol}"
    return [f"{where} allows {what}, {ports} out to {', '.join(opened)}; allow HTTPS only"]


@policy(
    "no-open-egress",
    fix="allow out to 0.0.0.0/0 or ::/0 only tcp 443, and everything else to the VPC, endpoint groups or prefix lists",
    enforcement="advisory",
    description=(
        "Security groups allow out to 0.0.0.0/0 or ::/0 only HTTPS (no FSBP control; least "
        "privilege). Advisory outside sovereign stacks, whose nodes may use NAT egress."
    ),
)
def check_no_open_egress(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No egress to anywhere on every protocol or port but HTTPS (tcp 443).

    A new security group allows all outbound traffic (Amazon VPC user guide, "Security group
    rules": default outbound rule). A stack with NAT egress installs packages from the internet;
    without egress (every sovereign stack), out to anywhere is an exfiltration path waiting for a
    route.
    """
    if resource_type == _SG:
        out: list[str] = []
        for i, rule in enumerate(dicts(props.get("egress"))):
            cidrs = list(strings([rule.get("cidrBlocks"), rule.get("ipv6CidrBlocks")]))
            out += _open_egress_rule(
                rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"), cidrs, f"egress[{i}]"
            )
        return out
    if resource_type == _SG_EGRESS:
        cidrs = list(strings([props.get("cidrIpv4"), props.get("cidrIpv6")]))
        return _open_egress_rule(props.get("ipProtocol"), props.get("fromPort"), props.get("toPort"), cidrs, "rule")
    if resource_type == _SG_RULE and props.get("type") == "egress":
        cidrs = list(strings([props.get("cidrBlocks"), props.get("ipv6CidrBlocks")]))
        return _open_egress_rule(props.get("protocol"), props.get("fromPort"), props.get("toPort"), cidrs, "rule")
    return []


_DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"


@policy(
    "default-security-group-closed",
    fix="manage the VPC's default security group with no ingress and no egress rules",
    enforcement="mandatory",
    description="[EC2.2] VPC default security groups should not allow inbound or outbound traffic (CIS 5.4).",
)
def check_default_security_group(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """The managed default security group of a VPC has no rules.

    A VPC's default group allows all traffic from itself and all traffic out (VPC user guide,
    "Default security groups for your VPCs"); managing it with no `ingress` / `egress` removes
    those rules (pulumi-aws ec2/default_security_group.py).
    """
    if resource_type != _DEFAULT_SG:
        return []
    return [
        f"the default security group keeps {direction} rules; leave {direction} empty"
        for direction in ("ingress", "egress")
        if dicts(props.get(direction))
    ]


@inventory_policy(
    "default-security-group-managed",
    fix="add an `aws:ec2/defaultSecurityGroup:DefaultSecurityGroup` for the VPC with no rules",
    enforcement="mandatory",
    description="[EC2.2] Every VPC's default security group is managed by the stack and left with no rules.",
)
def check_default_security_groups_managed(
    resources: Sequence[Mapping[str, Any]], config: PolicyConfig
) -> list[tuple[str, str]]:
    """At least as many rule-less default security groups as VPCs (a preview does not know VPC ids)."""
    vpcs = [r for r in resources if r.get("type") == "aws:ec2/vpc:Vpc"]
    closed = [
        r
        for r in resources
        if r.get("type") == _DEFAULT_SG and not check_default_security_group(_DEFAULT_SG, r.get("inputs") or {}, config)
    ]
    return [
        (
            str(vpc.get("urn", "")),
            "the VPC's default security group still allows traffic (all from itself, all out); "
            "manage it with aws.ec2.DefaultSecurityGroup and no rules",
        )
        for vpc in vpcs[len(closed) :]
    ]
