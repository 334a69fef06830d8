"""The human-readable plan: rich tables that fit the terminal, numbers at their unit's precision."""

from __future__ import annotations

import io
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..planning.factory_plan import FactoryPlan
from ..planning.figures import COUNT, SIGNIFICANT_DIGITS, SUFFIX_UNITS, USD, unit_of
from ..spec.numbers import NETWORK_ADDRESS_USAGE_MAX
from ..spec.scheduler import KubernetesScheduler, SlurmScheduler
from .planrun import PlanResult

REPORT_WIDTH = 80
"""Columns of the report when it is not printed to a terminal (and of its golden files)."""
MISSING = "—"

HEADING = "bold"
LEVEL_STYLES = {"mandatory": "bold red", "advisory": "yellow"}
FINDING_STYLE = "bold red"
NOTE_STYLE = "dim"
UNKNOWN = "unknown"
"""A price the region's table lacks (the notes say which and why)."""

STACK_ROLES = {
    "aifactory": "infrastructure: pulumi up -s {stack}",
    "aifactory-cluster": "cluster configuration, from inside the VPC: pulumi up -C cluster -s {stack}",
}

LABELS = {
    "it_power_kw": "IT power",
    "facility_power_kw": "facility power",
    "pue": "PUE",
    "gpus_capped": "GPUs power-capped",
    "throughput_given_up_pct": "throughput given up",
    "per_unit_throughput_mbps_per_tib": "throughput per TiB",
    "gbps_per_gpu": "throughput per GPU",
    "cost_is_estimate": "cost is an estimate",
    "checkpoint_seconds": "checkpoint write time",
    "efa_enabled": "EFA-enabled",
    "final_backup": "on delete",
    "remote_node_cidrs": "node networks",
    "remote_pod_cidrs": "pod networks",
}
"""Labels that the key's words do not make by themselves; any other key reads as its words."""

MISSING_MEANS = {
    "checkpoint_seconds": f"{MISSING} (no checkpoint target)",
    "credentials": "none: on-premises slurmd joins no EKS cluster",
}
"""What a None says where it has a meaning; any other None prints as `MISSING`."""

FLEET_COLUMNS = frozenset(
    {
        "name",
        "kind",
        "instance_type",
        "server",
        "hardware",
        "accelerator",
        "nodes",
        "gpus",
        "efa_interfaces_per_node",
        "network_gbps_per_node",
        "capacity",
        "placement",
        "domains",
        "power_kw",
        "cost_per_hour_usd",
        "price_basis",
        "price_source",
        "price_date",
        "price_note",
    }
)
"""Fleet keys the fleets tables show (`kind`, `instance_type` and `server` as `hardware` and the
`owned` capacity of a hybrid fleet); any other key of a fleet is printed under the tables."""
SUMMARY_SECTIONS = frozenset(
    {
        "nodes",
        "gpus",
        "power_kw",
        "cost_per_hour_usd",
        "price_notes",
        "storage_throughput_gbps",
        "fleets",
        "placement",
        "storage",
        "hybrid",
        "production",
    }
)
"""Summary keys with a section of their own; the others are printed under `other figures`."""
PLACEMENT_SHOWN_ELSEWHERE = frozenset({"nodes", "gpus", "kueue_topologies", "topology_notes", "domains", "racks"})
"""Placement keys with their own lines (`nodes` and `gpus` are the fleets' totals)."""


def plan_console(file: TextIO | None = None, width: int | None = None, colour: bool = True) -> Console:
    """A console on `file` (stdout): rich treats FORCE_COLOR as a terminal and takes the width from the
    terminal or COLUMNS, else 80 (Rich docs, "Console API", "Environment variables"). Markup is off:
    the plan's text has brackets (`[advisory]`, host lists) that are not rich markup."""
    return Console(
        file=file, width=width, color_system="auto" if colour else None, markup=False, highlight=False, emoji=False
    )


def print_plan(result: PlanResult, tree: bool = False) -> None:
    """Colour only on a terminal and never with NO_COLOR set (no-color.org: "when present and not an
    empty string", disables colour); otherwise the plain lines, without rich's trailing padding."""
    console = plan_console()
    if console.is_terminal and os.environ.get("NO_COLOR", "") == "":
        console.print(Group(*plan_renderables(result, tree)))
    else:
        print("\n".join(plan_lines(result, tree, console.width)))


def plan_lines(result: PlanResult, tree: bool = False, width: int = REPORT_WIDTH) -> list[str]:
    """The report as plain lines `width` columns wide (what a pipe or a file receives)."""
    out = io.StringIO()
    plan_console(out, width, colour=False).print(Group(*plan_renderables(result, tree)))
    return [line.rstrip() for line in out.getvalue().splitlines()]


