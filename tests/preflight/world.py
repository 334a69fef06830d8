"""A small planned factory as `aifactory plan --json` lists it, built rule by rule so a test can take
one rule away and see the preflight name the flow it breaks."""

from __future__ import annotations

import base64
import json
from typing import Any

REGION, PARTITION, ACCOUNT = "eu-north-1", "aws", "123456789012"
MIRROR = "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1111-2222"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ASG_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


def res(
    typ: str, name: str, rid: str | None = None, outputs: dict[str, Any] | None = None, **inputs: Any
) -> dict[str, Any]:
    return {
        "type": typ,
        "name": name,
        "urn": f"urn:{name}",
        "id": rid or name,
        "inputs": inputs,
        "outputs": outputs or {},
    }


def ingress(
    name: str, group: str, protocol: str = "-1", ports: tuple[int, int] | None = None, **peer: str
) -> dict[str, Any]:
    low, high = ports or (None, None)
    return res(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        name,
        securityGroupId=group,
        ipProtocol=protocol,
        fromPort=low,
        toPort=high,
        **peer,
    )


def egress(
    name: str, group: str, protocol: str = "-1", ports: tuple[int, int] | None = None, **peer: str
) -> dict[str, Any]:
    rule = ingress(name, group, protocol, ports, **peer)
    rule["type"] = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
    return rule


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def key_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ROOT_STATEMENT = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
ASG_STATEMENTS = (
    {
        "Effect": "Allow",
        "Principal": {"AWS": ASG_ROLE},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
        "Resource": "*",
    },
    {
        "Effect": "Allow",
        "Principal": {"AWS": ASG_ROLE},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    },
)


