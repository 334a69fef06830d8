"""Pulumi mocks that answer like AWS would: stable ids, partition-aware ARNs, computed outputs."""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi

ACCOUNT_ID = "123456789012"

# type token -> (id prefix, ARN service, ARN resource path prefix); a "" id prefix means the id is the name.
_ID_STYLE: dict[str, tuple[str, str, str]] = {
    "aws:ec2/vpc:Vpc": ("vpc-", "ec2", "vpc/"),
    "aws:ec2/subnet:Subnet": ("subnet-", "ec2", "subnet/"),
    "aws:ec2/securityGroup:SecurityGroup": ("sg-", "ec2", "security-group/"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("lt-", "ec2", "launch-template/"),
    "aws:ec2/placementGroup:PlacementGroup": ("pg-", "ec2", "placement-group/"),
    "aws:ec2/internetGateway:InternetGateway": ("igw-", "ec2", "internet-gateway/"),
    "aws:ec2/natGateway:NatGateway": ("nat-", "ec2", "natgateway/"),
    "aws:ec2/eip:Eip": ("eipalloc-", "ec2", "elastic-ip/"),
    "aws:ec2/routeTable:RouteTable": ("rtb-", "ec2", "route-table/"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("vpce-", "ec2", "vpc-endpoint/"),
    "aws:ec2/flowLog:FlowLog": ("fl-", "ec2", "vpc-flow-log/"),
    "aws:ec2/instance:Instance": ("i-", "ec2", "instance/"),
    "aws:ec2/vpnGateway:VpnGateway": ("vgw-", "ec2", "vpn-gateway/"),
    "aws:ec2/customerGateway:CustomerGateway": ("cgw-", "ec2", "customer-gateway/"),
    "aws:ec2/vpnConnection:VpnConnection": ("vpn-", "ec2", "vpn-connection/"),
    "aws:rolesanywhere/trustAnchor:TrustAnchor": ("", "rolesanywhere", "trust-anchor/"),
    "aws:rolesanywhere/profile:Profile": ("", "rolesanywhere", "profile/"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("sgr-", "ec2", "security-group-rule/"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ("sgr-", "ec2", "security-group-rule/"),
    "aws:fsx/lustreFileSystem:LustreFileSystem": ("fs-", "fsx", "file-system/"),
    "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation": ("dra-", "fsx", "association/"),
    "aws:kms/key:Key": ("", "kms", "key/"),
    "aws:amp/workspace:Workspace": ("ws-", "aps", "workspace/"),
    "aws:amp/scraper:Scraper": ("s-", "aps", "scraper/"),
    "aws:secretsmanager/secret:Secret": ("", "secretsmanager", "secret:"),
}


def _hex(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


class FactoryMocks(pulumi.runtime.Mocks):
    """Mock engine answers for one stack's region and partition."""

    def __init__(
        self,
        region: str,
        partition: str,
        dns_suffix: str = "amazonaws.com",
        stack_outputs: dict[str, dict[str, Any]] | None = None,
    ):
        self.region = region
        self.partition = partition
        self.dns_suffix = dns_suffix
        self.stack_outputs = dict(stack_outputs or {})
        """Outputs of the stacks a program references, by fully qualified stack name."""

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:{ACCOUNT_ID if account else ''}:{resource}"
        )

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        if typ == "pulumi:pulumi:StackReference":  # a read, which the mock runtime does not mark custom
            # What the engine reads from the referenced stack's state: its outputs (the cluster
            # stack's reference gets the infrastructure run's outputs).
            stack = str(inputs.get("name") or name)
            if stack not in self.stack_outputs:
                raise KeyError(f"the program references stack {stack!r}, which this plan did not run")
            return stack, {"name": stack, "outputs": self.stack_outputs[stack], "secretOutputNames": []}
        if not args.custom:
            return None, inputs
        state: dict[str, Any] = dict(inputs)
        style = _ID_STYLE.get(typ)
        if typ == "aws:kms/key:Key":
            key_id = (
                f"{_hex(typ, name, length=8)}-{_hex(name, 'a', length=4)}-{_hex(name, 'b', length=4)}-"
                f"{_hex(name, 'c', length=4)}-{_hex(name, 'd', length=12)}"
            )
            state.update(keyId=key_id, arn=self.arn("kms", f"key/{key_id}"))
            return key_id, state
        if style is not None:
            prefix, service, path = style
            resource_id = f"{prefix}{_hex(typ, name)}" if prefix else f"{name}-{_hex(typ, name, length=6)}"
            state.setdefault("arn", self.arn(service, f"{path}{resource_id}"))
            self._computed(typ, name, resource_id, state)
            return resource_id, state
        resource_id = inputs.get("name") or f"{name}-{_hex(typ, name, length=8)}"
        self._computed(typ, name, str(resource_id), state)
        return str(resource_id), state

    def _computed(self, typ: str, name: str, resource_id: str, state: dict[str, Any]) -> None:
        """Outputs AWS computes that the components read back."""
        if typ == "aws:ec2/launchTemplate:LaunchTemplate":
            state.update(latestVersion=1, defaultVersion=1)
        elif typ == "aws:ec2/vpc:Vpc" and state.get("assignGeneratedIpv6CidrBlock"):
            # An Amazon-provided IPv6 block is a /56 (VPC User Guide, "IPv6 VPC CIDR blocks").
            state.update(ipv6CidrBlock=f"2600:1f18:{_hex(name, 'ipv6', length=4)}:ff00::/56")
        elif typ == "aws:ec2/vpcEndpoint:VpcEndpoint" and state.get("vpcEndpointType") == "Gateway":
            # A gateway endpoint's service has one AWS-managed prefix list per region (pl-<8 hex>),
            # the same for every VPC (EC2 API DescribePrefixLists; VpcEndpoint.prefix_list_id).
            state.update(prefixListId=f"pl-{_hex(self.region, str(state.get('serviceName')), length=8)}")
        elif typ == "aws:fsx/lustreFileSystem:LustreFileSystem":
            state.update(
                dnsName=f"{resource_id}.fsx.{self.region}.{self.dns_suffix}",
                mountName=_hex(name, "mount", length=8),
                networkInterfaceIds=[f"eni-{_hex(name, 'eni')}"],
            )
        elif typ == "aws:iam/role:Role":
            role_name = state.get("name") or resource_id
            state.update(
                name=role_name,
                arn=f"arn:{self.partition}:iam::{ACCOUNT_ID}:role/{role_name}",
                uniqueId=f"AROA{_hex(name, length=17).upper()}",
            )
        elif typ == "aws:sns/topic:Topic":
            # A topic's ARN ends in its name, with no resource type (SNS API reference, CreateTopic).
            topic = state.get("name") or resource_id
            state.update(name=topic, arn=self.arn("sns", topic))
        elif typ == "aws:iam/instanceProfile:InstanceProfile":
            state.update(arn=f"arn:{self.partition}:iam::{ACCOUNT_ID}:instance-profile/{resource_id}")
        elif typ == "aws:iam/policy:Policy":
            state.update(arn=f"arn:{self.partition}:iam::{ACCOUNT_ID}:policy/{resource_id}")
        elif typ == "aws:s3/bucket:Bucket" or typ.startswith("aws:s3/bucketV2"):
            bucket = state.get("bucket") or f"{name}-{_hex(name, length=8)}"
            state.update(
                bucket=bucket,
                arn=f"arn:{self.partition}:s3:::{bucket}",
                bucketRegionalDomainName=f"{bucket}.s3.{self.region}.{self.dns_suffix}",
            )
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            state.update(arn=self.arn("logs", f"log-group:{state.get('name', resource_id)}"))
        elif typ == "aws:eks/cluster:Cluster":
            state.setdefault("name", resource_id)  # the engine's auto-name, as the provider reports it
            state.update(
                arn=self.arn("eks", f"cluster/{resource_id}"),
                endpoint=f"https://{_hex(name, length=32).upper()}.gr7.{self.region}.eks.{self.dns_suffix}",
                certificateAuthority={
                    "data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1PQ0sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
                },
                identities=[
                    {
                        "oidcs": [
                            {
                                "issuer": f"https://oidc.eks.{self.region}.{self.dns_suffix}/id/"
                                f"{_hex(name, length=32).upper()}"
                            }
                        ]
                    }
                ],
                # EKS picks an IPv6 cluster's service range itself, a /108 of fd00::/8 (EKS API reference,
                # KubernetesNetworkConfigResponse.serviceIpv6Cidr).
                kubernetesNetworkConfig={
                    "serviceIpv6Cidr": f"fd{_hex(name, 'svc', length=2)}:1234:5678::/108",
                    "ipFamily": "ipv6",
                }
                if (state.get("kubernetesNetworkConfig") or {}).get("ipFamily") == "ipv6"
                else {"serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": "ipv4"},
                status="ACTIVE",
                vpcConfig={**state.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{_hex(name, 'cluster')}"},
            )
        elif typ == "aws:amp/workspace:Workspace":
            # AMP API reference, WorkspaceDescription.prometheusEndpoint.
            state.update(
                prometheusEndpoint=f"https://aps-workspaces.{self.region}.{self.dns_suffix}/workspaces/{resource_id}/"
            )
        elif typ == "aws:amp/scraper:Scraper":
            # The service-linked role DescribeScraper returns (AMP user guide, "Using an AWS managed collector").
            state.update(
                roleArn=f"arn:{self.partition}:iam::{ACCOUNT_ID}:role/aws-service-role/scraper.aps.amazonaws.com/"
                f"AWSServiceRoleForAmazonPrometheusScraper_{_hex(name, 'role', length=8)}-{_hex(name, 'r', length=4)}"
            )
        elif typ == "aws:eks/nodeGroup:NodeGroup":
            state.update(arn=self.arn("eks", f"nodegroup/{resource_id}"), status="ACTIVE")
        elif typ == "aws:autoscaling/group:Group":
            state.update(
                arn=self.arn(
                    "autoscaling", f"autoScalingGroup:{_hex(name, length=8)}:autoScalingGroupName/{resource_id}"
                )
            )
        elif typ == "aws:ec2/instance:Instance":
            state.update(privateIp="10.0.128.10", privateDns=f"ip-10-0-128-10.{self.region}.compute.internal")
        elif typ == "aws:ec2/placementGroup:PlacementGroup":
            state.setdefault("name", resource_id)
        elif typ == "aws:secretsmanager/secret:Secret":
            state.update(arn=self.arn("secretsmanager", f"secret:{resource_id}"))
        elif typ == "aws:rds/instance:Instance":
            # RDS names an instance without an identifier itself and reports its DNS endpoint.
            identifier = state.get("identifier") or resource_id
            state.update(
                identifier=identifier,
                address=f"{identifier}.{_hex(name, 'rds', length=12)}.{self.region}.rds.{self.dns_suffix}",
                arn=self.arn("rds", f"db:{identifier}"),
            )
            if state.get("manageMasterUserPassword"):
                secret = f"rds!db-{_hex(name, 'secret', length=8)}-{_hex(name, 'id', length=4)}-AbCdEf"
                state["masterUserSecrets"] = [
                    {
                        "secretArn": self.arn("secretsmanager", f"secret:{secret}"),
                        "kmsKeyId": state.get("masterUserSecretKmsKeyId"),
                        "secretStatus": "active",
                    }
                ]

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return self._invoke(args.token, args.args), []

    def _invoke(self, token: str, inputs: dict[str, Any]) -> dict[Any, Any]:
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:{self.partition}:iam::{ACCOUNT_ID}:user/plan",
                "userId": "AIDAPLAN",
                "id": ACCOUNT_ID,
            }
        if token == "aws:index/getPartition:getPartition":
            return {
                "partition": self.partition,
                "dnsSuffix": self.dns_suffix,
                "id": self.partition,
                "reverseDnsPrefix": ".".join(reversed(self.dns_suffix.split("."))),
            }
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}
        return {}
