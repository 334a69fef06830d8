"""Scale: plan and render generated factories of 1k, 16k and 100k GPUs under EKS and under Slurm,
and the placement planner alone at 1k, 100k and 1M GPUs, all in one run.

    python benchmarks/bench_scale.py [--sizes 1000,16000,100000] [--out benchmarks/scale.md]
                                     [--kubernetes-network JSON] [--timeout SECONDS]

Every factory is p6-b200.48xlarge fleets on capacity reservations in the Region's p6-b200 zone (at
least `FLEET_NODES` nodes each; 12,500 p5 nodes exceed a VPC's Network Address Usage maximum, see
`planning/address_plan.py`; the placement planner's cases keep fleets of `PLACEMENT_FLEET_NODES`). Each case
runs in its own process, as `aifactory plan` and `render` do:
after a warm-up plan of one node (the imports), it plans the stack file (validation, planning, the
program under the mocks, policies, preflight), renders it, and reports the resources, the plan and
render times (wall) and its peak resident memory (`ru_maxrss`, which includes the warm-up's
interpreter and imports: the fixed part every case pays). A stack the config refuses is reported as
`refused: <first error>`, a case past `--timeout` as `timeout`; neither stops the run.

`--kubernetes-network` merges keys into the EKS cases' `aifactory:network` (a pod address plan, say)
so the benchmark runs unchanged when the config gains them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SIZES = (1_000, 16_000, 100_000)
PLACEMENT_SIZES = (1_000, 100_000, 1_000_000)
SCHEDULERS = ("kubernetes", "slurm")
FLEET_NODES = 1_024
PLACEMENT_FLEET_NODES = 1_250
"""The placement cases' fleets: 1M GPUs is 100 of them, the most a stack declares (`aifactory:fleets`)."""
PLACEMENT_REPEATS = 3
INSTANCE_TYPE = "p6-b200.48xlarge"
GPUS_PER_NODE = 8  # components/catalog/data/instance_types.yaml
# Interfaces a p6-b200 node attaches: card 0's primary and EFA-only interfaces and one EFA-only
# interface on each of cards 1-7 (EKS user guide, "Manage EFA devices on Amazon EKS").
INTERFACES_PER_NODE = 9
REGION = "us-east-1"
# EKS needs subnets in two zones; the nodes are in the zone that offers the instance type
# (components/catalog/data/offerings.json), as in stacks/Pulumi.commercial-100k.yaml.
ZONES = [f"{REGION}a", f"{REGION}c"]
NODE_ZONES = [f"{REGION}c"]
# VPC User Guide, "Network Address Usage for your VPC": at most 256,000 units a VPC, on request.
NAU_QUOTA = 256_000
VERSION = "1.35"
TIMEOUT = 1_800.0
FAILURE_TEXT = 200
"""Characters of a failed case's last error line that the table shows."""

# Issue 15's targets, as (figure, largest case / smallest case at most).
RESOURCE_TARGET = 4.0
TIME_TARGET = 3.0
MEMORY_TARGET = 2.0
PLACEMENT_TARGET = 20.0


def images() -> dict[str, str]:
    from aifactory.spec.images import SLURM_HEAD_KEY, dlami_key, eks_node_key, eks_system_release_key

    # Stacks pin their images (`aifactory images pin`); the mocks accept any well-formed id.
    return {
        dlami_key("nvidia"): "ami-0b0e0c0b0e0c0b0e0",
        SLURM_HEAD_KEY: "ami-0a0b0c0d0e0f01020",
        eks_node_key(VERSION, "nvidia"): "ami-0c0d0e0f010203040",
        eks_system_release_key(VERSION): f"{VERSION}.0-20261115",
    }


