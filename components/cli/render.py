"""`aifactory render`: every generated artifact of a stack, written for review.

Node user data is taken from the planned launch templates, so it is byte for byte what nodes get;
scheduler configs and manifests from the same renderers the components use.

The folder changes only when every file rendered: files are written into a temporary sibling
directory first and moved into place after the last one. The manifest `MANIFEST` records what
aifactory wrote (stack, relative paths, SHA-256 of each file), so the next render into the folder
removes exactly the files the previous one wrote and this one does not, and never a file it did not
write (or one changed since it wrote it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml

from ..planning.factory_plan import FactoryPlan
from ..planning.observability_plan import ObservabilityPlan
from ..planning.placement import PlacementPlan
from ..planning.production_plan import LinePlan
from ..planning.thermal import install_plan_csv, write_heatmap
from ..planning.topology import kueue_topologies, node_labels, slurm_topology_conf
from ..power_cap_boot import power_cap_files, slurm_node_files
from ..spec import ConfigError
from ..spec.production import ProductionLine
from .observability_files import line_metrics_section, observability_files

if TYPE_CHECKING:
    from .planrun import PlanResult

_KUBERNETES_PREFIX = "kubernetes:"
MANIFEST = ".aifactory-render.json"
"""What aifactory wrote into a render folder: `{"tool", "version", "stack", "files": {path: sha256}}`."""
MANIFEST_TOOL = "aifactory render"
MANIFEST_VERSION = 1


class RenderRefused(Exception):
    """The folder is not one render may write into (as it stands, or without `--force`); nothing written."""


class RenderFailed(Exception):
    """A renderer failed; the folder was left as it was."""


@dataclass(frozen=True)
class RenderResult:
    written: list[Path]
    """Every file of this render, in the folder."""
    removed: list[Path]
    """Files the previous render wrote that this one does not."""
    kept: list[Path]
    """Files the previous render wrote that this one does not, kept because they changed since."""


def render_stack(stack: str, stacks_dir: str | None, out: Path, force: bool = False) -> RenderResult:
    """Plan the stack, render every artifact beside `out` and move them into `out`.

    Raises `ConfigError` (invalid stack) and `RenderRefused` before anything is written, and
    `RenderFailed` when a renderer raises; in all three cases `out` is as it was.
    """
    from .planrun import plan_stack  # the program and its SDK load only for a command that plans

    result = plan_stack(stack, stacks_dir)
    previous = _previous_render(out, force)
    # Beside the real folder (`render dev .`, a symlinked folder): one file system, so every move is a rename.
    where = Path(os.path.realpath(out))
    where.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{where.name}.render-", dir=where.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; the folder it becomes gets the usual mode
    try:
        try:
            files = _render_into(result, staging)
        except ConfigError:
            raise
        except Exception as exc:  # any renderer: reported with the folder's state, never half-written
            raise RenderFailed(
                f"render of stack {result.stack} failed ({type(exc).__name__}: {exc}); {out} was left as it was"
            ) from exc
        digests = {name: _sha256(staging / name) for name in files}
        clashes = [name for name in digests if name not in previous and (out / name).exists()]
        if clashes and not force:
            raise RenderRefused(
                f"{out} holds files aifactory did not write that this render would overwrite: "
                f"{', '.join(sorted(clashes))}; move them away, or pass --force to overwrite them"
            )
        try:
            return _commit(staging, out, result.stack, digests, previous)
        except OSError as exc:
            raise RenderFailed(
                f"moving the rendered files into {out} failed ({exc}); files already moved are listed in "
                f"{out / MANIFEST}, and the next render cleans them up"
            ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _previous_render(out: Path, force: bool) -> dict[str, str]:
    """The files (path -> SHA-256) the previous render recorded in `out`; empty for a new or empty folder.

    A folder with files but no readable manifest was not written by aifactory (or not by this
    version): refused unless `force`, which then writes over same-named files and removes nothing.
    """
    if not out.exists():
        return {}
    if not out.is_dir():
        raise RenderRefused(f"{out} is not a directory; name a directory to render into")
    manifest = out / MANIFEST
    if manifest.is_file():
        recorded = _read_manifest(manifest)
        if recorded is not None:
            return recorded
        problem = f"{manifest} is not a manifest aifactory wrote"
    elif any(out.iterdir()):
        problem = f"{out} is not empty and has no {MANIFEST}, so aifactory cannot tell its files from yours"
    else:
        return {}
    if force:
        return {}
    raise RenderRefused(
        f"{problem}; render into a new or empty directory, or pass --force to write into it "
        "(same-named files are overwritten, nothing is removed)"
    )


def _read_manifest(path: Path) -> dict[str, str] | None:
    """The manifest's files, or None when it is not one (unreadable, another shape, a path that leaves
    the folder): a tampered manifest must not make render delete anything outside what it wrote."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(document, Mapping) or document.get("tool") != MANIFEST_TOOL:
        return None
    files = document.get("files")
    if not isinstance(files, Mapping):
        return None
    recorded: dict[str, str] = {}
    for name, digest in files.items():
        if not isinstance(name, str) or not isinstance(digest, str) or not _inside(name):
            return None
        recorded[name] = digest
    return recorded


