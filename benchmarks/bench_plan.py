"""Plan scale: time and resource count of `aifactory plan` for ~1k, 16k and 100k GPU factories,
against the SDK's own floor (registering the same number of bare resources under the same mocks).

    python benchmarks/bench_plan.py            # prints a table; figures are ratios from one run

Resource count must grow with fleets and placement domains, never with node count.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import pulumi
from aifactory.cli.engine import PlannedResource, run_program
from aifactory.program import main as program_main
from aifactory.spec import spec_from_config
from aifactory.spec.images import dlami_key

# Stacks pin their images (`aifactory images pin`); the mocks accept any well-formed id.
BENCH_IMAGES = {dlami_key("nvidia"): "ami-0b0e0c0b0e0c0b0e0"}

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]


def factory_config(gpus: int) -> dict[str, Any]:
    """p5.48xlarge (8 GPUs) fleets of at most 1,024 nodes, spread over four AZs."""
    nodes = gpus // 8
    fleets = []
    index = 0
    while nodes > 0:
        count = min(nodes, 1024)
        fleets.append(
            {
                "name": f"f{index}",
                "instanceType": "p5.48xlarge",
                "count": count,
                "availabilityZone": ZONES[index % len(ZONES)],
            }
        )
        nodes -= count
        index += 1
    return {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:network": {"cidr": "10.0.0.0/16", "availabilityZones": ZONES, "egress": "none"},
        "aifactory:fleets": fleets,
        "aifactory:images": BENCH_IMAGES,
    }


def time_plan(config: dict[str, Any]) -> tuple[float, list[PlannedResource]]:
    spec = spec_from_config(config)
    start = time.process_time()
    run = run_program(config, "bench", spec.region, spec.partition, program_main)
    return time.process_time() - start, run.resources


def time_bare(count: int) -> float:
    """The SDK's floor: the same number of resources with one small input each."""

    def program() -> None:
        for i in range(count):
            pulumi.CustomResource("bench:index:Bare", f"bare-{i}", {"value": i})

    start = time.process_time()
    run_program({"aws:region": "us-east-1"}, "bare", "us-east-1", "aws", program)
    return time.process_time() - start


def time_replay(resources: list[PlannedResource]) -> float:
    """The SDK's cost for exactly these registrations: every planned resource's recorded inputs
    registered directly, with none of the factory's validation, planning, rendering or Outputs."""

    def program() -> None:
        for i, resource in enumerate(resources):
            if resource.custom:
                pulumi.CustomResource(resource.type, f"r{i}", dict(resource.inputs))

    start = time.process_time()
    run_program({"aws:region": "us-east-1"}, "replay", "us-east-1", "aws", program)
    return time.process_time() - start


def main(repeats: int = 5) -> int:
    time_plan(factory_config(1_024))  # warm-up: first use imports pulumi_aws's resource modules
    print(
        f"{'GPUs':>7} {'nodes':>6} {'fleets':>6} {'resources':>9} {'plan s':>7} {'bare s':>7} {'replay s':>8} "
        f"{'plan/bare':>9} {'plan/replay':>11}"
    )
    for gpus in (1_024, 16_384, 100_000):
        config = factory_config(gpus)
        plans, bares, replays = [], [], []
        resources: list[PlannedResource] = []
        for _ in range(repeats):
            seconds, resources = time_plan(config)
            plans.append(seconds)
            bares.append(time_bare(len(resources)))
            replays.append(time_replay(resources))
        plan_s, bare_s, replay_s = (statistics.median(x) for x in (plans, bares, replays))
        print(
            f"{gpus:>7} {gpus // 8:>6} {len(config['aifactory:fleets']):>6} {len(resources):>9} "
            f"{plan_s:>7.3f} {bare_s:>7.3f} {replay_s:>8.3f} {plan_s / bare_s:>9.2f} {plan_s / replay_s:>11.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
