"""The managed metrics backend's pure parts: the scraper's configuration restates the in-cluster ServiceMonitor's
selection and relabelling within what the AMP collector accepts, Prometheus itself parses it, the scraper's RBAC
validates strictly, and the workspace gets the in-cluster rule groups unchanged."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from aifactory.schedulers.helm_values import SYSTEM_NODE_LABEL
from aifactory.schedulers.observability_managed import (
    SCRAPER_ROLE,
    SCRAPER_USER,
    access_entry_principal,
    kube_state_metrics_release,
    rule_group_namespace_data,
    scrape_configuration,
    scrape_configuration_yaml,
    scraper_access_objects,
)
from aifactory.schedulers.observability_rules import KSM_LABEL_ALLOWLIST, LineMetrics, RuleInputs, rule_groups
from aifactory.schedulers.observability_stack import (
    KPS_IMAGES,
    KSM_IMAGE,
    dcgm_service_monitor,
    kube_prometheus_stack_release,
    prometheus_rule,
)
from aifactory.spec.scheduler import ChartVersions

VERSION = "1.35"
GROUPS = rule_groups(RuleInputs([LineMetrics("chat-ft", 30)], ["block"], 10, 30))
# AMP user guide, "Using an AWS managed collector", Scraper configuration: the sections and the one SD it reads.
ALLOWED_JOB_KEYS = {
    "job_name",
    "scrape_interval",
    "scrape_timeout",
    "metrics_path",
    "scheme",
    "honor_labels",
    "static_configs",
    "relabel_configs",
    "metric_relabel_configs",
    "kubernetes_sd_configs",
    "authorization",
}
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")


def _jobs() -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in scrape_configuration()["scrape_configs"]}


def test_the_scraper_reads_the_dcgm_exporter_and_kube_state_metrics_only() -> None:
    # Kueue's metrics are HTTPS with authn/authz the collector cannot meet (module docstring).
    assert set(_jobs()) == {"dcgm-exporter", "kube-state-metrics"}


def test_every_job_stays_within_what_the_collector_accepts() -> None:
    config = scrape_configuration()
    assert set(config) <= {"global", "scrape_configs"}
    for job in config["scrape_configs"]:
        assert set(job) <= ALLOWED_JOB_KEYS
        assert int(job["scrape_interval"].rstrip("s")) >= 30
        assert all(set(sd) <= {"role", "namespaces"} for sd in job["kubernetes_sd_configs"])


def test_dcgm_job_keeps_the_labels_the_rules_join_on_like_the_service_monitor() -> None:
    monitor = dcgm_service_monitor()["spec"]
    endpoint = monitor["endpoints"][0]
    job = _jobs()["dcgm-exporter"]
    assert job["honor_labels"] is endpoint["honorLabels"] is True
    assert job["kubernetes_sd_configs"][0]["namespaces"]["names"] == monitor["namespaceSelector"]["matchNames"]
    keep, node = job["relabel_configs"]
    assert keep["action"] == "keep" and keep["regex"].endswith(f";{endpoint['port']}")
    (relabel,) = endpoint["relabelings"]
    assert node["source_labels"] == relabel["sourceLabels"] and node["target_label"] == relabel["targetLabel"]


def test_kube_state_metrics_keeps_the_objects_namespace_and_pod() -> None:
    assert _jobs()["kube-state-metrics"]["honor_labels"] is True


def _for_debian_promtool(config: dict[str, Any]) -> str:
    """Debian's promtool is built without Kubernetes service discovery ("field kubernetes_sd_configs not found
    in type config.ScrapeConfig"): each job's discovery becomes a static target so that promtool still
    parses everything else (relabelling, intervals, the job's own fields)."""
    jobs = [
        {
            **{k: v for k, v in job.items() if k != "kubernetes_sd_configs"},
            "static_configs": [{"targets": ["10.0.0.1:9400"]}],
        }
        for job in config["scrape_configs"]
    ]
    return yaml.safe_dump({**config, "scrape_configs": jobs})


@needs_promtool
def test_promtool_accepts_the_scrape_configuration(tmp_path: Path) -> None:
    assert yaml.safe_load(scrape_configuration_yaml()) == scrape_configuration()
    (tmp_path / "prometheus.yml").write_text(_for_debian_promtool(scrape_configuration()))
    result = subprocess.run(
        ["promtool", "check", "config", "--syntax-only", "prometheus.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_refuses_a_broken_relabel(tmp_path: Path) -> None:
    config = scrape_configuration()
    config["scrape_configs"][0]["relabel_configs"][0]["action"] = "keeep"
    (tmp_path / "prometheus.yml").write_text(_for_debian_promtool(config))
    result = subprocess.run(
        ["promtool", "check", "config", "--syntax-only", "prometheus.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0


@pytest.mark.parametrize("obj", scraper_access_objects(), ids=lambda o: o["kind"])
def test_scraper_rbac_validates_strictly(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, VERSION, strict=True)


def test_scraper_rbac_is_the_guides() -> None:
    role, binding = scraper_access_objects()
    assert role["metadata"]["name"] == binding["roleRef"]["name"] == SCRAPER_ROLE
    assert binding["subjects"] == [{"kind": "User", "name": SCRAPER_USER, "apiGroup": "rbac.authorization.k8s.io"}]
    assert {"nonResourceURLs": ["/metrics"], "verbs": ["get"]} in role["rules"]


def test_access_entry_takes_the_role_without_its_service_path() -> None:
    described = (
        "arn:aws:iam::111122223333:role/aws-service-role/scraper.aps.amazonaws.com/"
        "AWSServiceRoleForAmazonPrometheusScraper_1234abcd-56ef-7"
    )
    assert access_entry_principal(described) == (
        "arn:aws:iam::111122223333:role/AWSServiceRoleForAmazonPrometheusScraper_1234abcd-56ef-7"
    )


def test_the_workspace_gets_the_in_cluster_rule_groups() -> None:
    data = yaml.safe_load(rule_group_namespace_data(GROUPS))
    assert data["groups"] == prometheus_rule(GROUPS)["spec"]["groups"]


def test_kube_state_metrics_runs_like_the_in_cluster_stacks() -> None:
    charts = ChartVersions()
    release = kube_state_metrics_release(charts)
    in_cluster = kube_prometheus_stack_release(charts, 15).values["kube-state-metrics"]
    assert release.values["metricLabelsAllowlist"] == in_cluster["metricLabelsAllowlist"] == list(KSM_LABEL_ALLOWLIST)
    assert release.values["nodeSelector"] == SYSTEM_NODE_LABEL
    assert release.version == "7.1.0" and release.split_images == {"image": KSM_IMAGE}
    assert KPS_IMAGES["kube-state-metrics.image"] == KSM_IMAGE
