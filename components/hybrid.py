"""`HybridNodes`: the AWS side of a data hall whose servers join the factory (EKS Hybrid Nodes or Slurm).

The link (a virtual private gateway on the VPC with a Site-to-Site VPN or a Direct Connect gateway
association), the VPC routes to the on-premises networks, and for EKS the hybrid nodes' IAM role, their
credential provider (SSM hybrid activation or IAM Roles Anywhere), their `HYBRID_LINUX` access entry and
the cluster security group rules. The cluster's `remoteNetworkConfig` is set on the cluster itself
(`schedulers/kubernetes.py`), the Slurm head's rules on the head's group (`schedulers/slurm.py`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, NotRequired, Required, TypedDict

import pulumi
import pulumi_aws as aws

from .arns import managed_policy_arn
from .spec.clock import plan_time
from .trust import source_conditions, trust_policy

HYBRID_ACCESS_ENTRY_TYPE = "HYBRID_LINUX"
"""EKS API reference, CreateAccessEntry `type`: the hybrid nodes' role gets a HYBRID_LINUX entry, which
puts it in the nodes' group (EKS user guide, "Prepare cluster access for hybrid nodes")."""

KUBELET_PORT = 10250
API_PORT = 443
DNS_PORT = 53


def cidr_slug(cidr: str) -> str:
    """`192.168.0.0/20` -> `192-168-0-0-20`: a CIDR as part of a resource name (stable under reordering)."""
    return cidr.replace(".", "-").replace("/", "-")


class HybridNodesArgs(TypedDict):
    """Inputs of `HybridNodes`."""

    region: Required[str]
    """The stack's region."""
    partition: Required[str]
    """Its partition (for ARNs and service principals)."""
    vpc_id: Required[pulumi.Input[str]]
    """The factory's VPC."""
    vpc_cidr: Required[str]
    """Its CIDR (Direct Connect's default allowed prefix)."""
    route_tables: Required[dict[str, pulumi.Input[str]]]
    """Private route tables by zone: each gets a route to every remote network through the gateway."""
    remote_node_cidrs: Required[list[str]]
    """On-premises node networks."""
    remote_pod_cidrs: NotRequired[list[str]]
    """On-premises pod networks (EKS)."""
    link: Required[dict[str, Any]]
    """`aifactory:hybrid.link` as the spec dumps it (`kind: vpn | direct-connect`)."""
    credentials: NotRequired[dict[str, Any] | None]
    """`aifactory:hybrid.credentials` (EKS): `kind: ssm | roles-anywhere`."""
    servers: NotRequired[int]
    """Hybrid servers the credentials must cover (SSM registration limit default)."""
    cluster_name: NotRequired[pulumi.Input[str] | None]
    """The EKS cluster the servers join; None for Slurm."""
    cluster_security_group_id: NotRequired[pulumi.Input[str] | None]
    """The EKS cluster security group (control plane ENIs, system nodes)."""
    tags: NotRequired[dict[str, str]]
    """Tags for every taggable resource."""