def stack_config(
    scheduler: str,
    gpus: int,
    network: dict[str, Any] | None = None,
    fleet_nodes: int = FLEET_NODES,
    per_zone: bool = True,
) -> dict[str, Any]:
    """p6-b200.48xlarge fleets on capacity reservations, at most `fleet_nodes` nodes a fleet, placed in
    the zones that offer the type in turn."""
    if scheduler == "kubernetes":
        # EKS pulls charts and images from the internet unless a sovereign mirror is set, so the
        # commercial factory has a NAT; pods take their addresses from custom networking (the
        # large-cluster layout of commercial-100k), so the nodes' /16 holds only their hosts.
        net: dict[str, Any] = {
            "cidr": "10.0.0.0/16",
            "availabilityZones": ZONES,
            "egress": "nat",
            "networkAddressUsageQuota": NAU_QUOTA,
        }
        net.update(network or {})
    else:
        net = {
            "cidr": "10.0.0.0/16",
            "availabilityZones": ZONES,
            "egress": "none",
            "networkAddressUsageQuota": NAU_QUOTA,
        }
    zones = NODE_ZONES
    fleets: list[dict[str, Any]] = []
    nodes = max(1, gpus // GPUS_PER_NODE)
    # One capacity reservation per zone at most, as commercial-100k has (a reservation is per zone and
    # type, of any size): on EKS every fleet is a placement domain split into node groups of 450, and
    # the cluster may have 30 groups (EKS quota L-6D54EA21).
    if per_zone:
        fleet_nodes = max(fleet_nodes, -(-nodes // len(zones)))
    while nodes > 0:
        count = min(nodes, fleet_nodes)
        index = len(fleets)
        fleets.append(
            {
                "name": f"f{index}",
                "instanceType": INSTANCE_TYPE,
                "count": count,
                "availabilityZone": zones[index % len(zones)],
                "capacity": {"type": "capacity-reservation", "reservationId": f"cr-{index:017x}"},
            }
        )
        nodes -= count
    sched: dict[str, Any]
    if scheduler == "kubernetes":
        sched = {
            "kind": "kubernetes",
            "version": VERSION,
            "endpoint": "private",
            # commercial-100k's layout: IPv6 pods (a prefix a node), one training pod a node.
            "podNetwork": {"addressing": "ipv6", "trainingPodsPerNode": 1},
            # Interfaces per node above the Region's default of 5,000 (L-DF5E4CA3): a large factory is
            # planned with its raised quota.
            "serviceQuotas": {
                "networkInterfacesPerRegion": INTERFACES_PER_NODE * max(1, gpus // GPUS_PER_NODE) + 1_000
            },
            "queues": [{"name": "train", "namespace": "train", "gpuQuota": gpus}],
        }
    else:
        sched = {
            "kind": "slurm",
            "partitions": [{"name": "train", "fleets": [f["name"] for f in fleets], "default": True}],
        }
    return {
        "aws:region": REGION,
        "aifactory:profile": "commercial",
        "aifactory:network": net,
        "aifactory:fleets": fleets,
        "aifactory:images": images(),
        "aifactory:scheduler": sched,
    }


def write_stack(folder: Path, name: str, config: dict[str, Any]) -> Path:
    path = folder / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


def run_case(scheduler: str, gpus: int, network: dict[str, Any] | None) -> dict[str, Any]:
    """One case, in this process: plan and render the generated stack after a one-node warm-up."""
    from aifactory.cli.collector import rare_collections
    from aifactory.cli.planrun import plan_stack
    from aifactory.cli.render import _render_into  # the render without a second plan
    from aifactory.spec import ConfigError

    with tempfile.TemporaryDirectory() as tmp, rare_collections():
        folder = Path(tmp)
        plan_stack(str(write_stack(folder, "warm", stack_config(scheduler, GPUS_PER_NODE, network))))
        path = write_stack(folder, f"scale-{scheduler}-{gpus}", stack_config(scheduler, gpus, network))
        start = time.perf_counter()
        try:
            result = plan_stack(str(path))
        except ConfigError as exc:
            first = exc.issues[0]
            return {"refused": f"{first.path}: {first.problem}. Fix: {first.fix}"}
        plan_s = time.perf_counter() - start
        out = folder / "render"
        out.mkdir()
        start = time.perf_counter()
        files = _render_into(result, out)
        render_s = time.perf_counter() - start
    return {
        "nodes": result.summary["nodes"],
        "fleets": len(result.spec.fleets),
        "resources": len(result.resources),
        "violations": len(result.mandatory_violations()),
        "findings": len(result.preflight),
        "files": len(files),
        "plan_s": plan_s,
        "render_s": render_s,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_placement(gpus: int) -> dict[str, Any]:
    """The placement planner alone on the same generator's spec (Slurm, so no EKS address rule)."""
    from aifactory.planning.placement import plan_placement
    from aifactory.spec import spec_from_config

    spec = spec_from_config(stack_config("slurm", gpus, fleet_nodes=PLACEMENT_FLEET_NODES, per_zone=False))
    times = []
    for _ in range(PLACEMENT_REPEATS):
        start = time.perf_counter()
        plan_placement(spec)
        times.append(time.perf_counter() - start)
    return {"placement_s": min(times), "nodes": gpus // GPUS_PER_NODE, "fleets": len(spec.fleets)}


def in_child(args: list[str], timeout: float) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": last[:FAILURE_TEXT]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def ratio_cell(small: dict[str, Any], large: dict[str, Any], key: str, limit: float) -> str:
    if key not in small or key not in large:
        return "n/a (a case did not plan)"
    ratio = large[key] / small[key]
    return f"{ratio:.2f} (<= {limit:g}: {'pass' if ratio <= limit else 'FAIL'})"


def outcome(case: dict[str, Any]) -> str | None:
    if "refused" in case:
        return f"refused: {case['refused']}"
    if "timeout" in case:
        return f"timeout after {case['timeout']:g} s"
    if "failed" in case:
        return f"failed: {case['failed']}"
    return None


def table(
    cases: dict[tuple[str, int], dict[str, Any]], placements: dict[int, dict[str, Any]], sizes: Sequence[int]
) -> str:
    lines = [
        "| scheduler | GPUs | nodes | fleets | resources | plan s | render s | peak MB | violations | findings |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (scheduler, gpus), case in cases.items():
        why = outcome(case)
        if why is not None:
            lines.append(f"| {scheduler} | {gpus:,} | {why} |||||||| ")
            continue
        lines.append(
            f"| {scheduler} | {gpus:,} | {case['nodes']:,} | {case['fleets']} | {case['resources']:,} | "
            f"{case['plan_s']:.2f} | {case['render_s']:.2f} | {case['peak_mb']:.0f} | {case['violations']} | "
            f"{case['findings']} |"
        )
    small, large = min(sizes), max(sizes)
    lines += ["", f"Targets, {large:,} GPUs against {small:,} in this run:", ""]
    lines += ["| scheduler | resources | plan time | peak memory |", "|---|---|---|---|"]
    for scheduler in SCHEDULERS:
        a, b = cases.get((scheduler, small), {}), cases.get((scheduler, large), {})
        if not a and not b:
            continue
        lines.append(
            f"| {scheduler} | {ratio_cell(a, b, 'resources', RESOURCE_TARGET)} | "
            f"{ratio_cell(a, b, 'plan_s', TIME_TARGET)} | {ratio_cell(a, b, 'peak_mb', MEMORY_TARGET)} |"
        )
    lines += ["", "| placement planner | GPUs | nodes | fleets | time s (best of 3) |", "|---|---:|---:|---:|---:|"]
    for gpus, case in placements.items():
        why = outcome(case)
        cell = why if why is not None else f"{case['nodes']:,} | {case['fleets']} | {case['placement_s']:.4f}"
        lines.append(f"| aws, capacity reservations | {gpus:,} | {cell} |")
    by_size = list(placements)
    if len(by_size) >= 2:
        lines.append("")
        lines.append(
            f"Placement at {by_size[-1]:,} GPUs against {by_size[-2]:,}: "
            + ratio_cell(placements[by_size[-2]], placements[by_size[-1]], "placement_s", PLACEMENT_TARGET)
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="GPU counts of the factories")
    parser.add_argument("--placement-sizes", default=",".join(map(str, PLACEMENT_SIZES)))
    parser.add_argument("--schedulers", default=",".join(SCHEDULERS))
    parser.add_argument("--kubernetes-network", default=None, help="JSON merged into the EKS cases' network")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per case")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables as markdown here")
    parser.add_argument("--case", nargs=2, metavar=("SCHEDULER", "GPUS"), help=argparse.SUPPRESS)
    parser.add_argument("--placement", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    network = json.loads(args.kubernetes_network) if args.kubernetes_network else None
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), network)))
        return 0
    if args.placement:
        print(json.dumps(run_placement(args.placement)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    extra = ["--kubernetes-network", args.kubernetes_network] if args.kubernetes_network else []
    cases: dict[tuple[str, int], dict[str, Any]] = {}
    for scheduler in args.schedulers.split(","):
        for gpus in sizes:
            cases[(scheduler, gpus)] = in_child(["--case", scheduler, str(gpus), *extra], args.timeout)
            print(scheduler, gpus, cases[(scheduler, gpus)], file=sys.stderr, flush=True)
    placements = {
        gpus: in_child(["--placement", str(gpus)], args.timeout) for gpus in map(int, args.placement_sizes.split(","))
    }
    text = table(cases, placements, sizes)
    facts = (
        f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other work, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f} at the end."
    )
    print(text + "\n\n" + facts)
    if args.out is not None:
        args.out.write_text(f"# Scale benchmark\n\n`python benchmarks/bench_scale.py`\n\n{text}\n\n{facts}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
