"""`aifactory:observability`: where the factory's metrics go, which alerts fire and at what thresholds.

Opt-in: without the key the factory has no metrics backend. The cross-field rules (EKS only, the
sovereign backend) are `observability_rules.py`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .base import SpecModel, unit
from .numbers import Count
from .syntax import EmailAddress

Backend = Literal["in-cluster", "managed"]
"""`in-cluster`: kube-prometheus-stack on the system nodes. `managed`: an Amazon Managed Service for
Prometheus workspace, its managed collector (scraper) and kube-state-metrics on the system nodes."""

SOVEREIGN_BACKEND: Backend = "in-cluster"
"""A sovereign factory keeps its metrics in the cluster: no regional service outside the VPC holds them."""
COMMERCIAL_BACKEND: Backend = "managed"

# Prometheus `--storage.tsdb.retention.time` takes a duration; a year bounds the in-cluster volume.
# Amazon Managed Service for Prometheus user guide, "Ingest metrics to your workspace": metrics are kept
# 150 days by default and at most 1095 days (three years), set by the workspace configuration
# (UpdateWorkspaceConfiguration `retentionPeriodInDays`).
RETENTION_DAYS: dict[Backend, tuple[int, int]] = {"in-cluster": (15, 365), "managed": (150, 1095)}
"""Per backend: (default, maximum) days of metrics kept."""


class IdleGpuAlert(SpecModel):
    """When reserved accelerators count as idle: below `utilizationPercent` for `minutes`."""

    utilization_percent: Count = Field(
        default=10,
        le=100,
        json_schema_extra=unit("%"),
        description="Fleet-average graphics-engine activity (`DCGM_FI_PROF_GR_ENGINE_ACTIVE`, 1-100 %) below "
        "which a reserved fleet (capacity reservation or capacity block) counts as idle.",
    )
    minutes: Count = Field(
        default=30,
        le=24 * 60,
        json_schema_extra=unit("min"),
        description="Minutes the reserved fleet stays below the threshold before the alert fires (at most a day).",
    )


class ObservabilitySpec(SpecModel):
    """The metrics backend, its recording and alert rules, the Grafana dashboard."""

    backend: Backend | None = Field(
        default=None,
        description="Default: `managed` in a commercial stack, `in-cluster` in a sovereign one. "
        "`managed`: an Amazon Managed Service for Prometheus workspace fed by its managed collector (a scraper "
        "in the cluster's private subnets that reads the DCGM exporter and kube-state-metrics), the factory's "
        "recording and alert rules as the workspace's rule groups; Kueue's metrics stay unscraped (its "
        "authenticated HTTPS endpoint is out of the collector's reach), so the queue rules record nothing. "
        "`in-cluster`: kube-prometheus-stack (Prometheus, Alertmanager, Grafana) on the system "
        "nodes, scraping the DCGM exporter, Kueue and kube-state-metrics through ServiceMonitors; every image "
        "from the registry mirror in a sovereign stack. Alerts stay in Alertmanager and Grafana: a no-egress "
        "factory reaches no mail or paging service.",
    )
    idle_gpu: IdleGpuAlert = Field(default=IdleGpuAlert(), description="The idle reserved GPU alert.")
    retention_days: Count | None = Field(
        default=None,
        examples=[30],
        json_schema_extra=unit("days"),
        description="Days of metrics kept. Default and maximum per backend: `in-cluster` 15 and 365 (the "
        "Prometheus server's retention, which also stops at 16 GiB of blocks on its 20 GiB emptyDir), `managed` "
        "150 and 1095 (the workspace's retention period, AMP's default and limit).",
    )
    alert_emails: list[EmailAddress] = Field(
        default_factory=list,
        examples=[["gpu-oncall@example.com"]],
        description="`managed` only. Mailboxes subscribed to the factory's alert topic: the workspace's alert "
        "manager sends every firing alert to an Amazon SNS topic (stack output `alertTopicArn`, to which other "
        "subscribers such as a chat or paging integration can be added), and each address gets a subscription "
        "that SNS asks its owner to confirm. Empty: the topic has no subscriber until one is added.",
    )

    @field_validator("alert_emails")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        # SNS returns the existing subscription for a repeated endpoint (API reference, Subscribe), so two
        # entries would be two resources for one subscription, and deleting either would end both.
        folded = [v.lower() for v in values]
        if len(set(folded)) != len(folded):
            raise ValueError("an address is listed twice (addresses compare without case); list each once")
        return values


def resolved_backend(spec: ObservabilitySpec, sovereign: bool) -> Backend:
    """The backend a stack gets: the configured one, else the profile's default."""
    if spec.backend is not None:
        return spec.backend
    return SOVEREIGN_BACKEND if sovereign else COMMERCIAL_BACKEND


def resolved_retention_days(spec: ObservabilitySpec, backend: Backend) -> int:
    """The days of metrics kept: the configured value, else the backend's default."""
    return spec.retention_days if spec.retention_days is not None else RETENTION_DAYS[backend][0]
