"""The managed metrics backend's AWS side: the Amazon Managed Service for Prometheus workspace, its scraper of
the EKS cluster, the scraper's access entry and the factory's rule groups in the workspace.

Sources: AMP user guide "Using an AWS managed collector" (AMP-collector-how-to: the scraper's subnets in at
least two Availability Zones, the cluster's security group, private endpoint access, the access entry's
role ARN form), "Recording rules and alerting rules" (rule groups namespaces in Prometheus rule-file format).
The pure parts (scrape configuration, cluster RBAC, rule file) are `observability_managed`.

The workspace is encrypted with AMP's AWS owned key, not the factory key: a workspace with a customer
managed key takes a managed collector only with a cross-account style `role_configuration` (a source and a
target role in the same account, the guide's "Creating scraper for workspaces enabled with customer managed
keys"), which the factory does not build yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..planning.observability_plan import ObservabilityPlan
from .observability_managed import (
    RULES_NAMESPACE,
    SCRAPER_USER,
    access_entry_principal,
    rule_group_namespace_data,
    scrape_configuration_yaml,
)


@dataclass(frozen=True)
class ManagedMetrics:
    workspace: aws.amp.Workspace
    scraper: aws.amp.Scraper
    query_endpoint: pulumi.Output[str]


def managed_metrics(
    name: str,
    observability: ObservabilityPlan,
    cluster: aws.eks.Cluster,
    subnet_ids: pulumi.Input[Sequence[str]],
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> ManagedMetrics:
    """The workspace, the scraper in the cluster's private subnets with the cluster security group (which
    every node group carries and which admits all traffic from itself, EKS user guide "View Amazon EKS
    security group requirements for clusters"), its access entry, and the rule groups."""
    child = pulumi.ResourceOptions(parent=parent)
    workspace = aws.amp.Workspace(f"{name}-metrics", alias=f"{name}-metrics", tags=tags, opts=child)
    scraper = aws.amp.Scraper(
        f"{name}-metrics-scraper",
        alias=f"{name}-metrics",
        source=aws.amp.ScraperSourceArgs(
            eks=aws.amp.ScraperSourceEksArgs(
                cluster_arn=cluster.arn,
                subnet_ids=subnet_ids,
                security_group_ids=[cluster.vpc_config.cluster_security_group_id],
            )
        ),
        destination=aws.amp.ScraperDestinationArgs(amp=aws.amp.ScraperDestinationAmpArgs(workspace_arn=workspace.arn)),
        scrape_configuration=scrape_configuration_yaml(),
        tags=tags,
        opts=child,
    )
    # The cluster runs in `API` authentication mode: the scraper reaches Kubernetes as the user its
    # ClusterRoleBinding names (`observability_managed.scraper_access_objects`), through this entry.
    aws.eks.AccessEntry(
        f"{name}-metrics-scraper",
        cluster_name=cluster.name,
        principal_arn=scraper.role_arn.apply(access_entry_principal),
        type="STANDARD",
        user_name=SCRAPER_USER,
        tags=tags,
        opts=child,
    )
    aws.amp.RuleGroupNamespace(
        f"{name}-metrics-rules",
        name=RULES_NAMESPACE,
        workspace_id=workspace.id,
        data=rule_group_namespace_data(observability.groups),
        tags=tags,
        opts=child,
    )
    return ManagedMetrics(workspace, scraper, workspace.prometheus_endpoint)
