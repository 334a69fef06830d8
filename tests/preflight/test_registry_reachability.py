"""The MLflow registry's flows: the system nodes reach its PostgreSQL database and the AWS services the
server calls (Secrets Manager for the password, S3 for the artifacts); each breaks when its rule goes."""

from __future__ import annotations

from typing import Any

from tests.preflight.test_reachability import findings
from tests.preflight.world import eks_world, ingress, res, without


def registry_world() -> list[dict[str, Any]]:
    return [
        *eks_world(),
        res("aws:ec2/securityGroup:SecurityGroup", "registry-db", "sg-db"),
        ingress("db-from-cluster", "sg-db", "tcp", (5432, 5432), referencedSecurityGroupId="sg-cluster"),
        res("aws:rds/subnetGroup:SubnetGroup", "registry-db", "registry-db", subnetIds=["subnet-a", "subnet-b"]),
        res(
            "aws:rds/instance:Instance",
            "registry",
            engine="postgres",
            vpcSecurityGroupIds=["sg-db"],
            dbSubnetGroupName="registry-db",
        ),
    ]


def test_the_registry_world_passes() -> None:
    assert findings(registry_world(), "reach.model-registry") == []
    assert findings(registry_world(), "reach.aws-services") == []


def test_without_the_ingress_rule_the_database_is_unreachable() -> None:
    found = findings(without(registry_world(), "db-from-cluster"), "reach.model-registry")
    assert found == [
        "node group system → database registry (tcp 5432): blocked: no ingress rule of registry-db admits it"
    ]


def test_a_rule_for_the_fleets_group_does_not_admit_the_system_nodes() -> None:
    world = without(registry_world(), "db-from-cluster")
    world.append(ingress("db-from-nodes", "sg-db", "tcp", (5432, 5432), referencedSecurityGroupId="sg-nodes"))
    assert len(findings(world, "reach.model-registry")) == 1


def test_the_system_nodes_need_the_secrets_manager_endpoint_without_egress() -> None:
    found = findings(without(registry_world(), "secretsmanager"), "reach.aws-services")
    assert found and all(f.startswith("node group system → secretsmanager") for f in found), found


def test_slurm_accounting_is_no_registry_database() -> None:
    world = [*eks_world(), res("aws:rds/instance:Instance", "accounting", engine="mariadb")]
    assert findings(world, "reach.model-registry") == []
    assert findings(without(world, "secretsmanager"), "reach.aws-services") == []
