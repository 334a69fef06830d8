"""Logging: log group retention, VPC flow logs, EKS control-plane logs.

Control ids and titles are from the AWS Security Hub user guide, "Security Hub controls reference"
(pages "CloudWatch controls", "Amazon EC2 controls", "Amazon EKS controls"); CIS numbers are the
CIS AWS Foundations Benchmark v3.0.0 recommendations Security Hub maps to those controls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .registry import inventory_policy, policy
from .runner import EKS_CLUSTER, MIN_LOG_RETENTION_DAYS, PolicyConfig, known, strings

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"

# The control-plane log type [EKS.8] requires (parameter `logTypes`, default `audit`); the factory
# enables all five (EKS user guide, "Send control plane logs to CloudWatch Logs").
EKS_AUDIT_LOG_TYPE = "audit"


@policy(
    "log-group-retention",
    fix=(
        "set `retentionInDays` to at least the configured minimum (`minRetentionDays`, default 365), or leave"
        " it out to keep events forever"
    ),
    enforcement="mandatory",
    config_keys=("minRetentionDays",),
    description=(
        "[CloudWatch.16] CloudWatch log groups should be retained for a specified time period: "
        f"at least {MIN_LOG_RETENTION_DAYS} days (or never expire)."
    ),
)
def check_log_retention(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Log groups keep their events at least a year.

    Security Hub [CloudWatch.16] (AWS Config rule cw-loggroup-retention-period-check) fails a group
    kept for less than `minRetentionTime` (default 365 days); a group that never expires passes.
    `retentionInDays` left out or 0 means never expire (CloudWatch Logs API reference,
    PutRetentionPolicy; pulumi-aws cloudwatch/log_group.py).
    """
    if resource_type != LOG_GROUP:
        return []
    days = props.get("retentionInDays")
    if days is None or not known(days) or not isinstance(days, int | float) or days == 0:
        return []
    if days < config.min_log_retention_days:
        return [
            f"retentionInDays is {int(days)}; keep log events at least {config.min_log_retention_days} days "
            "([CloudWatch.16]) so an incident can still be investigated"
        ]
    return []


def _vpc_flow_log(props: Mapping[str, Any]) -> bool:
    """A flow log attached to a VPC (not to one subnet, interface or transit gateway)."""
    return "vpcId" in props and not any(
        k in props for k in ("subnetId", "eniId", "transitGatewayId", "transitGatewayAttachmentId")
    )


@policy(
    "flow-logs-capture-all",
    fix="set the flow log's `trafficType` to `ALL`",
    enforcement="mandatory",
    description=(
        "[EC2.6] VPC flow logs capture ALL traffic, not only rejected traffic: accepted flows are "
        "what an investigation of data leaving the factory needs."
    ),
)
def check_flow_log_traffic(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Flow logs record accepted and rejected traffic.

    [EC2.6] (parameter `trafficType`, default REJECT) and CIS 3.7 accept REJECT-only logs; the
    factory requires ALL, because only accepted flows show where data went. `trafficType` is
    required by EC2 CreateFlowLogs (API reference: TrafficType, one of ACCEPT | REJECT | ALL).
    """
    if resource_type != FLOW_LOG:
        return []
    traffic = props.get("trafficType")
    if not known(traffic) or traffic == "ALL":
        return []
    return [f"trafficType is {traffic!r}; capture ALL traffic (accepted and rejected)"]


@inventory_policy(
    "vpc-flow-logging",
    fix="add an `aws:ec2/flowLog:FlowLog` with the VPC's `vpcId` and `trafficType: ALL`",
    enforcement="mandatory",
    description="[EC2.6] VPC flow logging should be enabled in all VPCs (CIS 3.7): one flow log per VPC.",
)
def check_vpc_flow_logging(resources: Sequence[Mapping[str, Any]], config: PolicyConfig) -> list[tuple[str, str]]:
    """Every VPC the stack creates has a VPC-level flow log.

    A new VPC's id is unknown during a preview, so a flow log cannot be joined to its VPC: the
    stack needs at least as many VPC-level flow logs as VPCs ([EC2.6]; CIS AWS Foundations 3.7,
    "Ensure VPC flow logging is enabled in all VPCs").
    """
    vpcs = [r for r in resources if r.get("type") == VPC]
    logs = [r for r in resources if r.get("type") == FLOW_LOG and _vpc_flow_log(r.get("inputs") or {})]
    if len(logs) >= len(vpcs):
        return []
    return [
        (
            str(vpc.get("urn", "")),
            f"the stack creates {len(vpcs)} VPC(s) and only {len(logs)} VPC flow log(s); "
            "give every VPC an aws.ec2.FlowLog (traffic type ALL)",
        )
        for vpc in vpcs[len(logs) :]
    ]


@policy(
    "eks-audit-logging",
    fix="add `audit` to the cluster's `enabledClusterLogTypes`",
    enforcement="mandatory",
    description="[EKS.8] EKS clusters should have audit logging enabled (control-plane log type 'audit').",
)
def check_eks_audit_logging(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """EKS sends the Kubernetes audit log to CloudWatch Logs.

    [EKS.8] parameter `logTypes` (default `audit`). `enabledClusterLogTypes` left out enables no
    control-plane log (EKS API reference, Logging; pulumi-aws eks/cluster.py).
    """
    if resource_type != EKS_CLUSTER:
        return []
    types = props.get("enabledClusterLogTypes")
    if "enabledClusterLogTypes" in props and not known(types):
        return []
    if EKS_AUDIT_LOG_TYPE in set(strings(types)):
        return []
    if isinstance(types, list) and any(not known(t) for t in types):
        return []
    return [
        f"enabledClusterLogTypes {sorted(set(strings(types)))} lacks '{EKS_AUDIT_LOG_TYPE}'; "
        "the Kubernetes audit log is what shows who changed the cluster"
    ]
