"""Plan figures: nodes, GPUs, EFA, power and cost per fleet and for the factory."""

from __future__ import annotations

from typing import Any

from ..catalog.hardware import fleet_hardware, hardware_model
from ..catalog.instance_types import InstanceType
from ..catalog.prices import HOURS_PER_MONTH
from ..spec.model import FactorySpec
from .costs import OWNED, FleetCost, fleet_cost
from .efa_layout import efa_device_count
from .figures import USD, rounded_figures
from .placement import PlacementPlan, hostnames
from .topology_model import compress_hostlist


def fleet_summaries(spec: FactorySpec, plan: PlacementPlan) -> list[dict[str, Any]]:
    """One row per fleet. Power only for a data hall: EC2 exposes no rack power, so an AWS figure
    would be a catalog estimate nobody can measure, budget or pay for."""
    rows = []
    for fleet in spec.fleets:
        hardware = fleet_hardware(fleet)
        domains = plan.domains_for(fleet.name)
        power_kw = sum(d.node_power_kw * d.nodes for d in domains)
        row = {
            "name": fleet.name,
            "kind": fleet.kind,
            "instance_type": fleet.instance_type,
            "server": fleet.server,
            "hardware": hardware_model(fleet),
            "nodes": fleet.count,
            "gpus": fleet.count * hardware.gpus,
            "accelerator": hardware.accelerator.model,
            "placement": sorted({d.placement for d in domains}),
            "domains": len(domains),
            "power_kw": power_kw,
        }
        if isinstance(hardware, InstanceType):
            row |= {
                "efa_interfaces_per_node": efa_device_count(hardware) if fleet.efa else 0,
                "network_gbps_per_node": hardware.network_gbps,
                "capacity": fleet.capacity.type,
            }
            cost = fleet_cost(hardware.name, fleet.count, fleet.capacity.type, spec.region)
        else:
            # The customer owns the servers: there is no EC2 price to add, and the report says so.
            row |= {"efa_interfaces_per_node": 0, "network_gbps_per_node": None, "capacity": "owned"}
            cost = OWNED
        row |= price_fields(cost)
        if fleet.kind == "ec2":
            # EC2 exposes no rack power: an AWS figure would be a catalog estimate nobody can budget.
            del row["power_kw"]
        rows.append(row)
    return rows


def price_fields(cost: FleetCost) -> dict[str, Any]:
    """The keys every priced row of the plan carries: the figure, how it was priced, from what and when."""
    return {
        "cost_per_hour_usd": cost.cost_per_hour_usd,
        "price_basis": cost.basis,
        "price_source": cost.source,
        "price_date": cost.date,
        "price_note": cost.note,
    }


def total_cost_per_hour(fleets: list[dict[str, Any]], storage: dict[str, Any] | None) -> float | None:
    """Fleets plus the file system's monthly cost spread over the month; None when any part is unknown
    (a partial sum would read as the whole)."""
    parts: list[float | None] = [f["cost_per_hour_usd"] for f in fleets]
    if storage is not None:
        monthly = storage["monthly_cost_usd"]
        parts.append(None if monthly is None else monthly / HOURS_PER_MONTH)
    known = [p for p in parts if p is not None]
    return round(sum(known), USD.decimals) if len(known) == len(parts) else None


def price_notes(fleets: list[dict[str, Any]], storage: dict[str, Any] | None) -> list[str]:
    notes = [f"fleet {f['name']}: {f['price_note']}" for f in fleets if f["price_note"]]
    if storage is not None and storage["price_note"]:
        notes.append(f"storage: {storage['price_note']}")
    return notes


def factory_summary(spec: FactorySpec, plan: PlacementPlan, storage: dict[str, Any] | None) -> dict[str, Any]:
    """Every figure of the plan, counts as integers and measurements at their unit's precision (`figures`)."""
    fleets = fleet_summaries(spec, plan)
    summary: dict[str, Any] = {
        "nodes": sum(f["nodes"] for f in fleets),
        "gpus": sum(f["gpus"] for f in fleets),
        "power_kw": sum(f.get("power_kw", 0.0) for f in fleets),
        "cost_per_hour_usd": total_cost_per_hour(fleets, storage),
        "price_notes": price_notes(fleets, storage),
        "storage_throughput_gbps": storage["throughput_gbps"] if storage else 0.0,
        "fleets": fleets,
        "placement": plan.summary(),
    }
    if plan.site != "datahall":
        del summary["power_kw"]
    if storage:
        summary["storage"] = storage
    hybrid = hybrid_summary(spec)
    if hybrid is not None:
        summary["hybrid"] = hybrid
    rounded: dict[str, Any] = rounded_figures(summary)
    return rounded


def hybrid_summary(spec: FactorySpec) -> dict[str, Any] | None:
    """The data hall's side of the plan: its networks, how its servers get credentials and reach the VPC,
    and which servers join (`aifactory:hybrid`)."""
    hybrid = spec.hybrid
    if hybrid is None:
        return None
    servers = [host for fleet in spec.fleets if fleet.kind == "hybrid" for host in hostnames(fleet)]
    return {
        "remote_node_cidrs": list(hybrid.remote_node_cidrs),
        "remote_pod_cidrs": list(hybrid.remote_pod_cidrs),
        "credentials": hybrid.credentials.kind if hybrid.credentials is not None else None,
        "link": hybrid.link.kind,
        "servers": len(servers),
        "hosts": compress_hostlist(servers),
    }
