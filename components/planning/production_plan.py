"""The production lines of a plan: their Kubeflow Trainer objects, GPU share per queue and cost.

Pure: no Pulumi. Costs come from the region's price table (`costs.fleet_cost`) and are unknown (None
with a note) when the table has no figure, never another region's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..catalog.hardware import fleet_hardware
from ..schedulers.kubernetes_manifests import FleetCapacity, Manifest
from ..schedulers.training_manifests import training_objects
from ..spec.model import FactorySpec, Fleet
from ..spec.production import ProductionLine
from ..spec.scheduler import KubernetesScheduler
from .costs import OWNED, FleetCost, fleet_cost


@dataclass(frozen=True)
class LinePlan:
    name: str
    namespace: str
    """Namespace of the line's training queue, where its TrainJobs run."""
    runtime: Manifest
    train_job: Manifest
    training_gpus: int
    serving_gpus: int
    run_cost_usd: float | None
    """nodes x expectedHours x the training fleet's hourly price per node."""
    replica_hour_usd: float | None
    """One serving replica for an hour: its share (gpusPerReplica of the node's accelerators) of a node."""
    cost_notes: tuple[str, ...]


@dataclass(frozen=True)
class ProductionPlan:
    lines: tuple[LinePlan, ...]
    queue_shares: dict[str, dict[str, float | None]]
    """queue -> line -> accelerators the line asks of it / the queue's gpuQuota (above 1: it borrows;
    None for a queue without quota of its own)."""

    def summary(self) -> dict[str, Any]:
        return {
            "lines": [
                {
                    "name": line.name,
                    "namespace": line.namespace,
                    "training_gpus": line.training_gpus,
                    "serving_gpus": line.serving_gpus,
                    "cost_per_training_run_usd": line.run_cost_usd,
                    "cost_per_replica_hour_usd": line.replica_hour_usd,
                    "cost_notes": list(line.cost_notes),
                }
                for line in self.lines
            ],
            "gpu_share_per_queue": self.queue_shares,
        }


def fleet_capacity(fleet: Fleet) -> FleetCapacity:
    """A fleet as the scheduler's objects see it (the same as the cluster stack's, `kubernetes.py`)."""
    return FleetCapacity(
        fleet.name,
        fleet.instance_type,
        fleet.count,
        fleet.efa and fleet.kind == "ec2",
        labels=dict(fleet.labels),
        taints=tuple(fleet.taints),
        server=fleet.server,
    )


def _node_cost(spec: FactorySpec, fleet: Fleet) -> FleetCost:
    if fleet.kind == "hybrid" or fleet.instance_type is None:
        return OWNED
    return fleet_cost(fleet.instance_type, 1, fleet.capacity.type, spec.region)


def _costs(spec: FactorySpec, line: ProductionLine) -> tuple[float | None, float | None, tuple[str, ...]]:
    notes: list[str] = []
    train = _node_cost(spec, spec.fleet(line.training.fleet))
    run = None
    if train.cost_per_hour_usd is not None:
        run = round(train.cost_per_hour_usd * line.training.nodes * line.training.expected_hours, 2)
    if train.note:
        notes.append(f"training: {train.note}")
    replica = None
    if line.serving is not None:
        fleet = spec.fleet(line.serving.fleet)
        serve = _node_cost(spec, fleet)
        if serve.cost_per_hour_usd is not None:
            share = line.serving.gpus_per_replica / fleet_hardware(fleet).gpus
            replica = round(serve.cost_per_hour_usd * share, 2)
        if serve.note:
            notes.append(f"serving: {serve.note}")
    return run, replica, tuple(notes)


def plan_production(spec: FactorySpec) -> ProductionPlan | None:
    production, k8s = spec.production, spec.scheduler
    if production is None or not isinstance(k8s, KubernetesScheduler) or spec.storage is None:
        return None
    namespaces = {q.name: q.namespace for q in k8s.queues}
    fleets = {f.name: fleet_capacity(f) for f in spec.fleets}
    objects = training_objects(
        production.lines, namespaces, fleets, spec.storage.mount_path, spec.storage.s3_import_path
    )
    lines: list[LinePlan] = []
    asked: dict[str, dict[str, int]] = {}
    for line in production.lines:
        training_gpus = line.training.nodes * line.training.gpus_per_node
        serving_gpus = line.serving.replicas * line.serving.gpus_per_replica if line.serving is not None else 0
        uses = [(line.training.queue, training_gpus)]
        if line.serving is not None:
            uses.append((line.serving.queue, serving_gpus))
        for queue, gpus in uses:
            by_line = asked.setdefault(queue, {})
            by_line[line.name] = by_line.get(line.name, 0) + gpus
        run, replica, notes = _costs(spec, line)
        runtime, job = objects[line.name]
        lines.append(
            LinePlan(
                name=line.name,
                namespace=namespaces[line.training.queue],
                runtime=runtime,
                train_job=job,
                training_gpus=training_gpus,
                serving_gpus=serving_gpus,
                run_cost_usd=run,
                replica_hour_usd=replica,
                cost_notes=notes,
            )
        )
    quotas = {q.name: q.gpu_quota for q in k8s.queues}
    shares = {
        queue: {name: round(gpus / quotas[queue], 3) if quotas[queue] else None for name, gpus in by_line.items()}
        for queue, by_line in asked.items()
    }
    return ProductionPlan(tuple(lines), shares)
