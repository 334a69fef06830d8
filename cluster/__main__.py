"""Cluster-configuration program: `pulumi up -C cluster -s <stack>` runs this file from inside the VPC."""

from aifactory.program import main_cluster

main_cluster()
