"""The factory's Grafana dashboard, one panel per recording rule (pure: no Pulumi).

The JSON model is Grafana's dashboard schema (Grafana docs, "JSON model": `panels` with `gridPos`,
`targets` with `expr` against the datasource, `templating.list` query variables); the variables use the
Prometheus datasource's `label_values(<metric>, <label>)` query (Grafana docs, "Prometheus template
variables"). The in-cluster backend loads it through the Grafana sidecar, which reads every ConfigMap
labelled `grafana_dashboard: "1"` (kube-prometheus-stack values.yaml, `grafana.sidecar.dashboards`).
"""

from __future__ import annotations

import json
from typing import Any

from .observability_rules import (
    ADMISSION_WAIT_P90,
    EVICTIONS,
    GPU_FLEET,
    GPU_LINE,
    GPU_NODE,
    LINE_GOODPUT,
    LINE_RESTARTS,
    NODE_FLEET,
    QUOTA_USED,
)

DASHBOARD_UID = "aifactory-production"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
"""kube-prometheus-stack's provisioned Prometheus datasource (`grafana.sidecar.datasources.uid`)."""

# (title, expression, unit, legend) per panel; `$line` and `$fleet` are the dashboard's variables.
PANELS: tuple[tuple[str, str, str, str], ...] = (
    ("GPU utilization per fleet", f'{GPU_FLEET}{{fleet=~"$fleet"}}', "percentunit", "{{fleet}}"),
    (
        "GPU utilization per node",
        f'{GPU_NODE} * on (node) group_left (fleet) {NODE_FLEET}{{fleet=~"$fleet"}}',
        "percentunit",
        "{{node}}",
    ),
    ("GPU utilization per line", f'{GPU_LINE}{{line=~"$line"}}', "percentunit", "{{line}}"),
    ("Goodput per line (last hour)", f'{LINE_GOODPUT}{{line=~"$line"}}', "percentunit", "{{line}}"),
    ("Training restarts per line (last hour)", f'{LINE_RESTARTS}{{line=~"$line"}}', "short", "{{line}}"),
    ("Accelerator quota used per queue", QUOTA_USED, "percentunit", "{{cluster_queue}}"),
    ("Admission wait p90 per queue (last hour)", ADMISSION_WAIT_P90, "s", "{{cluster_queue}}"),
    ("Evictions per queue (last hour)", EVICTIONS, "short", "{{cluster_queue}} {{reason}}"),
)


def _variable(name: str, metric: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": f"label_values({metric}, {name})", "refId": f"{name}-values"},
        "definition": f"label_values({metric}, {name})",
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "refresh": 2,
        "sort": 1,
    }


def _panel(index: int, title: str, expr: str, unit: str, legend: str) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": "A"}],
    }


def dashboard() -> dict[str, Any]:
    """The dashboard's JSON model."""
    return {
        "uid": DASHBOARD_UID,
        "title": "AI factory: production lines",
        "tags": ["aifactory"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [_variable("line", GPU_LINE), _variable("fleet", GPU_FLEET)]},
        "panels": [_panel(i, *panel) for i, panel in enumerate(PANELS)],
    }


def dashboard_json() -> str:
    return json.dumps(dashboard(), indent=2, sort_keys=True) + "\n"