class HybridNodes(pulumi.ComponentResource):
    """Link, routes and (EKS) identity for the data hall's servers."""

    vpn_gateway_id: pulumi.Output[str]
    role_arn: pulumi.Output[str | None]
    activation_id: pulumi.Output[str | None]
    activation_code: pulumi.Output[str | None]
    trust_anchor_arn: pulumi.Output[str | None]
    profile_arn: pulumi.Output[str | None]

    def __init__(self, name: str, args: HybridNodesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aifactory:index:HybridNodes", name, None, opts)
        self._name = name
        self._tags = dict(args.get("tags", {}))
        self._partition = args["partition"]
        self._region = args["region"]
        child = pulumi.ResourceOptions(parent=self)
        remote = [*args["remote_node_cidrs"], *args.get("remote_pod_cidrs", [])]

        # EKS user guide, "Prepare networking for hybrid nodes" (VPC and subnet setup): the VPC attaches to
        # the gateway of the hybrid link, here a virtual private gateway for either VPN or Direct Connect.
        vgw = aws.ec2.VpnGateway(f"{name}-vgw", vpc_id=args["vpc_id"], tags={**self._tags, "Name": name}, opts=child)
        self._link(vgw, args, remote, child)
        # Same page, step 5: a route per on-premises node and pod network to the gateway, in the route
        # tables of the subnets the cluster (its ENIs) and the cloud nodes use.
        for zone, table in sorted(args["route_tables"].items()):
            for cidr in remote:
                aws.ec2.Route(
                    f"{name}-{zone}-{cidr_slug(cidr)}",
                    route_table_id=table,
                    destination_cidr_block=cidr,
                    gateway_id=vgw.id,
                    opts=child,
                )

        self.role_arn = pulumi.Output.from_input(None)
        self.activation_id = pulumi.Output.from_input(None)
        self.activation_code = pulumi.Output.from_input(None)
        self.trust_anchor_arn = pulumi.Output.from_input(None)
        self.profile_arn = pulumi.Output.from_input(None)
        cluster_name = args.get("cluster_name")
        credentials = args.get("credentials")
        if cluster_name is not None and credentials is not None:
            self._eks(args, cluster_name, credentials, child)

        self.vpn_gateway_id = vgw.id
        self.register_outputs(
            {
                "vpn_gateway_id": self.vpn_gateway_id,
                "role_arn": self.role_arn,
                "activation_id": self.activation_id,
                "trust_anchor_arn": self.trust_anchor_arn,
                "profile_arn": self.profile_arn,
            }
        )

    def _link(
        self, vgw: aws.ec2.VpnGateway, args: HybridNodesArgs, remote: list[str], child: pulumi.ResourceOptions
    ) -> None:
        name, tags, link = self._name, self._tags, args["link"]
        if link["kind"] == "vpn":
            # Site-to-Site VPN user guide, "Get started with AWS Site-to-Site VPN": a customer gateway for
            # the device (its public IP and BGP ASN, type ipsec.1) and a VPN connection to the virtual
            # private gateway; with static routing one route per on-premises network.
            cgw = aws.ec2.CustomerGateway(
                f"{name}-cgw",
                ip_address=link["customer_gateway_ip"],
                bgp_asn=str(link["bgp_asn"]),
                type="ipsec.1",
                tags={**tags, "Name": name},
                opts=child,
            )
            static = bool(link.get("static_routes", False))
            vpn = aws.ec2.VpnConnection(
                f"{name}-vpn",
                vpn_gateway_id=vgw.id,
                customer_gateway_id=cgw.id,
                type="ipsec.1",
                static_routes_only=static,
                tags={**tags, "Name": name},
                opts=child,
            )
            if static:
                for cidr in remote:
                    aws.ec2.VpnConnectionRoute(
                        f"{name}-vpn-{cidr_slug(cidr)}",
                        vpn_connection_id=vpn.id,
                        destination_cidr_block=cidr,
                        opts=child,
                    )
            return
        # Direct Connect user guide, "Virtual private gateway associations": the Direct Connect gateway
        # is associated with the VPC's virtual private gateway; the allowed prefixes are the VPC blocks
        # advertised on-premises.
        aws.directconnect.GatewayAssociation(
            f"{name}-dx",
            dx_gateway_id=link["direct_connect_gateway_id"],
            associated_gateway_id=vgw.id,
            allowed_prefixes=list(link.get("allowed_prefixes") or [args["vpc_cidr"]]),
            opts=child,
        )

    def _eks(
        self,
        args: HybridNodesArgs,
        cluster_name: pulumi.Input[str],
        credentials: dict[str, Any],
        child: pulumi.ResourceOptions,
    ) -> None:
        name, tags, partition, region = self._name, self._tags, self._partition, self._region
        account = aws.get_caller_identity_output().account_id
        anchor: aws.rolesanywhere.TrustAnchor | None = None
        if credentials["kind"] == "ssm":
            # EKS user guide, "Prepare credentials for hybrid nodes": SSM assumes the role for the managed
            # instances of this account's activations in this region (aws:SourceAccount, aws:SourceArn).
            assume = account.apply(
                lambda a: trust_policy("ssm", partition, source_conditions(a, f"arn:{partition}:ssm:{region}:{a}:*"))
            )
        else:
            pca = credentials.get("acm_pca_arn")
            # IAM Roles Anywhere API reference, CreateTrustAnchor: the source is an AWS Private CA or a
            # PEM certificate bundle.
            anchor = aws.rolesanywhere.TrustAnchor(
                f"{name}-anchor",
                name=f"{name}-hybrid-nodes",
                enabled=True,
                source=aws.rolesanywhere.TrustAnchorSourceArgs(
                    source_type="AWS_ACM_PCA" if pca else "CERTIFICATE_BUNDLE",
                    source_data=aws.rolesanywhere.TrustAnchorSourceSourceDataArgs(
                        acm_pca_arn=pca, x509_certificate_data=credentials.get("ca_certificate")
                    ),
                ),
                tags=tags,
                opts=child,
            )
            assume = pulumi.Output.all(account, anchor.arn).apply(lambda v: roles_anywhere_trust(partition, v[0], v[1]))
        role = aws.iam.Role(f"{name}-node", assume_role_policy=assume, tags=tags, opts=child)
        # Same page, "Hybrid Nodes IAM Role": image pulls from ECR, SSM's managed-instance permissions
        # (SSM only), DescribeCluster for nodeadm, and deregistering this cluster's managed instances.
        managed = ["AmazonEC2ContainerRegistryPullOnly"]
        if credentials["kind"] == "ssm":
            managed.append("AmazonSSMManagedInstanceCore")
        for policy in managed:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=role.name, policy_arn=managed_policy_arn(partition, policy), opts=child
            )
        cluster_arn = pulumi.Output.all(account, cluster_name).apply(
            lambda v: f"arn:{partition}:eks:{region}:{v[0]}:cluster/{v[1]}"
        )
        aws.iam.RolePolicy(
            f"{name}-node",
            role=role.id,
            policy=pulumi.Output.all(account, cluster_arn).apply(
                lambda v: json.dumps(node_policy(partition, region, v[0], v[1], credentials["kind"] == "ssm"))
            ),
            opts=child,
        )
        if anchor is not None:
            # Same page, "Setup IAM Roles Anywhere": the profile accepts a custom role session name, which
            # nodeadm sets to the node name (the certificate's CN).
            profile = aws.rolesanywhere.Profile(
                f"{name}-profile",
                name=f"{name}-hybrid-nodes",
                enabled=True,
                role_arns=[role.arn],
                accept_role_session_name=True,
                tags=tags,
                opts=child,
            )
            self.trust_anchor_arn = anchor.arn
            self.profile_arn = profile.arn
        else:
            days = int(credentials.get("expiry_days", 30))
            expires = (plan_time() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
            # Systems Manager user guide, "Create a hybrid activation": one activation per cluster, tagged
            # with the cluster ARN (the node policy's deregistration condition). The expiry is set at
            # creation and then left alone: a new date on every run would replace the activation.
            activation = aws.ssm.Activation(
                f"{name}-activation",
                name=f"{name}-hybrid-nodes",
                description="EKS hybrid nodes of the factory's data hall",
                iam_role=role.name,
                registration_limit=int(credentials.get("registration_limit") or args.get("servers", 1)),
                expiration_date=expires,
                tags=cluster_arn.apply(lambda arn: {**tags, "EKSClusterARN": arn}),
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["expirationDate"]),
            )
            self.activation_id = activation.id
            self.activation_code = pulumi.Output.secret(activation.activation_code)
        # EKS user guide, "Prepare cluster access for hybrid nodes": a HYBRID_LINUX access entry for the role.
        aws.eks.AccessEntry(
            f"{name}-node",
            cluster_name=cluster_name,
            principal_arn=role.arn,
            type=HYBRID_ACCESS_ENTRY_TYPE,
            tags=tags,
            opts=child,
        )
        self.role_arn = role.arn
        self._cluster_rules(args, child)

    def _cluster_rules(self, args: HybridNodesArgs, child: pulumi.ResourceOptions) -> None:
        """EKS user guide, "Prepare networking for hybrid nodes" (Cluster security group configuration)."""
        group = args.get("cluster_security_group_id")
        if group is None:
            return
        name, tags = self._name, self._tags
        nodes, pods = args["remote_node_cidrs"], args.get("remote_pod_cidrs", [])
        rules: list[tuple[str, str, str, int, int, str, str]] = []
        for cidr in nodes:
            rules.append(("in", cidr, "tcp", API_PORT, API_PORT, "api-nodes", "kubelet to the Kubernetes API"))
            rules.append(("out", cidr, "tcp", KUBELET_PORT, KUBELET_PORT, "kubelet", "Kubernetes API to kubelet"))
        for cidr in pods:
            rules.append(("in", cidr, "tcp", API_PORT, API_PORT, "api-pods", "pods (no NAT) to the Kubernetes API"))
            # Webhooks listen on ports of their own choosing.
            rules.append(("out", cidr, "tcp", 1, 65535, "webhooks", "Kubernetes API to webhooks on hybrid nodes"))
            # Same page, on-premises table: pods reach CoreDNS, which runs on the cloud system nodes.
            for protocol in ("tcp", "udp"):
                rules.append(("in", cidr, protocol, DNS_PORT, DNS_PORT, f"dns-{protocol}", "pods to CoreDNS"))
        for direction, cidr, protocol, low, high, rule, description in rules:
            resource = aws.vpc.SecurityGroupIngressRule if direction == "in" else aws.vpc.SecurityGroupEgressRule
            resource(
                f"{name}-{rule}-{cidr_slug(cidr)}",
                security_group_id=group,
                cidr_ipv4=cidr,
                ip_protocol=protocol,
                from_port=low,
                to_port=high,
                description=f"{description} (hybrid nodes)",
                tags=tags,
                opts=child,
            )


