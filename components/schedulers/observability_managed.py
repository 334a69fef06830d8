"""The managed metrics backend's pure parts: the scraper's configuration, its cluster access, kube-state-metrics
and the workspace's rule groups (no Pulumi).

Amazon Managed Service for Prometheus user guide, "Using an AWS managed collector" (AMP-collector-how-to):
- the scraper reads a Prometheus configuration limited to `global`, `scrape_config`, `static_config`,
  `relabel_config`, `metric_relabel_configs` and `kubernetes_sd_config` (the only service discovery); it
  does not read ServiceMonitors, so the jobs below restate the in-cluster ServiceMonitors' selection and
  relabelling (`observability_stack`);
- no scrape interval below 30 seconds; authorization, if any, only `Bearer` from the scraper's own
  service-account token file;
- in the cluster the scraper is the Kubernetes user `aps-collector-user`, bound to the guide's
  `aps-collector-role`; the EKS access entry names the scraper's role in the form
  `arn:<partition>:iam::<account>:role/AWSServiceRoleForAmazonPrometheusScraper_<id>`, i.e. the `roleArn`
  that DescribeScraper returns without its `aws-service-role/scraper.aps.amazonaws.com/` path.

Kueue serves `/metrics` only over HTTPS with controller-runtime's authentication and authorization filter
(the Kueue chart's `kueue-metrics-reader` ClusterRole, `observability_stack.kueue_metrics_reader_binding`),
with a certificate the scraper has no CA for; the guide allows no TLS settings and no credential but the
scraper's token, which Kueue's filter is not documented to accept. The managed backend therefore does not
scrape Kueue: the `aifactory-queues` rules record nothing there (README, `observability/README.md`).

Alerts leave the workspace through its alert manager, whose only receiver is Amazon SNS, a Standard topic in
the workspace's account, with `sigv4.region` set and no `api_url` or `http_config` (AMP user guide, "Configure
alert manager to send messages to your Amazon SNS topic"); the topic's policy lets `aps.amazonaws.com` publish
for this workspace only (AMP user guide, "Giving Amazon Managed Service for Prometheus permission to send alert
messages to your Amazon SNS topic", with its cross-service confused deputy conditions).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import yaml

from ..spec.scheduler import ChartVersions
from .helm_values import DCGM_NAMESPACE, SYSTEM_NODE_LABEL, HelmRelease
from .kubernetes_manifests import Manifest
from .observability_rules import KSM_LABEL_ALLOWLIST, rule_file
from .observability_stack import KPS_REPOSITORY, KSM_IMAGE, MONITORING_NAMESPACE

SCRAPER_USER = "aps-collector-user"
SCRAPER_ROLE = "aps-collector-role"
SCRAPE_INTERVAL = "30s"
"""The collector's minimum, and the in-cluster ServiceMonitors' interval."""
KSM_RELEASE = "kube-state-metrics"
KSM_PORT_NAME = "http"
KSM_METRICS_PORT = 8080
"""kube-state-metrics chart templates/service.yaml: the metrics port is named `http` (8080, values `service.port`)."""
RULES_NAMESPACE = "aifactory"
SCRAPER_ROLE_PATH = "aws-service-role/scraper.aps.amazonaws.com/"
AMP_SERVICE = "aps.amazonaws.com"
ALERT_RECEIVER = "aifactory-alerts"
ALERT_GROUP_BY = ("alertname", "fleet", "node")
"""The factory's alerts carry `fleet` (idle reserved GPUs) or `node` (failing health checks): one mail per
alert and fleet or node (Alertmanager configuration, `route.group_by`)."""
REPEAT_INTERVAL = "4h"
"""Below the alert manager's five-day ceiling on `repeat_interval` (AMP user guide, "Create an alert manager
configuration")."""
SNS_SUBJECT_MAX = 100
_NO_FOLDING = 4096
"""PyYAML folds long scalars at 80 columns by default; the subject template stays on one line."""
ALERT_SUBJECT = "{{ .Status }}: {{ .CommonLabels.alertname }} {{ .CommonLabels.fleet }}{{ .CommonLabels.node }}"
"""ASCII without control characters; SNS truncates a subject past 100 characters and replaces one that is not
printable ASCII (AMP user guide, "SNS receiver message validation and truncation rules"). Alert names are
identifiers (all start `Aifactory`), fleets at most 40 characters and nodes EC2 host names, so the rendered
subject stays within the limit (an alert carries a fleet or a node, not both)."""


def kube_state_metrics_release(charts: ChartVersions) -> HelmRelease:
    """kube-state-metrics on its own, the version kube-prometheus-stack depends on
    (`ChartVersions.kube_state_metrics`), on the system nodes with the label allowlist the rules join on
    (the chart's values.yaml `metricLabelsAllowlist`, `nodeSelector`)."""
    return HelmRelease(
        KSM_RELEASE,
        MONITORING_NAMESPACE,
        "kube-state-metrics",
        charts.kube_state_metrics,
        KPS_REPOSITORY,
        {
            "fullnameOverride": KSM_RELEASE,
            "nodeSelector": dict(SYSTEM_NODE_LABEL),
            "metricLabelsAllowlist": list(KSM_LABEL_ALLOWLIST),
        },
        {},
        split_images={"image": KSM_IMAGE},
    )