def plan_renderables(result: PlanResult, tree: bool = False) -> list[RenderableType]:
    spec, summary = result.spec, result.summary
    parts: list[RenderableType] = [
        Text(
            f"stack {result.stack}: {spec.profile} factory in {spec.region} ({spec.partition}), egress {spec.egress}",
            style=HEADING,
        ),
        *_fleet_section(summary),
        *_network_section(result.plan),
        *_address_budget_section(result.plan),
        *_scheduler_section(result.plan),
        *_placement_section(summary.get("placement") or {}),
        *_hybrid_section(summary.get("hybrid")),
        *_storage_section(summary.get("storage")),
        *_production_section(summary.get("production")),
        *_other_figures(summary),
        *_resource_section(result),
        *_stack_section(result),
    ]
    if tree:
        parts += [_heading("resource tree"), _tree(result)]
    if result.plan.warnings:
        parts += [
            _heading("warnings"),
            *(_indented(f"{w.path}: {w.problem}. Fix: {w.fix}", 2) for w in result.plan.warnings),
        ]
    parts.append(_heading("policy"))
    if not result.violations:
        parts.append(_indented("no violations", 2))
    for v in result.violations:
        level = Text(f"[{v['level']}] ", style=LEVEL_STYLES.get(v["level"], ""))
        parts += [_indented(level + Text(f"{v['policy']}: {v['urn']}"), 2), _indented(v["message"], 6)]
    parts.append(_heading("deploy preflight"))
    if not result.preflight:
        parts.append(_indented("every required flow, key use and fetch is allowed", 2))
    for f in result.preflight:
        rule = Text(f"[{f['rule']}] ", style=FINDING_STYLE)
        parts += [_indented(rule + Text(f["subject"]), 2), _indented(f["message"], 6)]
    return parts


def label(key: str) -> str:
    """A key as words, with its unit: `it_power_kw` -> `IT power (kW)`."""
    unit = unit_of(key)
    words = LABELS.get(key)
    if words is None:
        words = key
        for suffix in (*(suffix for suffix, _ in SUFFIX_UNITS), "_gbps"):
            words = words.removesuffix(suffix)
        words = words.replace("_", " ")
    return f"{words} ({unit.symbol})" if unit is not None and unit.symbol else words


