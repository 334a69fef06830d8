"""commercial-us under the mocks: the managed metrics backend's AWS resources, their inputs, and the cluster side
(kube-state-metrics, the scraper's RBAC; no kube-prometheus-stack, no ServiceMonitor)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from aifactory.cli.engine import PlannedResource
from aifactory.cli.planrun import PlanResult, plan_stack
from aifactory.schedulers.observability_managed import (
    RULES_NAMESPACE,
    SCRAPER_ROLE,
    SCRAPER_USER,
    scrape_configuration,
)
from aifactory.schedulers.observability_stack import KPS_RELEASE, KUEUE_RELEASE

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