def eks_world(node_script: str = "#!/bin/bash\nnodeadm init\n") -> list[dict[str, Any]]:
    """A private EKS factory without egress in which every flow the preflight checks is allowed."""
    vpc_cidr = "10.0.0.0/16"
    r = [
        res("aws:ec2/subnet:Subnet", "a", "subnet-a", cidrBlock="10.0.0.0/18", availabilityZone="eu-north-1a"),
        res("aws:ec2/subnet:Subnet", "b", "subnet-b", cidrBlock="10.0.64.0/18", availabilityZone="eu-north-1b"),
        res("aws:ec2/routeTable:RouteTable", "rt-a", "rtb-a"),
        res("aws:ec2/routeTable:RouteTable", "rt-b", "rtb-b"),
        res("aws:ec2/routeTableAssociation:RouteTableAssociation", "as-a", subnetId="subnet-a", routeTableId="rtb-a"),
        res("aws:ec2/routeTableAssociation:RouteTableAssociation", "as-b", subnetId="subnet-b", routeTableId="rtb-b"),
        res("aws:ec2/securityGroup:SecurityGroup", "efa", "sg-efa"),
        res("aws:ec2/securityGroup:SecurityGroup", "nodes", "sg-nodes"),
        res("aws:ec2/securityGroup:SecurityGroup", "endpoints", "sg-endpoints"),
        res("aws:ec2/securityGroup:SecurityGroup", "fsx", "sg-fsx"),
        ingress("efa-in", "sg-efa", referencedSecurityGroupId="sg-efa"),
        egress("efa-out", "sg-efa", referencedSecurityGroupId="sg-efa"),
        ingress("nodes-in", "sg-nodes", referencedSecurityGroupId="sg-nodes"),
        egress("nodes-out", "sg-nodes", cidrIpv4=vpc_cidr),
        egress("nodes-s3", "sg-nodes", "tcp", (443, 443), prefixListId="pl-s3"),
        ingress("endpoints-in", "sg-endpoints", "tcp", (443, 443), cidrIpv4=vpc_cidr),
        ingress("fsx-in-efa", "sg-fsx", referencedSecurityGroupId="sg-efa"),
        egress("fsx-out-efa", "sg-fsx", referencedSecurityGroupId="sg-efa"),
        ingress("fsx-in-self", "sg-fsx", referencedSecurityGroupId="sg-fsx"),
        egress("fsx-out-self", "sg-fsx", referencedSecurityGroupId="sg-fsx"),
        ingress("efa-in-fsx", "sg-efa", referencedSecurityGroupId="sg-fsx"),
        egress("efa-out-fsx", "sg-efa", referencedSecurityGroupId="sg-fsx"),
        res(
            "aws:ec2/vpcEndpoint:VpcEndpoint",
            "s3",
            "vpce-s3",
            {"prefixListId": "pl-s3"},
            serviceName=f"com.amazonaws.{REGION}.s3",
            vpcEndpointType="Gateway",
            routeTableIds=["rtb-a", "rtb-b"],
        ),
        *[
            res(
                "aws:ec2/vpcEndpoint:VpcEndpoint",
                service,
                f"vpce-{service}",
                serviceName=f"com.amazonaws.{REGION}.{service}",
                vpcEndpointType="Interface",
                privateDnsEnabled=True,
                subnetIds=["subnet-a", "subnet-b"],
                securityGroupIds=["sg-endpoints"],
            )
            for service in ("ecr.api", "ecr.dkr", "sts", "ec2", "eks-auth", "logs", "secretsmanager")
        ],
        res(
            "aws:kms/key:Key", "cmk", "1111-2222", {"arn": KEY_ARN}, policy=key_policy(ROOT_STATEMENT, *ASG_STATEMENTS)
        ),
        res(
            "aws:eks/cluster:Cluster",
            "cluster",
            "factory",
            {"vpcConfig": {"clusterSecurityGroupId": "sg-cluster"}},
            vpcConfig={"subnetIds": ["subnet-a", "subnet-b"], "endpointPrivateAccess": True},
            encryptionConfig={"provider": {"keyArn": KEY_ARN}, "resources": ["secrets"]},
        ),
        res(
            "aws:ec2/launchTemplate:LaunchTemplate",
            "gpu",
            "lt-gpu",
            userData=b64(node_script),
            networkInterfaces=[
                {
                    "networkCardIndex": 0.0,
                    "deviceIndex": 0.0,
                    "interfaceType": "interface",
                    "securityGroups": ["sg-efa", "sg-nodes", "sg-cluster"],
                },
                {
                    "networkCardIndex": 1.0,
                    "deviceIndex": 0.0,
                    "interfaceType": "efa-only",
                    "securityGroups": ["sg-efa", "sg-nodes", "sg-cluster"],
                },
            ],
            blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"kmsKeyId": KEY_ARN, "encrypted": "true"}}],
        ),
        res("aws:ec2/launchTemplate:LaunchTemplate", "system", "lt-system"),
        res(
            "aws:eks/nodeGroup:NodeGroup",
            "train",
            outputs={},
            nodeGroupName="train-d0",
            subnetIds=["subnet-a"],
            launchTemplate={"id": "lt-gpu", "version": "1"},
            labels={"aifactory.io/fleet": "train", "nvidia.com/gpu.present": "true"},
            nodeRoleArn=f"arn:aws:iam::{ACCOUNT}:role/train-node",
        ),
        res(
            "aws:eks/nodeGroup:NodeGroup",
            "system",
            nodeGroupName="system",
            subnetIds=["subnet-a", "subnet-b"],
            launchTemplate={"id": "lt-system", "version": "1"},
            labels={"aifactory.io/node-role": "system"},
        ),
        res("aws:eks/podIdentityAssociation:PodIdentityAssociation", "fsx-csi"),
        res(
            "aws:fsx/lustreFileSystem:LustreFileSystem",
            "fs",
            "fs-1",
            subnetIds="subnet-a",
            securityGroupIds=["sg-fsx"],
            efaEnabled=True,
            kmsKeyId=KEY_ARN,
        ),
    ]
    return r


def without(resources: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    missing = set(names) - {r["name"] for r in resources}
    assert not missing, f"no such resources: {missing}"
    return [r for r in resources if r["name"] not in names]


def replaced(resources: list[dict[str, Any]], name: str, **inputs: Any) -> list[dict[str, Any]]:
    out = []
    for r in resources:
        if r["name"] == name:
            r = {**r, "inputs": {**r["inputs"], **inputs}}
        out.append(r)
    return out
