"""`aifactory render`: every generated artifact of a stack, written for review.

Node user data is taken from the planned launch templates, so it is byte for byte what nodes get;
scheduler configs and manifests from the same renderers the components use.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml

from ..planning.factory_plan import FactoryPlan
from ..planning.placement import PlacementPlan
from ..planning.thermal import install_plan_csv, write_heatmap
from ..planning.topology import kueue_topologies, node_labels, slurm_topology_conf
from ..power_cap_boot import power_cap_files, slurm_node_files
from .planrun import PlanResult, plan_stack

_KUBERNETES_PREFIX = "kubernetes:"


def render_stack(stack: str, stacks_dir: str | None, out: Path) -> list[Path]:
    result = plan_stack(stack, stacks_dir)
    plan = result.placement
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(relative: str, text: str) -> None:
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)

    write("plan.json", json.dumps(result.as_json(), indent=2) + "\n")
    for relative, text in user_data_files(result).items():
        write(relative, text)
    write("topology/node-labels.json", json.dumps(node_labels(plan), indent=2, sort_keys=True) + "\n")
    if plan.switch_tree.switches:  # on EC2 the Slurm head writes it from DescribeInstanceTopology
        write("topology/topology.conf", slurm_topology_conf(plan.switch_tree))
    write("topology/kueue-topology.yaml", yaml.safe_dump_all(kueue_topologies(plan), sort_keys=False))
    write("thermal/placement.json", json.dumps(plan.summary(), indent=2) + "\n")
    if plan.site == "datahall":
        written.append(write_heatmap(plan, out / "thermal" / "heatmap.png"))
        write("thermal/install-plan.csv", install_plan_csv(plan))
        for relative, text in power_cap_files(plan).items():
            write(relative, text)
        for relative, text in slurm_node_files(result.plan).items():
            write(relative, text)
    for relative, text in kubernetes_files(result, plan).items():
        write(relative, text)
    for relative, text in slurm_files(result.plan).items():
        write(relative, text)
    for relative, text in hybrid_files(result.plan).items():
        write(relative, text)
    return written


def user_data_files(result: PlanResult) -> dict[str, str]:
    files = {}
    for resource in result.resources:
        if resource.type != "aws:ec2/launchTemplate:LaunchTemplate" or "userData" not in resource.inputs:
            continue
        text = base64.b64decode(resource.inputs["userData"]).decode()
        files[f"bootstrap/{resource.name}.user-data.txt"] = text
    return files


def kubernetes_files(result: PlanResult, plan: PlacementPlan) -> dict[str, str]:
    """The cluster's objects as applied (from the plan) plus the fabric acceptance test of the first EC2
    fleet (nccl-tests on NVIDIA GPUs, nccom-test on Trainium), or a note why it has none."""
    spec = result.spec
    if spec.scheduler is None or spec.scheduler.kind != "kubernetes":
        return {}
    from ..schedulers.kubernetes_manifests import FleetCapacity, fabric_test

    objects: list[dict[str, Any]] = []
    releases: dict[str, Any] = {}
    for resource in result.resources:
        if resource.type == "kubernetes:helm.sh/v3:Release":
            releases[resource.inputs.get("name", resource.name)] = resource.inputs
        elif resource.type.startswith(_KUBERNETES_PREFIX) and "kind" in resource.inputs:
            objects.append(resource.inputs)
    files = {"kubernetes/objects.yaml": yaml.safe_dump_all(objects, sort_keys=False)}
    for name, inputs in sorted(releases.items()):
        files[f"kubernetes/helm/{name}.yaml"] = yaml.safe_dump(inputs, sort_keys=False)
    if spec.scheduler.queues and spec.ec2_fleets:
        # The test measures EFA between EC2 nodes; the customer's servers use their own fabric.
        fleet = spec.ec2_fleets[0]
        domains = plan.domains_for(fleet.name)
        capacity = FleetCapacity(name=fleet.name, instance_type=fleet.instance_type, nodes=fleet.count, efa=fleet.efa)
        queue = next(
            (q for q in spec.scheduler.queues if q.fleets is None or fleet.name in q.fleets), spec.scheduler.queues[0]
        )
        nodes = min(2, max(d.nodes for d in domains))
        mirror = spec.sovereignty.registry_mirror if spec.sovereignty else None
        topology = plan.kueue_topology_of(fleet.name)
        level = plan.kueue_topologies()[topology][-2] if topology is not None else None
        test = fabric_test(capacity, nodes, queue, level, registry_mirror=mirror)
        if test.jobset is None:
            files["kubernetes/fabric-test.md"] = test.readme
        else:
            name = test.jobset["metadata"]["name"]
            files[f"kubernetes/{name}.yaml"] = yaml.safe_dump(test.jobset, sort_keys=False)
            files[f"kubernetes/{name}.md"] = test.readme
    return files


def hybrid_files(plan: FactoryPlan) -> dict[str, str]:
    """One nodeadm `NodeConfig` per EKS Hybrid Node server (`schedulers/hybrid_nodeconfig.py`), named by
    the server's host name; the deploy-time values are placeholders naming their stack output."""
    spec = plan.spec
    hybrid = spec.hybrid
    if hybrid is None or hybrid.credentials is None or spec.scheduler is None or spec.scheduler.kind != "kubernetes":
        return {}
    from ..factory import eks_cluster_name
    from ..planning.placement import hostnames
    from ..schedulers.hybrid_nodeconfig import hybrid_node_config, server_labels_and_taints

    per_host = node_labels(plan.placement)
    files = {}
    for fleet in spec.fleets:
        if fleet.kind != "hybrid" or fleet.server is None:
            continue
        for host in hostnames(fleet):
            labels, taints = server_labels_and_taints(
                fleet.name, fleet.server, fleet.labels, per_host.get(host, {}), fleet.taints
            )
            config = hybrid_node_config(
                cluster_name=eks_cluster_name(plan.name),
                region=spec.region,
                node_name=host,
                credentials=hybrid.credentials.model_dump(),
                labels=labels,
                taints=taints,
            )
            files[f"hybrid/nodeconfig/{host}.yaml"] = yaml.safe_dump(config, sort_keys=False)
    return files


def slurm_files(plan: FactoryPlan) -> dict[str, str]:
    """The configuration the Slurm head is deployed with, as planned (the same `ClusterName` and nodes)."""
    if plan.slurm is None:
        return {}
    return {f"slurm/{name}": text for name, text in plan.slurm.config_files.items()}
