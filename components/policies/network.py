"""Network exposure: internet paths, security groups (the EFA group's self-only rules), endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..invariants import is_unknown
from .registry import policy
from .runner import EKS_CLUSTER, INSTANCE, LAUNCH_TEMPLATE, PolicyConfig, dicts, is_efa_group, known, strings, truthy

_SG = "aws:ec2/securityGroup:SecurityGroup"
_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
_SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
_SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
_OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


@policy(
    "no-public-network",
    enforcement="mandatory",
    description="No internet gateway, public NAT gateway, elastic IP or public IP address.",
    sovereign_only=True,
)
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
        if known(kind) and kind != "private":
            return ["a public NAT gateway gives the factory internet egress; sovereign stacks have none"]
        return []
    if resource_type == "aws:ec2/subnet:Subnet" and truthy(props.get("mapPublicIpOnLaunch")):
        return ["mapPublicIpOnLaunch is true; instances in this subnet get public IP addresses"]
    if resource_type == INSTANCE and truthy(props.get("associatePublicIpAddress")):
        return ["associatePublicIpAddress is true; the instance gets a public IP address"]
    if resource_type == LAUNCH_TEMPLATE:
        return [
            f"networkInterfaces[{i}]: associatePublicIpAddress is true; nodes get public IP addresses"
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


@policy("no-open-ingress", enforcement="mandatory", description="No security group ingress from 0.0.0.0/0 or ::/0.")
def check_no_open_ingress(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No security group admits traffic from 0.0.0.0/0 or ::/0."""

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
    enforcement="mandatory",
    description="The EKS API endpoint is private only.",
    sovereign_only=True,
)
def check_private_endpoint(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """EKS API endpoint private only (endpointPublicAccess defaults to true, private to false)."""
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
