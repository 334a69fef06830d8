"""The managed metrics backend's AWS side: the Amazon Managed Service for Prometheus workspace, its scraper of
the EKS cluster, the scraper's access entry and the factory's rule groups in the workspace.

Sources: AMP user guide "Using an AWS managed collector" (AMP-collector-how-to: the scraper's subnets in at
least two Availability Zones, the cluster's security group, private endpoint access, the access entry's
role ARN form), "Recording rules and alerting rules" (rule groups namespaces in Prometheus rule-file format).
The pure parts (scrape configuration, cluster RBAC, rule file) are `observability_managed`.

The workspace is encrypted with AMP's AWS owned key, not the factory key: the factory has not verified that a
managed collector writes into a workspace with a customer managed key without a `role_configuration`, and a
workspace's key cannot be changed after creation (AMP user guide, "Encryption at rest"), so the choice is kept
until it is. Its metrics are utilization counters and object names, no training data.

Alerts leave through the workspace's alert manager to an SNS topic (`observability_managed`), encrypted with the
factory key when the factory has one (the key policy's `AmpPublishesToEncryptedTopic`, `encryption.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..planning.observability_plan import ObservabilityPlan
from .observability_managed import (
    RULES_NAMESPACE,
    SCRAPER_USER,
    access_entry_principal,
    alert_manager_definition,
    alert_topic_policy,
    rule_group_namespace_data,
    scrape_configuration_yaml,
)


@dataclass(frozen=True)
class ManagedMetrics:
    workspace: aws.amp.Workspace
    scraper: aws.amp.Scraper
    query_endpoint: pulumi.Output[str]
    alert_topic: aws.sns.Topic


def managed_metrics(
    name: str,
    observability: ObservabilityPlan,
    cluster: aws.eks.Cluster,
    subnet_ids: pulumi.Input[Sequence[str]],
    tags: dict[str, str],
    parent: pulumi.Resource,
    kms_key_arn: pulumi.Input[str] | None = None,
) -> ManagedMetrics:
    """The workspace with the plan's retention, the scraper in the cluster's private subnets with the cluster
    security group (which every node group carries and which admits all traffic from itself, EKS user guide
    "View Amazon EKS security group requirements for clusters"), its access entry, the rule groups, and the
    alert manager with its topic (`kms_key_arn`: the factory key, which encrypts the topic)."""
    child = pulumi.ResourceOptions(parent=parent)
    workspace = aws.amp.Workspace(f"{name}-metrics", alias=f"{name}-metrics", tags=tags, opts=child)
    aws.amp.WorkspaceConfiguration(
        f"{name}-metrics",
        workspace_id=workspace.id,
        retention_period_in_days=observability.retention_days,
        opts=child,
    )
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
    topic = _alerts(name, observability, workspace, tags, child, kms_key_arn)
    return ManagedMetrics(workspace, scraper, workspace.prometheus_endpoint, topic)


def _alerts(
    name: str,
    observability: ObservabilityPlan,
    workspace: aws.amp.Workspace,
    tags: dict[str, str],
    child: pulumi.ResourceOptions,
    kms_key_arn: pulumi.Input[str] | None,
) -> aws.sns.Topic:
    """The alert topic (Standard, the only kind the alert manager sends to), its policy, a subscription per
    `alertEmails` address, and the alert manager definition that routes every alert to it. Without the
    factory key the topic has no server-side encryption: an AWS managed `alias/aws/sns` key admits no service
    principal, so AMP could not publish (AMP user guide, "Giving Amazon Managed Service for Prometheus
    permission to send alert messages to your Amazon SNS topic", the SSE note)."""
    topic = aws.sns.Topic(f"{name}-alerts", kms_master_key_id=kms_key_arn, tags=tags, opts=child)
    policy = aws.sns.TopicPolicy(
        f"{name}-alerts",
        arn=topic.arn,
        policy=pulumi.Output.all(topic.arn, workspace.arn).apply(
            lambda arns: json.dumps(alert_topic_policy(arns[0], arns[1]))
        ),
        opts=child,
    )
    for address in observability.alert_emails:
        # SNS mails the address a confirmation link; the subscription stays pending until its owner follows
        # it, and an unconfirmed one is not removed on delete (Terraform AWS provider docs,
        # aws_sns_topic_subscription: email is a partially supported protocol).
        aws.sns.TopicSubscription(
            f"{name}-alerts-{address.lower()}", topic=topic.arn, protocol="email", endpoint=address, opts=child
        )
    aws.amp.AlertManagerDefinition(
        f"{name}-metrics-alerts",
        workspace_id=workspace.id,
        definition=topic.arn.apply(alert_manager_definition),
        # Alerts sent before the policy exists would be refused ("No resource based policy error").
        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[policy])),
    )
    return topic
