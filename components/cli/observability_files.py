"""What `aifactory render` writes for `aifactory:observability`, and how a line's README reads its metrics."""

from __future__ import annotations

from ..planning.factory_plan import FactoryPlan
from ..planning.observability_plan import ObservabilityPlan
from ..schedulers.observability_managed import REPEAT_INTERVAL, RULES_NAMESPACE
from ..schedulers.observability_rules import (
    GOODPUT_WINDOW,
    GPU_LINE,
    LINE_GOODPUT,
    LINE_LOST_SECONDS,
    LINE_RESTARTS,
    LINE_RUN_SECONDS,
    QUOTA_USED,
)
from ..schedulers.observability_stack import (
    GRAFANA_SERVICE,
    KPS_RELEASE,
    MONITORING_NAMESPACE,
    PROMETHEUS_RETENTION_SIZE,
)

PROMETHEUS_SERVICE = f"{KPS_RELEASE}-prometheus"
PORT_FORWARD = f"kubectl -n {MONITORING_NAMESPACE} port-forward svc/{PROMETHEUS_SERVICE} 9090:9090 &"


def _query(expr: str) -> str:
    return f"curl -s http://localhost:9090/api/v1/query --data-urlencode 'query={expr}'"


def observability_files(plan: FactoryPlan) -> dict[str, str]:
    """The rule file (what `promtool check rules` reads), the dashboard JSON and a README."""
    observability = plan.observability
    if observability is None:
        return {}
    return {
        "observability/rules.yaml": observability.rule_file(),
        "observability/dashboard.json": observability.dashboard_json(),
        "observability/README.md": observability_readme(observability),
    }


def _managed_sections(observability: ObservabilityPlan, reserved: str, alerts: str) -> list[str]:
    """The managed backend: where the metrics are, what is not scraped, how to query and chart them, where
    alerts go."""
    mailed = ", ".join(f"`{a}`" for a in observability.alert_emails)
    delivery = (
        f"The workspace's alert manager sends every alert, and its resolution, to the SNS topic `alertTopicArn` "
        f"(a stack output), grouped by alert and fleet or node, repeated every {REPEAT_INTERVAL} while it fires. "
        + (
            f"Subscribed: {mailed}; SNS mails each address a confirmation link, and nothing arrives until it is "
            "followed; `pulumi destroy` cannot remove a subscription nobody confirmed (it leaves the stack's state "
            "but not AWS: the Terraform AWS provider's note on email subscriptions)."
            if mailed
            else "No address is subscribed (`alertEmails`): add one, or subscribe a chat or paging integration "
            "to the topic."
        )
    )
    return [
        "Backend: `managed` (an Amazon Managed Service for Prometheus workspace fed by its managed collector, "
        "which scrapes the DCGM exporter and kube-state-metrics), keeping "
        f"{observability.retention_days} days of metrics. `rules.yaml` is the workspace's rule groups "
        f"namespace `{RULES_NAMESPACE}`. Reserved fleets the idle alert watches: " + reserved + ".",
        "",
        "Kueue's metrics are not scraped (its HTTPS endpoint needs authentication the collector cannot give), "
        f"so `{QUOTA_USED}` and the other `aifactory-queues` rules record nothing here.",
        "",
        "## Alerts",
        "",
        alerts,
        "",
        delivery,
        "",
        "## Dashboard",
        "",
        "No Grafana runs with this backend. Import `dashboard.json` into your team's Grafana with an Amazon "
        "Managed Service for Prometheus data source (SigV4, the region of the stack) whose URL is the "
        "workspace's query endpoint, the stack output `metricsQueryEndpoint` (`<endpoint>api/v1/query`).",
        "",
    ]


def observability_readme(observability: ObservabilityPlan) -> str:
    reserved = ", ".join(f"`{f}`" for f in observability.reserved_fleets) or "none"
    alerts = "\n".join(f"- `{a}`" for a in observability.alerts())
    goodput = [
        "## Goodput",
        "",
        f"Per line over the last {GOODPUT_WINDOW}: `run` is the seconds any training pod of the line was "
        "Running, `lost` the JobSet restarts in the window times the line's checkpoint interval (the work "
        "since the last checkpoint, at most one interval), goodput = max(run - lost, 0) / run "
        f"(`{LINE_RUN_SECONDS}`, `{LINE_LOST_SECONDS}`, `{LINE_GOODPUT}`).",
        "",
    ]
    if observability.backend == "managed":
        return "\n".join(
            ["# Metrics, rules and alerts", "", *_managed_sections(observability, reserved, alerts), *goodput]
        )
    return "\n".join(
        [
            "# Metrics, rules and alerts",
            "",
            f"Backend: `{observability.backend}` (kube-prometheus-stack in namespace `{MONITORING_NAMESPACE}`), "
            f"{observability.retention_days} days of metrics (or {PROMETHEUS_RETENTION_SIZE}, whichever is reached "
            "first) on the pod's bounded emptyDir, kept while the Prometheus pod lives. "
            "`rules.yaml` is the factory's PrometheusRule; `dashboard.json` the Grafana dashboard the "
            "sidecar loads. Reserved fleets the idle alert watches: " + reserved + ".",
            "",
            "## Alerts",
            "",
            alerts,
            "",
            "Alerts stay in Alertmanager and Grafana (no receiver leaves the cluster).",
            "",
            *goodput,
            "## Open Prometheus and Grafana",
            "",
            "```sh",
            PORT_FORWARD,
            f"kubectl -n {MONITORING_NAMESPACE} port-forward svc/{GRAFANA_SERVICE} 3000:80 &",
            f"kubectl -n {MONITORING_NAMESPACE} get secret {GRAFANA_SERVICE} -o jsonpath='{{.data.admin-password}}' "
            "| base64 -d",
            "```",
            "",
        ]
    )


def line_metrics_section(line: str, queue: str, observability: ObservabilityPlan | None) -> list[str]:
    """The README section that reads a line's metrics from the factory's recording rules."""
    if observability is None:
        return [
            "## Metrics",
            "",
            "The factory has no metrics backend: set `aifactory:observability` to record GPU utilization, "
            "quota use and goodput per line.",
            "",
        ]
    queries = [
        f'{GPU_LINE}{{line="{line}"}}',
        f'{LINE_GOODPUT}{{line="{line}"}}',
        f'{LINE_RESTARTS}{{line="{line}"}}',
        f'{QUOTA_USED}{{cluster_queue="{queue}"}}',
    ]
    if observability.backend == "managed":
        return [
            "## Metrics (the factory's recording rules, `observability/rules.yaml`)",
            "",
            "Query the workspace (stack output `metricsQueryEndpoint`, `api/v1/query`, SigV4 service `aps`) "
            "or the imported dashboard; the quota series stays empty with the managed backend "
            "(`observability/README.md`):",
            "",
            "```promql",
            *queries,
            "```",
            "",
        ]
    return [
        "## Metrics (the factory's recording rules, `observability/rules.yaml`)",
        "",
        "```sh",
        PORT_FORWARD,
        _query(f'{GPU_LINE}{{line="{line}"}}'),
        _query(f'{LINE_GOODPUT}{{line="{line}"}}'),
        _query(f'{LINE_RESTARTS}{{line="{line}"}}'),
        _query(f'{QUOTA_USED}{{cluster_queue="{queue}"}}'),
        "```",
        "",
    ]