def _inside(name: str) -> bool:
    """A relative POSIX path that stays inside the folder and is not the manifest itself."""
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and ".." not in parts and "\\" not in name and name != MANIFEST


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_manifest(directory: Path, stack: str, files: Mapping[str, str]) -> None:
    document = {
        "tool": MANIFEST_TOOL,
        "version": MANIFEST_VERSION,
        "stack": stack,
        "files": dict(sorted(files.items())),
    }
    temporary = directory / f"{MANIFEST}.tmp"
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(temporary, directory / MANIFEST)


def _commit(
    staging: Path, out: Path, stack: str, files: Mapping[str, str], previous: Mapping[str, str]
) -> RenderResult:
    """Move the staged files into `out` and remove the previous render's files this one does not write."""
    written = [out / name for name in sorted(files)]
    if not out.exists():
        _write_manifest(staging, stack, files)
        os.replace(staging, out)  # one rename: the folder appears complete or not at all
        return RenderResult(written, [], [])
    # The manifest names old and new files until the move is done, so an interrupted commit still
    # leaves every file aifactory wrote on record for the next render to clean up.
    _write_manifest(out, stack, {**previous, **files})
    for name in sorted(files):
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, target)
    removed: list[Path] = []
    kept: dict[str, str] = {}
    for name, digest in sorted(previous.items()):
        path = out / name
        if name in files or not (path.is_file() or path.is_symlink()):
            continue
        if path.is_symlink() or _sha256(path) != digest:
            kept[name] = digest  # changed since aifactory wrote it: the user's now, still on record
            continue
        path.unlink()
        removed.append(path)
        _remove_empty_parents(path.parent, out)
    _write_manifest(out, stack, {**files, **kept})
    return RenderResult(written, removed, [out / name for name in kept])


def _remove_empty_parents(directory: Path, root: Path) -> None:
    while directory != root and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def _render_into(result: PlanResult, out: Path) -> list[str]:
    """Write every artifact of the planned stack under `out`; the relative paths written."""
    plan = result.placement
    written: list[str] = []

    def write(relative: str, text: str) -> None:
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(relative)

    def write_each(files: Mapping[str, str]) -> None:
        for relative, text in files.items():
            write(relative, text)

    write("plan.json", json.dumps(result.as_json(), indent=2) + "\n")
    write_each(user_data_files(result))
    write("topology/node-labels.json", json.dumps(node_labels(plan), indent=2, sort_keys=True) + "\n")
    if plan.switch_tree.switches:  # on EC2 the Slurm head writes it from DescribeInstanceTopology
        write("topology/topology.conf", slurm_topology_conf(plan.switch_tree))
    write("topology/kueue-topology.yaml", yaml.safe_dump_all(kueue_topologies(plan), sort_keys=False))
    write("thermal/placement.json", json.dumps(plan.summary(), indent=2) + "\n")
    if plan.site == "datahall":
        heatmap = "thermal/heatmap.png"
        write_heatmap(plan, out / heatmap)
        written.append(heatmap)
        write("thermal/install-plan.csv", install_plan_csv(plan))
        write_each(power_cap_files(plan))
        write_each(slurm_node_files(result.plan))
    write_each(kubernetes_files(result, plan))
    write_each(production_cycle_files(result))
    write_each(slurm_files(result.plan))
    write_each(hybrid_files(result.plan))
    write_each(production_files(result.plan))
    write_each(observability_files(result.plan))
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
    files |= serving_files(objects)
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


def serving_files(objects: list[dict[str, Any]]) -> dict[str, str]:
    """Each serving line's LeaderWorkerSet and Service, as applied, in `production/<line>/serving.yaml`, and the
    model registry's objects in `production/registry.yaml`: every production file sits under `production/`."""
    from ..schedulers.kubernetes_manifests import LINE_LABEL
    from ..schedulers.production_registry import REGISTRY_LABEL

    by_line: dict[str, list[dict[str, Any]]] = {}
    registry: list[dict[str, Any]] = []
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        line = labels.get(LINE_LABEL)
        if line is not None and obj["kind"] in ("LeaderWorkerSet", "Service"):
            by_line.setdefault(line, []).append(obj)
        elif labels.get(REGISTRY_LABEL) == "registry":
            registry.append(obj)
    files = {
        f"production/{line}/serving.yaml": yaml.safe_dump_all(objs, sort_keys=False)
        for line, objs in sorted(by_line.items())
    }
    if registry:
        files["production/registry.yaml"] = yaml.safe_dump_all(registry, sort_keys=False)
    return files