def number_text(key: str, value: float) -> str:
    """A number at the precision its key's unit states (counts whole, $ in cents with separators)."""
    unit = unit_of(key)
    if unit is not None:
        return unit.text(value)
    if isinstance(value, int) or value.is_integer():
        return f"{int(value):,}"
    decimals = max(0, SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")


def value_text(key: str, value: Any) -> str:
    """Any summary value as words: no None, no Python reprs."""
    if value is None:
        return MISSING_MEANS.get(key, MISSING)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number_text(key, value)
    if isinstance(value, Mapping):
        return "; ".join(f"{label(k)} {value_text(k, v)}" for k, v in value.items()) or MISSING
    if isinstance(value, list | tuple):
        return ", ".join(value_text(key, v) for v in value) or MISSING
    return str(value)


def with_unit(key: str, value: float) -> str:
    """A number with its unit, for a sentence: `54.0 kW`, `$4.03`, `100.0 %`."""
    unit = unit_of(key)
    text = number_text(key, value)
    if unit is None or not unit.symbol:
        return text
    return f"{unit.symbol}{text}" if unit is USD else f"{text} {unit.symbol}"


def _heading(name: str) -> Text:
    return Text(f"\n{name}", style=HEADING)


def _indented(content: str | RenderableType, left: int) -> Padding:
    """Wrapped at the width, every line indented (long URNs and host lists fold)."""
    return Padding(Text(content) if isinstance(content, str) else content, (0, 0, 0, left), expand=False)


def _key_values(rows: Iterable[tuple[str, str]]) -> Padding:
    """Label and value columns; values wrap within the width."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="", no_wrap=False, max_width=32)
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    return _indented(table, 2)


def _figures(items: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Rows of a section, every value as words; numbers right-aligned among themselves."""
    shown = {key: value for key, value in items.items() if key not in skip}
    numbers = {k: value_text(k, v) for k, v in shown.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    width = max(map(len, numbers.values()), default=0)
    return [
        (label(key), numbers[key].rjust(width) if key in numbers else value_text(key, value))
        for key, value in shown.items()
    ]


def _number_cell(key: str, value: Any) -> Text:
    return Text(MISSING if value is None else number_text(key, value), justify="right")


def _table(*columns: tuple[str, str], footer: bool = False) -> Table:
    """A table with a rule under its headers; numbers are right-aligned, text folds at the width."""
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, padding=(0, 1), show_footer=footer)
    for header, justify in columns:
        table.add_column(header, justify="right" if justify == "right" else "left", overflow="fold")
    return table


def _fleet_section(summary: Mapping[str, Any]) -> list[RenderableType]:
    """Two tables, so each fits 80 columns: what each fleet is, and its figures with the totals."""
    fleets = summary["fleets"]
    hall = "power_kw" in summary
    kinds = _table(
        ("fleet", "left"), ("hardware", "left"), ("capacity", "left"), ("placement", "left"), ("domains", "right")
    )
    for f in fleets:
        kinds.add_row(
            f["name"],
            f"{f['hardware'] or f['instance_type']} ({f['accelerator']})",
            f["capacity"],
            value_text("placement", f["placement"]),
            _number_cell("domains", f["domains"]),
        )
    columns = [
        ("fleet", "left"),
        ("nodes", "right"),
        ("GPUs", "right"),
        ("EFA\n/node", "right"),
        ("Gbit/s\n/node", "right"),
    ]
    columns += [("IT kW", "right")] if hall else []
    columns += [("$/h", "right")]
    figures = _table(*columns, footer=True)
    footers = ["total", number_text("nodes", summary["nodes"]), number_text("gpus", summary["gpus"]), "", ""]
    footers += [number_text("power_kw", summary["power_kw"])] if hall else []
    priced = any(f["capacity"] != "owned" for f in fleets)
    total = summary["cost_per_hour_usd"]
    footers += [(UNKNOWN if total is None else number_text("cost_per_hour_usd", total)) if priced else MISSING]
    for column, footer in zip(figures.columns, footers, strict=True):
        column.footer = footer
    for f in fleets:
        owned = f["capacity"] == "owned"
        row: list[RenderableType] = [
            f["name"],
            _number_cell("nodes", f["nodes"]),
            _number_cell("gpus", f["gpus"]),
            _number_cell("efa_interfaces_per_node", None if owned else f["efa_interfaces_per_node"]),
            _number_cell("network_gbps_per_node", f["network_gbps_per_node"]),
        ]
        row += [_number_cell("power_kw", f.get("power_kw"))] if hall else []
        cost = f["cost_per_hour_usd"]
        row += [_number_cell("cost_per_hour_usd", None) if owned else _cost_cell(cost)]
        figures.add_row(*row)
    notes = [_note(f"price of {f['name']}: {price_text(f)}") for f in fleets]
    if priced:
        parts = "fleets and storage (its monthly cost over 730 h)" if "storage" in summary else "fleets"
        notes.append(_note(f"total $/h: {parts}, each at its price basis"))
    # The fleets' own notes are on their price lines already.
    said = {f"fleet {f['name']}: {f['price_note']}" for f in fleets}
    notes += [_note(f"note: {n}") for n in summary["price_notes"] if n not in said]
    if not hall:
        notes.append(_note("no power figures: EC2 exposes no rack power"))
    extra = [
        _indented(f"fleet {f['name']}: {label(key)}: {value_text(key, value)}", 2)
        for f in fleets
        for key, value in f.items()
        if key not in FLEET_COLUMNS
    ]
    return [_heading("fleets"), _indented(kinds, 2), Text(""), _indented(figures, 2), *extra, *notes]


def price_text(row: Mapping[str, Any]) -> str:
    """How a figure was priced, from what and when; or why it is unknown."""
    if row["cost_per_hour_usd"] is None:
        return f"{row['price_basis']}, {UNKNOWN}: {row['price_note']}"
    dated = f" ({row['price_date']})" if row["price_date"] else ""
    noted = f"; {row['price_note']}" if row["price_note"] else ""
    return f"{row['price_basis']}, {row['price_source']}{dated}{noted}"


def _cost_cell(value: float | None) -> Text:
    return Text(UNKNOWN if value is None else number_text("cost_per_hour_usd", value), justify="right")


def _note(text: str) -> Padding:
    return _indented(Text(text, style=NOTE_STYLE), 2)


def _network_section(plan: FactoryPlan) -> list[RenderableType]:
    network = plan.spec.network
    usage = plan.address_usage
    rows = [
        ("VPC CIDR", network.cidr),
        ("egress", plan.spec.egress),
        ("zones", ", ".join(plan.network_zones)),
        (
            "Network Address Usage",
            f"{usage.units:,} of the VPC's quota {usage.quota:,} (at most {NETWORK_ADDRESS_USAGE_MAX:,} a VPC)",
        ),
    ]
    subnets = _table(("zone", "left"), ("private subnet", "left"), ("usable IPs", "right"), ("public subnet", "left"))
    for subnet in plan.subnets:
        subnets.add_row(
            subnet.availability_zone,
            subnet.private_cidr,
            COUNT.text(subnet.private_capacity),
            subnet.public_cidr or "— (no egress)",
        )
    return [_heading("network"), _key_values(rows), Text(""), _indented(subnets, 2)]


def _address_budget_section(plan: FactoryPlan) -> list[RenderableType]:
    """Per AZ: the addresses the nodes (and their pods) need against their subnets."""
    budget = plan.address_budget
    if budget is None:
        return []
    rows = [
        ("pod addressing", budget.addressing),
        ("VPC IPv4 CIDR blocks", COUNT.text(budget.cidr_blocks)),
        ("network interfaces", COUNT.text(budget.network_interfaces)),
    ]
    if budget.addressing == "ipv6":
        rows.append(("pod addresses", "IPv6: one /80 prefix a node, counted in the pod columns"))
    rows += [(f"maxPods {fleet}", COUNT.text(pods)) for fleet, pods in budget.max_pods.items()]
    table = _table(
        ("zone", "left"),
        ("nodes", "right"),
        ("node IPs", "right"),
        ("of", "right"),
        ("pod subnet", "left"),
        ("pod IPs", "right"),
        ("of", "right"),
    )
    for z in budget.zones:
        pods = z.pod_subnet is not None
        table.add_row(
            z.availability_zone,
            COUNT.text(z.nodes),
            COUNT.text(z.node_addresses),
            COUNT.text(z.node_capacity),
            z.pod_subnet or "— (node subnet)",
            COUNT.text(z.pod_addresses) if pods else "",
            COUNT.text(z.pod_capacity) if pods else "",
        )
    return [_heading("address budget"), _key_values(rows), Text(""), _indented(table, 2)]


def _scheduler_section(plan: FactoryPlan) -> list[RenderableType]:
    scheduler = plan.spec.scheduler
    if isinstance(scheduler, KubernetesScheduler):
        rows = [("EKS", scheduler.version), ("API endpoint", scheduler.endpoint)]
        queues = _table(
            ("queue", "left"),
            ("namespace", "left"),
            ("cohort", "left"),
            ("GPU quota", "right"),
            ("may borrow", "right"),
            ("fleets", "left"),
        )
        for q in scheduler.queues:
            queues.add_row(
                q.name,
                q.namespace,
                q.cohort or MISSING,
                COUNT.text(q.gpu_quota),
                "no limit" if q.borrowing_limit is None else COUNT.text(q.borrowing_limit),
                ", ".join(q.fleets) if q.fleets is not None else "all",
            )
        tables = [Text(""), _indented(queues, 2)] if scheduler.queues else [_indented("no Kueue queues", 2)]
        return [_heading("scheduler: Kubernetes (EKS, Kueue, JobSet)"), _key_values(rows), *tables]
    if isinstance(scheduler, SlurmScheduler):
        rows = [("Slurm", scheduler.version), ("accounting", scheduler.accounting)]
        if plan.slurm is not None:
            rows += [("cluster", plan.slurm.cluster_name), ("controller", plan.slurm.controller_address)]
        partitions = _table(("partition", "left"), ("fleets", "left"), ("default", "left"), ("max time", "left"))
        for part in scheduler.partitions:
            partitions.add_row(part.name, ", ".join(part.fleets), "yes" if part.default else "no", part.max_time)
        return [_heading("scheduler: Slurm"), _key_values(rows), Text(""), _indented(partitions, 2)]
    return [_heading("scheduler"), _indented("none (no scheduler key): no cluster is deployed", 2)]


def _placement_section(placement: Mapping[str, Any]) -> list[RenderableType]:
    if not placement:
        return []
    counts = {"racks": len(placement["racks"])} if "racks" in placement else {}
    counts["domains"] = len(placement.get("domains") or [])
    rows = _figures({**placement, **counts}, PLACEMENT_SHOWN_ELSEWHERE - set(counts) | {"fullest_rack"})
    fullest = placement.get("fullest_rack")
    if fullest:
        rows.append(
            (
                "fullest rack",
                f"{fullest['name']}: {with_unit('power_kw', fullest['power_kw'])} of "
                f"{with_unit('budget_kw', fullest['budget_kw'])} ({with_unit('used_pct', fullest['used_pct'])})",
            )
        )
    for name, topology in (placement.get("kueue_topologies") or {}).items():
        fleets = ", ".join(topology.get("fleets") or []) or MISSING
        rows.append(("Kueue topology", f"{name}: {' > '.join(topology['levels'])} (fleets {fleets})"))
    notes = [_note(f"note: fleet {n['fleet']}: {n['note']}") for n in placement.get("topology_notes") or []]
    return [_heading("placement"), _key_values(rows), *notes]


def _hybrid_section(hybrid: Mapping[str, Any] | None) -> list[RenderableType]:
    if not hybrid:
        return []
    return [_heading("hybrid nodes"), _key_values(_figures(hybrid))]


def _storage_section(storage: Mapping[str, Any] | None) -> list[RenderableType]:
    if not storage:
        return []
    return [_heading("storage"), _key_values(_figures(storage))]


def _production_section(production: Mapping[str, Any] | None) -> list[RenderableType]:
    """The production lines: accelerators, cost per training run and per served replica-hour, and each
    line's share of its queues' GPU quota."""
    if not production:
        return []
    lines = _table(
        ("line", "left"),
        ("namespace", "left"),
        ("training GPUs", "right"),
        ("serving GPUs", "right"),
        ("$ per run", "right"),
        ("$ per replica-hour", "right"),
    )
    for line in production["lines"]:
        lines.add_row(
            line["name"],
            line["namespace"],
            str(line["training_gpus"]),
            str(line["serving_gpus"]),
            _cost_cell(line["cost_per_training_run_usd"]),
            _cost_cell(line["cost_per_replica_hour_usd"]),
        )
    shares = _table(("queue", "left"), ("line", "left"), ("share of quota", "right"))
    for queue, by_line in production["gpu_share_per_queue"].items():
        for name, share in by_line.items():
            shares.add_row(queue, name, MISSING if share is None else f"{share:.1%}")
    notes = [_note(f"{line['name']}: {note}") for line in production["lines"] for note in line["cost_notes"]]
    return [_heading("production lines"), _indented(lines, 2), _indented(shares, 2), *notes]


def _other_figures(summary: Mapping[str, Any]) -> list[RenderableType]:
    """Summary keys without a section of their own, so a new figure shows before it has one."""
    others = {k: v for k, v in summary.items() if k not in SUMMARY_SECTIONS}
    if not others:
        return []
    return [_heading("other figures"), _key_values(_figures(others))]


def _resource_section(result: PlanResult) -> list[RenderableType]:
    counts = Counter(r.type for r in result.resources if r.custom)
    custom = sum(counts.values())
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right")
    table.add_column(overflow="fold")
    for typ, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(COUNT.text(n), typ)
    title = f"\nresources: {custom:,} cloud resources, {len(result.resources) - custom:,} components"
    return [Text(title, style=HEADING), _indented(table, 2)]


def _stack_section(result: PlanResult) -> list[RenderableType]:
    """Which resources belong to which stack (project), and the order to apply them in."""
    table = _table(("project", "left"), ("cloud resources", "right"), ("apply with", "left"))
    types: list[RenderableType] = []
    for project, resources in result.stacks.items():
        custom = sum(1 for r in resources if r.custom)
        table.add_row(project, COUNT.text(custom), STACK_ROLES.get(project, project).format(stack=result.stack))
        if project != "aifactory":
            names = sorted({r.type for r in resources if r.custom})
            types += [_indented(f"{project} holds", 2), *(_indented(name, 6) for name in names)]
    rows: list[tuple[str, str]] = []
    runner = (result.outputs.get("clusterRunner") or {}).get("project")
    if runner:
        rows.append(("runner", f"aws codebuild start-build --project-name {runner}"))
    if result.moves:
        rows.append(
            (
                "upgrade from 0.1",
                f"move {len(result.moves)} Kubernetes resources into the cluster stack first "
                "(CHANGELOG, upgrade notes)",
            )
        )
    return [_heading("stacks"), _indented(table, 2), *types, *([_key_values(rows)] if rows else [])]


def _tree(result: PlanResult) -> Padding:
    children: dict[str | None, list[Any]] = {}
    for r in result.resources:
        children.setdefault(r.parent, []).append(r)
    root = Tree(result.stack, guide_style=NOTE_STYLE)

    def walk(parent: str | None, node: Tree) -> None:
        for r in children.get(parent, []):
            walk(r.urn, node.add(Text(f"{r.type} {r.name}", overflow="fold")))

    walk(None, root)
    return _indented(Group(root), 2)