def _endpoints_job(name: str, namespace: str, service: str, port: str, relabel: list[dict[str, Any]]) -> dict[str, Any]:
    """One Service's endpoints, as a ServiceMonitor with `namespaceSelector`, `selector` and `port` selects them."""
    keep = {
        "action": "keep",
        "source_labels": [
            "__meta_kubernetes_namespace",
            "__meta_kubernetes_service_name",
            "__meta_kubernetes_endpoint_port_name",
        ],
        "regex": f"{namespace};{service};{port}",
    }
    return {
        "job_name": name,
        "scrape_interval": SCRAPE_INTERVAL,
        "metrics_path": "/metrics",
        # Like the ServiceMonitors' `honorLabels`: the exporters' own namespace/pod labels (the GPU's pod,
        # the object kube-state-metrics describes) win over the target's.
        "honor_labels": True,
        "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": [namespace]}}],
        "relabel_configs": [keep, *relabel],
    }


def scrape_configuration() -> dict[str, Any]:
    """The scraper's Prometheus configuration: the DCGM exporter (with `node` from the exporter pod's node, as
    `observability_stack.dcgm_service_monitor` relabels) and kube-state-metrics."""
    node = {"action": "replace", "source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"}
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            _endpoints_job("dcgm-exporter", DCGM_NAMESPACE, "dcgm-exporter", "metrics", [node]),
            _endpoints_job("kube-state-metrics", MONITORING_NAMESPACE, KSM_RELEASE, KSM_PORT_NAME, []),
        ],
    }


def scrape_configuration_yaml() -> str:
    return yaml.safe_dump(scrape_configuration(), sort_keys=False)


def scraper_access_objects() -> list[Manifest]:
    """The guide's ClusterRole for the scraper (its rules, without the non-standard `describe` verb) and
    its binding to the scraper's user."""
    read = ["get", "list", "watch"]
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": SCRAPER_ROLE},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": [
                        "nodes",
                        "nodes/proxy",
                        "nodes/metrics",
                        "services",
                        "endpoints",
                        "pods",
                        "ingresses",
                        "configmaps",
                    ],
                    "verbs": read,
                },
                {
                    "apiGroups": ["extensions", "networking.k8s.io"],
                    "resources": ["ingresses/status", "ingresses"],
                    "verbs": read,
                },
                {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
                {
                    "apiGroups": ["metrics.eks.amazonaws.com"],
                    "resources": ["kcm/metrics", "ksh/metrics"],
                    "verbs": ["get"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{SCRAPER_USER}-role-binding"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": SCRAPER_ROLE},
            "subjects": [{"kind": "User", "name": SCRAPER_USER, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    ]


def access_entry_principal(scraper_role_arn: str) -> str:
    """The scraper's role as EKS takes it: the DescribeScraper `roleArn` without its service-role path."""
    return scraper_role_arn.replace(SCRAPER_ROLE_PATH, "", 1)


def rule_group_namespace_data(groups: Sequence[dict[str, Any]]) -> str:
    """The workspace's rule groups namespace: the in-cluster PrometheusRule's groups as a Prometheus rule
    file (AMP user guide, "Creating a rules file": the Prometheus rule-file format)."""
    return rule_file(groups)


def _arn_parts(arn: str, service: str) -> tuple[str, str, str]:
    """(partition, region, account) of an ARN of `service`."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != service or not parts[3] or not parts[4]:
        raise ValueError(f"{arn!r} is not a regional {service} ARN")
    return parts[1], parts[3], parts[4]


def alert_manager_definition(topic_arn: str) -> str:
    """The workspace's alert manager definition: every alert to the factory's topic, in its region, with the
    resolved notice too (AMP user guide, "Create an alert manager configuration": `alertmanager_config` holds an
    Alertmanager configuration as text)."""
    _, region, _ = _arn_parts(topic_arn, "sns")
    config = {
        "route": {
            "receiver": ALERT_RECEIVER,
            "group_by": list(ALERT_GROUP_BY),
            "repeat_interval": REPEAT_INTERVAL,
        },
        "receivers": [
            {
                "name": ALERT_RECEIVER,
                "sns_configs": [
                    {
                        "topic_arn": topic_arn,
                        "sigv4": {"region": region},
                        "subject": ALERT_SUBJECT,
                        "send_resolved": True,
                    }
                ],
            }
        ],
    }
    text = yaml.safe_dump(config, sort_keys=False, width=_NO_FOLDING)
    return "alertmanager_config: |\n" + textwrap.indent(text, "  ")


def alert_topic_policy(topic_arn: str, workspace_arn: str) -> dict[str, Any]:
    """The alert topic's access policy: the guide's statement for AMP, bound to this workspace and account. It
    replaces SNS's default policy; the account's own principals need none (IAM user guide, "Policy evaluation
    logic": within one account an identity-based policy alone allows), so nothing else is granted."""
    _, _, account = _arn_parts(topic_arn, "sns")
    _, _, workspace_account = _arn_parts(workspace_arn, "aps")
    if workspace_account != account:
        # The alert manager routes only to topics in its own account (AMP user guide, "Managing and forwarding
        # alerts"), and aws:SourceAccount must match the account in aws:SourceArn (confused deputy section).
        raise ValueError(f"topic {topic_arn} and workspace {workspace_arn} are in different accounts")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AmpWorkspacePublishesAlerts",
                "Effect": "Allow",
                "Principal": {"Service": AMP_SERVICE},
                "Action": ["sns:Publish", "sns:GetTopicAttributes"],
                "Resource": topic_arn,
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": workspace_arn},
                    "StringEquals": {"aws:SourceAccount": account},
                },
            },
        ],
    }
