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
    AMP_SERVICE,
    SCRAPER_ROLE,
    SCRAPER_USER,
    SNS_SUBJECT_MAX,
    access_entry_principal,
    alert_manager_definition,
    alert_topic_policy,
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
needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed")
TOPIC = "arn:aws:sns:us-east-1:123456789012:c-alerts-1a2b3c"
WORKSPACE = "arn:aws:aps:us-east-1:123456789012:workspace/ws-0123456789abcdef0"


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


def _promtool_check_config(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "prometheus.yml").write_text(_for_debian_promtool(config))
    return subprocess.run(
        ["promtool", "check", "config", "--syntax-only", "prometheus.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


@needs_promtool
def test_promtool_accepts_the_scrape_configuration(tmp_path: Path) -> None:
    assert yaml.safe_load(scrape_configuration_yaml()) == scrape_configuration()
    result = _promtool_check_config(scrape_configuration(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_refuses_a_broken_relabel(tmp_path: Path) -> None:
    config = scrape_configuration()
    config["scrape_configs"][0]["relabel_configs"][0]["action"] = "keeep"
    result = _promtool_check_config(config, tmp_path)
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


# --- the alert manager and its topic ----------------------------------------------------------


def _alertmanager_config(definition: str) -> dict[str, Any]:
    document = yaml.safe_load(definition)
    assert set(document) == {"alertmanager_config"}, (
        "AMP's definition file: alertmanager_config (template_files unused)"
    )
    config: dict[str, Any] = yaml.safe_load(document["alertmanager_config"])
    return config


def _amtool(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    return subprocess.run(
        ["amtool", "check-config", "alertmanager.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )


@needs_amtool
def test_amtool_accepts_the_alert_manager_configuration(tmp_path: Path) -> None:
    result = _amtool(_alertmanager_config(alert_manager_definition(TOPIC)), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_amtool
def test_amtool_refuses_a_route_to_a_missing_receiver(tmp_path: Path) -> None:
    config = _alertmanager_config(alert_manager_definition(TOPIC))
    config["route"]["receiver"] = "nobody"
    assert _amtool(config, tmp_path).returncode != 0


def test_every_alert_goes_to_the_topic_as_amp_requires() -> None:
    """AMP user guide, "Configure alert manager to send messages to your Amazon SNS topic": SNS only, sigv4 with
    a region, no api_url and no http_config."""
    config = _alertmanager_config(alert_manager_definition(TOPIC))
    assert "routes" not in config["route"], "one receiver for every alert"
    (receiver,) = config["receivers"]
    assert config["route"]["receiver"] == receiver["name"] and set(receiver) == {"name", "sns_configs"}
    (sns,) = receiver["sns_configs"]
    assert sns["topic_arn"] == TOPIC and sns["sigv4"] == {"region": "us-east-1"}
    assert not {"api_url", "http_config"} & set(sns)
    assert sns["send_resolved"] is True


def test_the_repeat_interval_is_within_amps_five_days() -> None:
    repeat = _alertmanager_config(alert_manager_definition(TOPIC))["route"]["repeat_interval"]
    assert repeat.endswith("h") and int(repeat[:-1]) <= 5 * 24


def test_the_subject_fits_sns_for_the_longest_names() -> None:
    """SNS truncates subjects past 100 ASCII characters: render the template with the longest alert, a 40-character
    fleet name and a long EC2 host name, the way Alertmanager fills `.Status` and `.CommonLabels`."""
    sns = _alertmanager_config(alert_manager_definition(TOPIC))["receivers"][0]["sns_configs"][0]
    longest_alert = max((r["alert"] for g in GROUPS for r in g["rules"] if "alert" in r), key=len)
    node = "ip-100-100-100-100.ap-southeast-5.compute.internal"
    for labels in ({"fleet": "f" * 40}, {"node": node}):
        values = {"alertname": longest_alert, "fleet": "", "node": "", **labels}
        subject = sns["subject"].replace("{{ .Status }}", "resolved")
        for key, value in values.items():
            subject = subject.replace("{{ .CommonLabels." + key + " }}", value)
        assert "{{" not in subject and subject.isascii() and subject.isprintable()
        assert len(subject) <= SNS_SUBJECT_MAX, subject


def test_the_topic_admits_only_this_workspace_of_this_account() -> None:
    (statement,) = alert_topic_policy(TOPIC, WORKSPACE)["Statement"]
    assert statement["Principal"] == {"Service": AMP_SERVICE}
    assert sorted(statement["Action"]) == ["sns:GetTopicAttributes", "sns:Publish"]
    assert statement["Resource"] == TOPIC
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": WORKSPACE},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }


def test_a_workspace_of_another_account_is_refused() -> None:
    with pytest.raises(ValueError, match="different accounts"):
        alert_topic_policy(TOPIC, WORKSPACE.replace("123456789012", "210987654321"))


@pytest.mark.parametrize("arn", ["c-alerts", "arn:aws:sqs:us-east-1:123456789012:q", "arn:aws:sns::123456789012:t"])
def test_a_topic_arn_that_is_not_a_regional_sns_arn_is_refused(arn: str) -> None:
    with pytest.raises(ValueError, match="not a regional sns ARN"):
        alert_manager_definition(arn)


def test_the_topic_policy_passes_parliament() -> None:
    import json
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import parliament

    findings = parliament.analyze_policy_string(json.dumps(alert_topic_policy(TOPIC, WORKSPACE))).findings
    assert [(f.issue, f.detail) for f in findings] == []
