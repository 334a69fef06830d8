"""The human-readable plan."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .planrun import PlanResult


def print_plan(result: PlanResult, tree: bool = False) -> None:
    for line in plan_lines(result, tree):
        print(line)


def plan_lines(result: PlanResult, tree: bool = False) -> list[str]:
    spec, summary = result.spec, result.summary
    lines = [
        f"stack {result.stack}: {spec.profile} factory in {spec.region} ({spec.partition}), egress {spec.egress}",
        "",
        "fleets",
    ]
    # Power figures only where the plan has them (a data hall): EC2 exposes no rack power.
    for f in summary["fleets"]:
        hardware = f.get("hardware") or f["instance_type"]
        power = f"  {f['power_kw']:>9.1f} kW" if "power_kw" in f else ""
        lines.append(
            f"  {f['name']:<16} {f['nodes']:>5} x {hardware:<17} {f['gpus']:>6} {f['accelerator']:<16}"
            f" EFA {f['efa_interfaces_per_node']:>2}/node {f['network_gbps_per_node'] or 0:>5} Gbps"
            f"  {f['capacity']:<20} {','.join(f['placement']):<12} {f['domains']:>3} domain(s)"
            f"{power}  {_usd(f['cost_per_hour_usd'], '/h'):>13}"
        )
        lines.append(f"      price: {_price_line(f)}")
    power = f"IT power {summary['power_kw']:.1f} kW, " if "power_kw" in summary else ""
    lines += [
        "",
        f"total      {summary['nodes']} nodes, {summary['gpus']} accelerators, {power}"
        f"{_usd(summary['cost_per_hour_usd'], '/h')} ({'fleets and storage' if 'storage' in summary else 'fleets'}"
        ", each at its price basis)",
        *(f"  note: {n}" for n in summary["price_notes"]),
    ]
    placement = summary.get("placement") or {}
    lines += _placement_lines(placement)
    hybrid = summary.get("hybrid")
    if hybrid:
        lines += [
            "",
            "hybrid nodes",
            f"  servers          {hybrid['servers']} ({hybrid['hosts']})",
            f"  node networks    {', '.join(hybrid['remote_node_cidrs'])}",
            f"  pod networks     {', '.join(hybrid['remote_pod_cidrs']) or '-'}",
            f"  credentials      {hybrid['credentials'] or '- (Slurm)'}",
            f"  link             {hybrid['link']}",
        ]
    storage = summary.get("storage")
    if storage:
        lines += ["", "storage", *(f"  {k:<28} {v}" for k, v in storage.items())]
    counts = Counter(r.type for r in result.resources if r.custom)
    lines += [
        "",
        f"resources  {sum(counts.values())} cloud resources, {len(result.resources) - sum(counts.values())} components",
    ]
    lines += [f"  {n:>5}  {t}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += _stack_lines(result)
    if tree:
        lines += ["", "resource tree", *_tree_lines(result)]
    if result.plan.warnings:
        lines += ["", "warnings", *(f"  {w.path}: {w.problem}. Fix: {w.fix}" for w in result.plan.warnings)]
    lines += ["", "policy"]
    if not result.violations:
        lines.append("  no violations")
    for v in result.violations:
        lines.append(f"  [{v['level']}] {v['policy']}: {v['urn']}")
        lines.append(f"      {v['message']}")
    lines += ["", "deploy preflight"]
    if not result.preflight:
        lines.append("  every required flow, key use and fetch is allowed")
    for f in result.preflight:
        lines.append(f"  [{f['rule']}] {f['subject']}")
        lines.append(f"      {f['message']}")
    return lines


def _usd(value: float | None, unit: str) -> str:
    return "unknown" if value is None else f"${value:,.2f}{unit}"


def _price_line(row: dict[str, Any]) -> str:
    if row["cost_per_hour_usd"] is None:
        return f"{row['price_basis']}, unknown: {row['price_note']}"
    dated = f" ({row['price_date']})" if row["price_date"] else ""
    return f"{row['price_basis']}, {row['price_source']}{dated}" + (
        f"; {row['price_note']}" if row["price_note"] else ""
    )


STACK_ROLES = {
    "aifactory": "infrastructure: pulumi up -s {stack}",
    "aifactory-cluster": "cluster configuration, from inside the VPC: pulumi up -C cluster -s {stack}",
}


def _stack_lines(result: PlanResult) -> list[str]:
    """Which resources belong to which stack (project), and the order to apply them in."""
    stacks = result.stacks
    lines = ["", "stacks"]
    for project, resources in stacks.items():
        custom = sum(1 for r in resources if r.custom)
        role = STACK_ROLES.get(project, project).format(stack=result.stack)
        lines.append(f"  {project:<18} {custom:>5} cloud resources  {role}")
        if project != "aifactory":
            lines += [f"      {t}" for t in sorted({r.type for r in resources if r.custom})]
    runner = (result.outputs.get("clusterRunner") or {}).get("project")
    if runner:
        lines.append(f"  runner             aws codebuild start-build --project-name {runner}")
    if result.moves:
        lines.append(
            f"  upgrade from 0.1   move {len(result.moves)} Kubernetes resources into the cluster stack first "
            "(CHANGELOG, upgrade notes)"
        )
    return lines


def _placement_lines(placement: dict[str, Any]) -> list[str]:
    if not placement:
        return []
    lines = ["", "placement"]
    for key in ("site", "it_power_kw", "facility_power_kw", "pue", "gpus_capped", "throughput_given_up_pct"):
        if key in placement and placement[key] is not None:
            lines.append(f"  {key:<28} {placement[key]}")
    fullest = placement.get("fullest_rack")
    if fullest:
        lines.append(f"  {'fullest rack':<28} {fullest}")
    domains = placement.get("domains") or []
    lines.append(f"  {'domains':<28} {len(domains)}")
    for name, topology in (placement.get("kueue_topologies") or {}).items():
        lines.append(f"  {'kueue topology ' + name:<28} {' > '.join(topology['levels'])}")
    lines += [f"  note: fleet {n['fleet']}: {n['note']}" for n in placement.get("topology_notes") or []]
    return lines


def _tree_lines(result: PlanResult) -> list[str]:
    children: dict[str | None, list[Any]] = {}
    for r in result.resources:
        children.setdefault(r.parent, []).append(r)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in children.get(parent, []):
            lines.append(f"{'  ' * (depth + 1)}{r.type} {r.name}")
            walk(r.urn, depth + 1)

    walk(None, 0)
    return lines
