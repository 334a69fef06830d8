"""Deploy preflight cost against the plan it checks: EKS (private, no egress) at ~1k GPUs, Slurm
(one instance per node) at ~1k, 16k and 100k GPUs.

    python benchmarks/bench_preflight.py       # prints a table; figures are ratios from one run

EKS runs at 1k GPUs only (larger fleets do not fit one /16 yet). The preflight groups members by
network identity (groups, subnets, fleet), so its cost must grow with fleets and domains, not with
node count: the ratio to the plan should stay well under 1.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from aifactory.cli.engine import run_program
from aifactory.cli.planrun import preflight_findings
from aifactory.planning.factory_plan import plan_from_config
from aifactory.program import deploy
from aifactory.spec.images import SLURM_HEAD_KEY, dlami_key, eks_node_key, eks_system_release_key
from bench_plan import factory_config  # the script's own directory is on sys.path

VERSION = "1.35"
IMAGES = {
    dlami_key("nvidia"): "ami-0b0e0c0b0e0c0b0e0",
    SLURM_HEAD_KEY: "ami-0a0b0c0d0e0f01020",
    eks_node_key(VERSION, "nvidia"): "ami-0c0d0e0f010203040",
    eks_system_release_key(VERSION): f"{VERSION}.0-20261115",
}


def config(gpus: int, scheduler: str) -> dict[str, Any]:
    base = factory_config(gpus)
    fleets = [f["name"] for f in base["aifactory:fleets"]]
    if scheduler == "kubernetes":
        sched: dict[str, Any] = {
            "kind": "kubernetes",
            "version": VERSION,
            "endpoint": "private",
            "queues": [{"name": "q", "namespace": "train", "gpuQuota": gpus}],
        }
    else:
        sched = {"kind": "slurm", "partitions": [{"name": "p", "fleets": fleets, "default": True}]}
    return {**base, "aifactory:images": IMAGES, "aifactory:scheduler": sched}


def measure(cfg: dict[str, Any]) -> tuple[int, int, float, float]:
    plan = plan_from_config(cfg, "bench")
    start = time.process_time()
    run = run_program(cfg, "bench", plan.spec.region, plan.spec.partition, lambda: deploy(plan))
    plan_s = time.process_time() - start
    resources = [r.as_json() for r in run.resources]
    start = time.process_time()
    found = preflight_findings(plan, resources)
    return len(resources), len(found), plan_s, time.process_time() - start


def main(repeats: int = 3) -> int:
    measure(config(1_024, "kubernetes"))  # warm-up: imports
    print(
        f"{'scheduler':>10} {'GPUs':>7} {'resources':>9} {'findings':>8} {'plan s':>7} {'preflight s':>11} {'ratio':>6}"
    )
    # EKS fleets of more than ~74 p5 nodes per AZ do not fit a /18 today (VPC CNI addresses per
    # node; the scale issue), so EKS runs at 1k GPUs only.
    sizes = {"kubernetes": (1_024,), "slurm": (1_024, 16_384, 100_000)}
    for scheduler, scheduler_sizes in sizes.items():
        for gpus in scheduler_sizes:
            runs = [measure(config(gpus, scheduler)) for _ in range(repeats)]
            plan_s = statistics.median(r[2] for r in runs)
            pre_s = statistics.median(r[3] for r in runs)
            print(
                f"{scheduler:>10} {gpus:>7} {runs[0][0]:>9} {runs[0][1]:>8} {plan_s:>7.3f} {pre_s:>11.3f} "
                f"{pre_s / plan_s:>6.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
