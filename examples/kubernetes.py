"""`KubernetesScheduler` and `KubernetesNodeGroups` on their own: an EKS cluster with Kueue queues over
one GPU fleet's launch template, then its managed node group."""

import pulumi
from aifactory import GpuFleet, KubernetesNodeGroups, KubernetesScheduler


def main() -> None:
    subnets = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    cluster = KubernetesScheduler(
        "k8s",
        {
            "version": "1.35",
            "region": "us-east-1",
            "subnet_ids": subnets,
            "endpoint": "public",
            "public_access_cidrs": ["203.0.113.0/24"],
            "queues": [{"name": "research", "namespace": "team-research", "gpu_quota": 16}],
            "node_groups": [
                {
                    "name": "train-d0",
                    "fleet": "train",
                    "instance_type": "p5.48xlarge",
                    "nodes": 2,
                    "subnet_id": subnets[0],
                }
            ],
        },
    )
    fleet = GpuFleet(
        "train",
        {
            "instance_type": "p5.48xlarge",
            "subnet_id": subnets[0],
            "security_group_ids": ["sg-0123456789abcdef0"],
            "scheduler": "kubernetes",
            "kubernetes_version": "1.35",
            "ami_id": "ami-0123456789abcdef0",  # the EKS-optimized AL2023 NVIDIA AMI of 1.35, pinned
            "domains": [{"name": "train-d0", "nodes": 2, "placement": "cluster", "placement_group": "train-cluster"}],
        },
    )
    groups = KubernetesNodeGroups(
        "k8s-nodes",
        {
            "cluster_name": cluster.cluster_name,
            "resource_prefix": "k8s",
            "region": "us-east-1",
            "groups": [
                {
                    "name": "train-d0",
                    "fleet": "train",
                    "instance_type": "p5.48xlarge",
                    "nodes": 2,
                    "subnet_id": subnets[0],
                    "launch_template_id": fleet.launch_template_ids.apply(lambda ids: ids["train-d0"]),
                    "launch_template_version": fleet.launch_template_versions.apply(lambda v: v["train-d0"]),
                    "node_role_arn": fleet.instance_role_arn,
                }
            ],
        },
    )
    pulumi.export("cluster", cluster.cluster_name)
    pulumi.export("node_groups", groups.node_group_names)
