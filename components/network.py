"""`FactoryNetwork`: the VPC a factory's nodes live in, working without internet egress."""

import ipaddress
import json
from collections.abc import Sequence
from typing import NotRequired, Required, TypedDict

import pulumi
import pulumi_aws as aws

# `pulumi.Input[T]` is `T | Awaitable[T] | "Output[T]"`, the last a string that `typing.get_type_hints`
# of this module's Args TypedDicts resolves in this module's namespace.
from pulumi.output import Output, T  # noqa: F401

from .arns import endpoint_service_name
from .catalog.regions import availability_zones
from .component_args import factory_network_issues, validate_component_args
from .plan_time import require_plan_time
from .planning.address_plan import IPV6_SUBNET_PREFIX
from .planning.network_plan import (
    INTERNET_IPV4,
    INTERNET_IPV6,
    SubnetPlan,
    interface_endpoints,
    plan_subnets,
    zone_slot,
)
from .tags import ROLE_EFA, TAG_ROLE
from .trust import source_conditions, trust_policy


def ipv6_subnet(vpc_block: pulumi.Input[str], slot: int) -> pulumi.Output[str]:
    """The /64 of a zone's subnet inside the VPC's /56, at the zone's slot (a=0, b=1, ...), so adding or
    reordering zones moves no subnet."""
    return pulumi.Output.from_input(vpc_block).apply(
        lambda block: str(list(ipaddress.IPv6Network(block).subnets(new_prefix=IPV6_SUBNET_PREFIX))[slot])
    )


class FactoryNetworkArgs(TypedDict):
    """Inputs of `FactoryNetwork`. Everything but the KMS key is computed with while planning (subnet
    math, endpoint names), so it is a plain value; an Output there is an error naming the arg."""

    cidr: NotRequired[str]
    """IPv4 CIDR of the VPC (default 10.0.0.0/16); the subnets are carved from it at plan time."""
    availability_zones: Required[list[str]]
    """AZs that get a private subnet (and a public one with NAT egress)."""
    egress: NotRequired[str]
    """`none` (default: no internet gateway, NAT or public subnet) or `nat`."""
    region: Required[str]
    """Region of the VPC, used for endpoint service names."""
    partition: NotRequired[str]
    """AWS partition of the region (`aws` default, `aws-us-gov`, `aws-eusc`, ...)."""
    eks: NotRequired[bool]
    """Add the EC2, EKS and EKS Auth interface endpoints."""
    auto_scaling: NotRequired[bool]
    """Add the Auto Scaling interface endpoint (fleets that are Auto Scaling groups report health)."""
    ec2_api: NotRequired[bool]
    """Add the EC2 interface endpoint (the Slurm head reads its nodes' instance topology)."""
    kms_key_arn: NotRequired[pulumi.Input[str] | None]
    """Customer-managed key for the flow-log group; None uses CloudWatch's default encryption."""
    http_egress: NotRequired[bool]
    """With `nat` egress, nodes may also reach tcp 80 on the internet: their boot installs packages from
    archives served over plain HTTP (Ubuntu's), default false (HTTPS only)."""
    flow_log_retention_days: NotRequired[int]
    """Retention of the VPC flow-log group (default 365)."""
    ipv6: NotRequired[bool]
    """An IPv6 cluster's VPC: an Amazon-provided /56, a /64 per private subnet, IPv6 egress (default false)."""
    pod_subnets: NotRequired[dict[str, str]]
    """VPC CNI custom networking: each AZ's pod subnet CIDR, added to the VPC as a secondary CIDR block."""
    tags: NotRequired[dict[str, str]]
    """Tags for every taggable resource."""


PLAN_TIME_ARGS = (
    "cidr",
    "availability_zones",
    "egress",
    "region",
    "partition",
    "eks",
    "auto_scaling",
    "ec2_api",
    "http_egress",
    "flow_log_retention_days",
    "ipv6",
    "pod_subnets",
    "tags",
)


