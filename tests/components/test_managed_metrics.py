"""commercial-us under the mocks: the managed metrics backend's AWS resources, their inputs, and the cluster side
(kube-state-metrics, the scraper's RBAC; no kube-prometheus-stack, no ServiceMonitor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from aifactory.cli.engine import PlannedResource
from aifactory.cli.planrun import PlanResult, plan_stack
from aifactory.planning.factory_plan import plan_from_config
from aifactory.schedulers.observability_managed import (
    RULES_NAMESPACE,
    SCRAPER_ROLE,
    SCRAPER_USER,
    alert_manager_definition,
    alert_topic_policy,
    scrape_configuration,
)
from aifactory.schedulers.observability_stack import KPS_RELEASE, KUEUE_RELEASE

from tests.conftest import PlannedProgram, RunProgram
from tests.stackfiles import base

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.fixture(scope="module")
def commercial() -> PlanResult:
    return plan_stack(str(ROOT / "stacks" / "Pulumi.commercial-us.yaml"))


def _one(result: PlanResult, typ: str) -> PlannedResource:
    (resource,) = [r for r in result.resources if r.type == typ]
    return resource


def _cluster(result: PlanResult) -> PlannedResource:
    return _one(result, "aws:eks/cluster:Cluster")


def test_workspace_and_scraper_of_the_cluster(commercial: PlanResult) -> None:
    workspace = _one(commercial, "aws:amp/workspace:Workspace")
    scraper = _one(commercial, "aws:amp/scraper:Scraper")
    cluster = _cluster(commercial)
    eks = scraper.inputs["source"]["eks"]
    assert eks["clusterArn"] == cluster.outputs["arn"]
    assert eks["securityGroupIds"] == [cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]]
    # The collector needs two subnets in two zones: the cluster's private subnets.
    assert eks["subnetIds"] == cluster.inputs["vpcConfig"]["subnetIds"] and len(eks["subnetIds"]) >= 2
    assert scraper.inputs["destination"]["amp"]["workspaceArn"] == workspace.outputs["arn"]
    assert yaml.safe_load(scraper.inputs["scrapeConfiguration"]) == scrape_configuration()
    assert workspace.inputs["tags"] and scraper.inputs["tags"] == workspace.inputs["tags"]


def test_the_scraper_enters_the_cluster_as_the_rbac_user(commercial: PlanResult) -> None:
    scraper = _one(commercial, "aws:amp/scraper:Scraper")
    entries = [
        r for r in commercial.resources if r.type == "aws:eks/accessEntry:AccessEntry" and r.inputs.get("userName")
    ]
    (entry,) = entries
    assert entry.inputs["userName"] == SCRAPER_USER and entry.inputs["type"] == "STANDARD"
    assert "/aws-service-role/" not in entry.inputs["principalArn"]
    assert entry.inputs["principalArn"].split("/")[-1] == scraper.outputs["roleArn"].split("/")[-1]


def test_the_rule_groups_are_the_plans(commercial: PlanResult) -> None:
    namespace = _one(commercial, "aws:amp/ruleGroupNamespace:RuleGroupNamespace")
    workspace = _one(commercial, "aws:amp/workspace:Workspace")
    assert namespace.inputs["name"] == RULES_NAMESPACE and namespace.inputs["workspaceId"] == workspace.id
    assert commercial.plan.observability is not None
    assert yaml.safe_load(namespace.inputs["data"])["groups"] == list(commercial.plan.observability.groups)


def test_cluster_side_is_kube_state_metrics_and_the_scraper_rbac(commercial: PlanResult) -> None:
    releases = {r.inputs["name"]: r for r in commercial.resources if r.type == RELEASE}
    assert KPS_RELEASE not in releases
    assert releases["kube-state-metrics"].inputs["version"] == "7.1.0"
    # No Prometheus Operator: Kueue's chart must not apply a ServiceMonitor without its CRD.
    assert "enablePrometheus" not in releases[KUEUE_RELEASE].inputs["values"]
    assert not [r for r in commercial.resources if r.type.startswith("kubernetes:monitoring.coreos.com")]
    rbac = [
        r
        for r in commercial.resources
        if r.type.startswith("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
        and SCRAPER_ROLE in (r.inputs["metadata"]["name"], r.inputs.get("roleRef", {}).get("name"))
    ]
    assert len(rbac) == 2
    for resource in rbac:
        assert releases["kube-state-metrics"].urn in resource.dependencies
        kubernetes_validate.validate(resource.inputs, "1.35", strict=True)


def test_the_query_endpoint_is_an_output(commercial: PlanResult) -> None:
    workspace = _one(commercial, "aws:amp/workspace:Workspace")
    assert workspace.outputs["prometheusEndpoint"].endswith(f"/workspaces/{workspace.id}/")
    assert commercial.outputs["metricsQueryEndpoint"] == workspace.outputs["prometheusEndpoint"]


def test_the_preflight_checks_the_scrapers_reach_to_real_targets(commercial: PlanResult) -> None:
    """commercial-us's scraper, its 64 GPU nodes' DCGM exporter and the system nodes' kube-state-metrics are all in
    the flows `reach.metrics-scraper` checks, and every one is allowed (the cluster security group)."""
    from aifactory.preflight.inventory import read_inventory
    from aifactory.preflight.reachability import metrics_scraper

    inventory = read_inventory(
        [r.as_json() for r in commercial.resources], region="us-east-1", partition="aws", account="123456789012"
    )
    (scraper,) = inventory.of_kind("scraper")
    assert scraper.groups and len(scraper.subnets) >= 2
    nodes = inventory.of_kind("eks-node")
    assert any(n.labels.get("nvidia.com/gpu.present") == "true" for n in nodes)
    assert any(n.labels.get("aifactory.io/node-role") == "system" for n in nodes)
    assert list(metrics_scraper(inventory)) == []
    assert not [f for f in commercial.preflight if f["rule"].startswith("reach.")]


# --- retention and alert delivery ---------------------------------------------------------------


def test_the_workspace_keeps_amps_default_retention(commercial: PlanResult) -> None:
    workspace = _one(commercial, "aws:amp/workspace:Workspace")
    configuration = _one(commercial, "aws:amp/workspaceConfiguration:WorkspaceConfiguration")
    assert configuration.inputs["workspaceId"] == workspace.id
    assert configuration.inputs["retentionPeriodInDays"] == 150


def test_alerts_go_to_the_topic_only_this_workspace_may_publish_to(commercial: PlanResult) -> None:
    workspace = _one(commercial, "aws:amp/workspace:Workspace")
    topic = _one(commercial, "aws:sns/topic:Topic")
    policy = _one(commercial, "aws:sns/topicPolicy:TopicPolicy")
    definition = _one(commercial, "aws:amp/alertManagerDefinition:AlertManagerDefinition")
    arn = topic.outputs["arn"]
    assert not topic.inputs.get("fifoTopic"), "the alert manager sends only to Standard topics"
    assert policy.inputs["arn"] == arn
    assert json.loads(policy.inputs["policy"]) == alert_topic_policy(arn, workspace.outputs["arn"])
    assert definition.inputs["workspaceId"] == workspace.id
    assert definition.inputs["definition"] == alert_manager_definition(arn)
    # A definition applied before the policy would have its first alerts refused.
    assert policy.urn in definition.dependencies
    assert commercial.outputs["alertTopicArn"] == arn


def test_commercial_us_mails_its_on_call_address(commercial: PlanResult) -> None:
    topic = _one(commercial, "aws:sns/topic:Topic")
    (subscription,) = [r for r in commercial.resources if r.type == "aws:sns/topicSubscription:TopicSubscription"]
    assert subscription.inputs["protocol"] == "email" and subscription.inputs["topic"] == topic.outputs["arn"]
    assert commercial.plan.observability is not None
    assert [subscription.inputs["endpoint"]] == list(commercial.plan.observability.alert_emails)


def _managed(encryption: dict[str, Any] | None, observability: dict[str, Any]) -> dict[str, Any]:
    config = base()
    config["aifactory:scheduler"] = {
        "kind": "kubernetes",
        "endpoint": "public",
        "publicAccessCidrs": ["203.0.113.0/24"],
    }
    config["aifactory:observability"] = {"backend": "managed", **observability}
    if encryption is not None:
        config["aifactory:encryption"] = encryption
    return config


def _run(run_program: RunProgram, config: dict[str, Any]) -> PlannedProgram:
    from aifactory.factory import AiFactory

    return run_program(lambda: AiFactory("c", {}, plan=plan_from_config(config, "c")), config, stack="c")


def test_the_factory_key_encrypts_the_topic_and_lets_amp_publish(run_program: RunProgram) -> None:
    planned = _run(run_program, _managed({"customerManagedKey": True}, {"retentionDays": 400}))
    [key] = planned.of_type("aws:kms/key:Key")
    [topic] = planned.of_type("aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == key.state["arn"]
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    assert statements["AmpPublishesToEncryptedTopic"]["Principal"] == {"Service": "aps.amazonaws.com"}
    [configuration] = planned.of_type("aws:amp/workspaceConfiguration:WorkspaceConfiguration")
    assert configuration.inputs["retentionPeriodInDays"] == 400


def test_without_a_factory_key_the_topic_is_unencrypted_and_unsubscribed(run_program: RunProgram) -> None:
    """An `alias/aws/sns` topic would refuse AMP (its key policy admits no service principal), so none."""
    planned = _run(run_program, _managed(None, {}))
    [topic] = planned.of_type("aws:sns/topic:Topic")
    assert not topic.inputs.get("kmsMasterKeyId")
    assert not planned.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert not planned.of_type("aws:kms/key:Key")


def test_each_address_is_its_own_subscription(run_program: RunProgram) -> None:
    addresses = ["a@example.com", "b@example.org"]
    planned = _run(run_program, _managed(None, {"alertEmails": addresses}))
    subscriptions = planned.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == addresses
    assert len({s.urn for s in subscriptions}) == 2