def node_policy(partition: str, region: str, account: str, cluster_arn: str, ssm: bool) -> dict[str, Any]:
    """The hybrid node role's own permissions (EKS user guide, "Prepare credentials for hybrid nodes"):
    DescribeCluster of this cluster for nodeadm; with SSM, describing managed instances and deregistering
    only those of this cluster's activation (its EKSClusterARN tag), for `nodeadm uninstall`."""
    statements: list[dict[str, Any]] = [{"Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": cluster_arn}]
    if ssm:
        statements += [
            {"Effect": "Allow", "Action": "ssm:DescribeInstanceInformation", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "ssm:DeregisterManagedInstance",
                "Resource": f"arn:{partition}:ssm:{region}:{account}:managed-instance/*",
                "Condition": {"StringEquals": {"ssm:resourceTag/EKSClusterARN": cluster_arn}},
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def roles_anywhere_trust(partition: str, account: str, anchor_arn: str) -> str:
    """IAM Roles Anywhere may assume the role only for this trust anchor (aws:SourceArn, aws:SourceAccount)
    and only with the certificate's CN as the session name, which nodeadm sets to the node name (EKS user
    guide, "Prepare credentials for hybrid nodes"). Tagging and source identity come without a session
    name in the request, so they are a statement of their own."""
    conditions = source_conditions(account, anchor_arn)
    session = trust_policy(
        "rolesanywhere",
        partition,
        {
            **conditions,
            "StringEquals": {**conditions["StringEquals"], "sts:RoleSessionName": "${aws:PrincipalTag/x509Subject/CN}"},
        },
        ["sts:AssumeRole"],
    )
    tagging = trust_policy("rolesanywhere", partition, conditions, ["sts:TagSession", "sts:SetSourceIdentity"])
    policy = json.loads(tagging)
    policy["Statement"] += json.loads(session)["Statement"]
    return json.dumps(policy)