class FactoryNetwork(pulumi.ComponentResource):
    """VPC, private subnets per AZ sized for EFA fleets, the EFA security group (all traffic to and
    from itself, nothing else), a node security group for everything else, VPC endpoints, flow logs,
    and public subnets, internet gateway and NAT only when egress is `nat`."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    availability_zones: pulumi.Output[list[str]]
    efa_security_group_id: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    s3_prefix_list_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: FactoryNetworkArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        subnets: Sequence[SubnetPlan] | None = None,
    ):
        """`subnets` is the factory plan's layout (so a factory splits its CIDR once); without it the
        args are split here."""
        require_plan_time("FactoryNetwork", args, PLAN_TIME_ARGS)
        # The stack config's rules, before anything registers (`component_args`).
        validate_component_args(FactoryNetworkArgs, args, factory_network_issues)
        if subnets is not None and [s.availability_zone for s in subnets] != list(args["availability_zones"]):
            raise ValueError("FactoryNetwork: `subnets` must follow `availability_zones`, zone for zone")
        super().__init__("aifactory:index:FactoryNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zones = list(args["availability_zones"])
        cidr = args.get("cidr", "10.0.0.0/16")
        egress = args.get("egress", "none")
        region = args["region"]
        partition = args.get("partition", "aws")
        tags = dict(args.get("tags", {}))
        kms_key_arn = args.get("kms_key_arn")
        ipv6 = bool(args.get("ipv6", False))

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            # An IPv6 cluster needs an IPv6 block on its VPC and subnets besides the IPv4 one (EKS User
            # Guide, "IPv6 addresses to clusters, pods, and services").
            assign_generated_ipv6_cidr_block=True if ipv6 else None,
            tags={**tags, "Name": f"{name}-vpc"},
            opts=child,
        )
        layout = list(subnets) if subnets is not None else plan_subnets(cidr, zones, public=egress == "nat")
        region_zones = availability_zones(region) if ipv6 else None
        private_subnets = [
            aws.ec2.Subnet(
                f"{name}-private-{plan.availability_zone}",
                vpc_id=vpc.id,
                cidr_block=plan.private_cidr,
                availability_zone=plan.availability_zone,
                map_public_ip_on_launch=False,
                # EKS needs nodes' subnets to auto-assign IPv6 addresses in an IPv6 cluster (same page).
                ipv6_cidr_block=ipv6_subnet(vpc.ipv6_cidr_block, zone_slot(plan.availability_zone, region_zones))
                if ipv6
                else None,
                assign_ipv6_address_on_creation=True if ipv6 else None,
                tags={
                    **tags,
                    "Name": f"{name}-private-{plan.availability_zone}",
                    "kubernetes.io/role/internal-elb": "1",
                },
                opts=child,
            )
            for plan in layout
        ]
        private_tables = [
            aws.ec2.RouteTable(
                f"{name}-private-{plan.availability_zone}",
                vpc_id=vpc.id,
                tags={**tags, "Name": f"{name}-private-{plan.availability_zone}"},
                opts=child,
            )
            for plan in layout
        ]
        for plan, subnet, table in zip(layout, private_subnets, private_tables, strict=True):
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{plan.availability_zone}", subnet_id=subnet.id, route_table_id=table.id, opts=child
            )

        if egress == "nat":
            self._public_egress(name, vpc, layout, private_tables, tags, child)
            if ipv6:
                # IPv6 pods reach the internet with their own addresses, not through NAT (same page:
                # "routed using an internet gateway or egress-only internet gateway").
                outbound_only = aws.ec2.EgressOnlyInternetGateway(
                    f"{name}-eigw", vpc_id=vpc.id, tags={**tags, "Name": f"{name}-eigw"}, opts=child
                )
                for plan, table in zip(layout, private_tables, strict=True):
                    aws.ec2.Route(
                        f"{name}-private-{plan.availability_zone}-default-ipv6",
                        route_table_id=table.id,
                        destination_ipv6_cidr_block=INTERNET_IPV6,
                        egress_only_gateway_id=outbound_only.id,
                        opts=child,
                    )

        self.pod_subnet_ids_by_zone: dict[str, pulumi.Output[str]] = {}
        """Custom networking: each zone's pod subnet (the VPC CNI's ENIConfig of the zone names it)."""
        tables_of = {p.availability_zone: t for p, t in zip(layout, private_tables, strict=True)}
        for zone, pod_cidr in args.get("pod_subnets", {}).items():
            # A secondary CIDR block adds a `local` route to every route table of the VPC (VPC User Guide,
            # "Add or remove a CIDR block from your VPC"); the pod subnet shares its zone's route table.
            block = aws.ec2.VpcIpv4CidrBlockAssociation(
                f"{name}-pods-{zone}", vpc_id=vpc.id, cidr_block=pod_cidr, opts=child
            )
            pod_subnet = aws.ec2.Subnet(
                f"{name}-pods-{zone}",
                vpc_id=block.vpc_id,
                cidr_block=pod_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"{name}-pods-{zone}"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-pods-{zone}", subnet_id=pod_subnet.id, route_table_id=tables_of[zone].id, opts=child
            )
            self.pod_subnet_ids_by_zone[zone] = pod_subnet.id

        # Take over the VPC's default security group and leave it without rules: by default it
        # allows all traffic from itself and all traffic out, to anything launched without a group
        # (VPC user guide, "Default security groups for your VPCs"; Security Hub [EC2.2], CIS 5.4).
        # Managing it with no ingress/egress removes those rules (pulumi-aws ec2/default_security_group.py).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            tags={**tags, "Name": f"{name}-default-closed"},
            opts=child,
        )

        efa_sg = aws.ec2.SecurityGroup(
            f"{name}-efa",
            vpc_id=vpc.id,
            description="EFA: all traffic to and from members of this group only",
            tags={**tags, "Name": f"{name}-efa", TAG_ROLE: ROLE_EFA},
            opts=child,
        )
        # EFA needs all traffic to and from the group itself (EC2 user guide, "Prepare an
        # EFA-enabled security group"); nothing else may be in it.
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-efa-in-self",
            security_group_id=efa_sg.id,
            referenced_security_group_id=efa_sg.id,
            ip_protocol="-1",
            description="EFA from members",
            tags={**tags, TAG_ROLE: ROLE_EFA},
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-efa-out-self",
            security_group_id=efa_sg.id,
            referenced_security_group_id=efa_sg.id,
            ip_protocol="-1",
            description="EFA to members",
            tags={**tags, TAG_ROLE: ROLE_EFA},
            opts=child,
        )
        node_sg = aws.ec2.SecurityGroup(
            f"{name}-nodes",
            vpc_id=vpc.id,
            description="Factory nodes: outbound; inbound from factory nodes",
            tags={**tags, "Name": f"{name}-nodes"},
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-nodes-in-self",
            security_group_id=node_sg.id,
            referenced_security_group_id=node_sg.id,
            ip_protocol="-1",
            description="Node to node",
            tags=tags,
            opts=child,
        )
        # Out to the VPC on every protocol (endpoints, the DNS resolver, the Slurm head, the file system,
        # other nodes). A new security group would allow all traffic out (VPC user guide, "Security group
        # rules": default outbound rule); with NAT egress only what the nodes fetch from the internet goes
        # further: HTTPS (EKS, ECR, S3, STS and the public registries; Amazon Linux 2023 repositories) and,
        # when the nodes install from Ubuntu's archives, HTTP. Security groups do not filter the instance
        # metadata service, the Amazon DNS server or the Amazon Time Sync Service at their link-local
        # addresses (VPC user guide, "Security groups for your VPC"). The rule keeps its name when it
        # narrows from 0.0.0.0/0 to the VPC: a changed cidrIpv4 is updated in place (only a new security
        # group or source kind replaces it; `catalog/data/replace_on_change.yaml`).
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-nodes-out",
            security_group_id=node_sg.id,
            cidr_ipv4=cidr,
            ip_protocol="-1",
            description="Outbound inside the VPC",
            tags=tags,
            opts=child,
        )
        if ipv6:
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-nodes-out-ipv6",
                security_group_id=node_sg.id,
                cidr_ipv6=vpc.ipv6_cidr_block,
                ip_protocol="-1",
                description="Outbound IPv6 inside the VPC",
                tags=tags,
                opts=child,
            )
        if egress == "nat":
            ports = [("https", 443)] + ([("http", 80)] if args.get("http_egress", False) else [])
            for label, port in ports:
                aws.vpc.SecurityGroupEgressRule(
                    f"{name}-nodes-out-{label}",
                    security_group_id=node_sg.id,
                    cidr_ipv4=INTERNET_IPV4,
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    description=f"{label.upper()} to the internet through NAT",
                    tags=tags,
                    opts=child,
                )
                if ipv6:
                    # IPv6 leaves through the egress-only internet gateway, not NAT.
                    aws.vpc.SecurityGroupEgressRule(
                        f"{name}-nodes-out-{label}-ipv6",
                        security_group_id=node_sg.id,
                        cidr_ipv6=INTERNET_IPV6,
                        ip_protocol="tcp",
                        from_port=port,
                        to_port=port,
                        description=f"{label.upper()} over IPv6 to the internet",
                        tags=tags,
                        opts=child,
                    )
        s3 = self._endpoints(
            name,
            vpc,
            cidr,
            region,
            partition,
            private_subnets,
            private_tables,
            interface_endpoints(
                bool(args.get("eks", False)), bool(args.get("auto_scaling", False)), bool(args.get("ec2_api", False))
            ),
            tags,
            child,
        )
        if egress == "none":
            # Egress is limited to the VPC, but S3 (ECR image layers, the data repository) is reached
            # through the gateway endpoint at S3's public addresses: allow HTTPS to the endpoint's
            # AWS-managed prefix list (VPC user guide, "Gateway endpoints for Amazon S3": security
            # groups must allow traffic to the prefix list; ECR user guide, "Amazon ECR interface VPC
            # endpoints": image layers are pulled from S3).
            self.s3_egress_rule(f"{name}-nodes-out-s3", node_sg.id, s3.prefix_list_id, tags, child)
        self._flow_logs(
            name,
            vpc,
            partition,
            region,
            kms_key_arn,
            args.get("flow_log_retention_days", 365),
            tags,
            child,
        )

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        self.availability_zones = pulumi.Output.from_input(zones)
        self.efa_security_group_id = efa_sg.id
        self.node_security_group_id = node_sg.id
        self.s3_prefix_list_id = s3.prefix_list_id
        self.subnet_ids_by_zone = {p.availability_zone: s.id for p, s in zip(layout, private_subnets, strict=True)}
        self.private_route_table_ids_by_zone = {
            p.availability_zone: t.id for p, t in zip(layout, private_tables, strict=True)
        }
        """The private subnets' route tables, by zone (routes to on-premises networks go here)."""
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "availability_zones": self.availability_zones,
                "efa_security_group_id": self.efa_security_group_id,
                "node_security_group_id": self.node_security_group_id,
                "s3_prefix_list_id": self.s3_prefix_list_id,
            }
        )

    @staticmethod
    def s3_egress_rule(
        resource_name: str,
        security_group_id: pulumi.Input[str],
        prefix_list_id: pulumi.Input[str],
        tags: dict[str, str],
        opts: pulumi.ResourceOptions,
    ) -> aws.vpc.SecurityGroupEgressRule:
        """HTTPS from a group whose egress is limited to the VPC to the S3 gateway endpoint's prefix list."""
        return aws.vpc.SecurityGroupEgressRule(
            resource_name,
            security_group_id=security_group_id,
            prefix_list_id=prefix_list_id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS to S3 through the gateway endpoint",
            tags=tags,
            opts=opts,
        )

    def _public_egress(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        layout: list,
        private_tables: list[aws.ec2.RouteTable],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> None:
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={**tags, "Name": f"{name}-igw"}, opts=child)
        public_table = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, tags={**tags, "Name": f"{name}-public"}, opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_table.id,
            destination_cidr_block=INTERNET_IPV4,
            gateway_id=igw.id,
            opts=child,
        )
        for plan, private_table in zip(layout, private_tables, strict=True):
            zone = plan.availability_zone
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=plan.public_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"{name}-public-{zone}", "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=public.id, route_table_id=public_table.id, opts=child
            )
            eip = aws.ec2.Eip(
                f"{name}-nat-{zone}", domain="vpc", tags={**tags, "Name": f"{name}-nat-{zone}"}, opts=child
            )
            nat = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                subnet_id=public.id,
                allocation_id=eip.id,
                tags={**tags, "Name": f"{name}-nat-{zone}"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )
            aws.ec2.Route(
                f"{name}-private-{zone}-default",
                route_table_id=private_table.id,
                destination_cidr_block=INTERNET_IPV4,
                nat_gateway_id=nat.id,
                opts=child,
            )

    def _endpoints(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        cidr: str,
        region: str,
        partition: str,
        subnets: list[aws.ec2.Subnet],
        tables: list[aws.ec2.RouteTable],
        services: Sequence[str],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> aws.ec2.VpcEndpoint:
        """The S3 gateway endpoint (returned: its prefix list is what S3 egress rules name) and one
        interface endpoint per service."""
        s3 = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=endpoint_service_name(region, partition, "s3"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[t.id for t in tables],
            tags={**tags, "Name": f"{name}-s3"},
            opts=child,
        )
        endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=vpc.id,
            description="VPC interface endpoints: HTTPS from the VPC",
            tags={**tags, "Name": f"{name}-endpoints"},
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoints-https",
            security_group_id=endpoint_sg.id,
            cidr_ipv4=cidr,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS from the VPC",
            tags=tags,
            opts=child,
        )
        for service in services:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=endpoint_service_name(region, partition, service),
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in subnets],
                security_group_ids=[endpoint_sg.id],
                tags={**tags, "Name": f"{name}-{service}"},
                opts=child,
            )
        return s3

    def _flow_logs(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        partition: str,
        region: str,
        kms_key_arn: pulumi.Input[str] | None,
        retention_days: int,
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> None:
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/aifactory/{name}/vpc-flow-logs",
            retention_in_days=retention_days,
            kms_key_id=kms_key_arn,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            # Only flow logs of this account and region may assume it (confused deputy; trust.py).
            assume_role_policy=aws.get_caller_identity_output().account_id.apply(
                lambda account: trust_policy(
                    "vpc-flow-logs",
                    partition,
                    source_conditions(account, f"arn:{partition}:ec2:{region}:{account}:vpc-flow-log/*"),
                )
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=child,
        )