def production_cycle_files(result: PlanResult) -> dict[str, str]:
    """Each production line's cycle objects as applied (`production/<line>/cycle.yaml`): its Argo
    WorkflowTemplate and CronWorkflows, their RBAC and scripts."""
    from ..schedulers.production_cycle import CYCLE_KINDS, LINE_LABEL

    by_line: dict[str, list[dict[str, Any]]] = {}
    for resource in result.resources:
        inputs = resource.inputs
        line = (
            inputs.get("metadata", {}).get("labels", {}).get(LINE_LABEL)
            if isinstance(inputs.get("metadata"), dict)
            else None
        )
        if resource.type.startswith(_KUBERNETES_PREFIX) and inputs.get("kind") in CYCLE_KINDS and line:
            by_line.setdefault(line, []).append(inputs)
    return {
        f"production/{line}/cycle.yaml": yaml.safe_dump_all(objects, sort_keys=False)
        for line, objects in sorted(by_line.items())
    }


def production_files(plan: FactoryPlan) -> dict[str, str]:
    """Per production line: its ClusterTrainingRuntime (applied by the cluster stack), its TrainJob
    template and a README with the commands to start a run and read its progress and metrics."""
    production = plan.production
    if production is None or plan.spec.production is None:
        return {}
    files = {}
    specs = {line.name: line for line in plan.spec.production.lines}
    for line in production.lines:
        base = f"production/{line.name}"
        files[f"{base}/runtime.yaml"] = yaml.safe_dump(line.runtime, sort_keys=False)
        files[f"{base}/trainjob.yaml"] = yaml.safe_dump(line.train_job, sort_keys=False)
        files[f"{base}/README.md"] = production_readme(line, specs[line.name], plan.observability)
    return files


def _usd(value: float | None) -> str:
    return "unknown (no price in the region's table)" if value is None else f"${value:,.2f}"


def production_readme(line: LinePlan, spec: ProductionLine, observability: ObservabilityPlan | None = None) -> str:
    """The line's runbook: start a run, watch Kueue admit it, read its logs and GPU metrics."""
    ns, name, queue = line.namespace, line.name, spec.training.queue
    selector = f"aifactory.io/line={name}"
    evaluation = spec.evaluation
    mark = "<=" if evaluation.goal == "minimize" else ">="
    lines = [
        f"# Production line `{name}`",
        "",
        f"Trains on `{spec.dataset}` with {spec.training.nodes} x {spec.training.gpus_per_node} accelerators of fleet "
        f"`{spec.training.fleet}` through queue `{queue}` (namespace `{ns}`), checkpoints to "
        f"`{spec.training.checkpoint.directory}` every {spec.training.checkpoint.interval_minutes} minutes, and "
        f"passes when `{evaluation.metric}` {mark} {evaluation.threshold:g}.",
        "",
        f"- Cost per training run ({spec.training.expected_hours:g} h expected): {_usd(line.run_cost_usd)}",
    ]
    if spec.serving is not None:
        lines.append(
            f"- Cost per served replica-hour ({spec.serving.gpus_per_replica} accelerators of fleet "
            f"`{spec.serving.fleet}`): {_usd(line.replica_hour_usd)}"
        )
    lines += [f"- Note: {note}" for note in line.cost_notes]
    lines += [
        "",
        "The cluster stack applies `runtime.yaml` (ClusterTrainingRuntime "
        f"`{line.runtime['metadata']['name']}`). A node failure restarts every pod of the run "
        f"(at most {spec.training.max_restarts} times), which resumes from the last checkpoint.",
        "",
        "## Start a run",
        "",
        "```sh",
        "kubectl create -f trainjob.yaml",
        "```",
        "",
        "## Watch it",
        "",
        "```sh",
        f"kubectl -n {ns} get trainjobs -l {selector}",
        f"kubectl -n {ns} get workloads",
        f"kubectl -n {ns} get localqueue {queue}",
        f"kubectl -n {ns} logs -l {selector} -c node --tail=100",
        "```",
        "",
    ]
    lines += line_metrics_section(name, queue, observability)
    return "\n".join(lines)


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
