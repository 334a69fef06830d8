"""Hybrid fleets are the customer's own servers: under the Pulumi mocks they create no EC2 resources,
yet reach Kueue (flavor and quota) and Slurm (static nodes with the server's GPUs) like any fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.cli.planrun import plan_stack
from aifactory.planning.factory_plan import plan_from_config
from aifactory.program import deploy

from tests.conftest import PlannedProgram, RunProgram
from tests.stackfiles import HALL_LINK_EKS, HALL_LINK_SLURM, PINNED_IMAGES, write_stack

EC2_TYPES = (
    "aifactory:index:GpuFleet",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:autoscaling/group:Group",
    "aws:ec2/instance:Instance",
)
HALL = {"kind": "datahall", "racks": 12, "rackDefaults": {"powerKw": 60, "cooling": "rear-door", "rackUnits": 48}}


def config(fleets: list[dict[str, Any]], scheduler: dict[str, Any]) -> dict[str, Any]:
    return {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:network": {"availabilityZones": ["us-east-1a", "us-east-1b"]},
        "aifactory:fleets": fleets,
        "aifactory:site": HALL,
        "aifactory:scheduler": scheduler,
        "aifactory:hybrid": HALL_LINK_SLURM if scheduler["kind"] == "slurm" else HALL_LINK_EKS,
    }


def run(run_program: RunProgram, cfg: dict[str, Any]) -> PlannedProgram:
    plan = plan_from_config(cfg, "hall")
    return run_program(lambda: deploy(plan) and None, cfg, stack="hall")


def count(program: PlannedProgram, name_part: str) -> dict[str, int]:
    return {t: sum(1 for r in program.of_type(t) if name_part in r.name) for t in EC2_TYPES}


DGX = {"name": "dgx", "kind": "hybrid", "server": "dgx-b200", "count": 24}
CLOUD = {"name": "cloud", "instanceType": "p5.48xlarge", "count": 2, "availabilityZone": "us-east-1a"}


def test_hybrid_fleet_creates_no_ec2_resources_under_slurm(run_program: RunProgram) -> None:
    slurm = {"kind": "slurm", "partitions": [{"name": "all", "fleets": ["dgx", "cloud"], "default": True}]}
    program = run(run_program, config([DGX, CLOUD], slurm))
    assert all(n == 0 for n in count(program, "dgx").values()), count(program, "dgx")
    # The EC2 fleet next to it is launched as before: its GpuFleet, launch template and instances.
    cloud = count(program, "cloud")
    assert cloud["aifactory:index:GpuFleet"] == 1 and cloud["aws:ec2/launchTemplate:LaunchTemplate"] >= 1
    plan = plan_from_config(config([DGX, CLOUD], slurm), "hall")
    assert plan.slurm is not None
    conf = plan.slurm.config_files["slurm.conf"]
    # Static nodes on the customer's servers: the DGX B200's 224 CPU threads and 8 B200 GPUs.
    assert "NodeName=dgx-[0001-0003] CPUs=224" in conf and "Gres=gpu:b200:8" in conf
    assert {g.fleet for g in plan.slurm.compute_groups} == {"cloud"}
    topology = plan.slurm.config_files["topology.conf"]
    assert "SwitchName=rack-0001 Nodes=dgx-[0001-0003]" in topology


def test_hybrid_fleet_creates_no_ec2_resources_under_kubernetes_and_gets_a_flavor(tmp_path: Path) -> None:
    k8s = {
        "kind": "kubernetes",
        "endpoint": "private",
        "queues": [{"name": "lab", "namespace": "lab", "gpuQuota": 192}],
    }
    # Hybrid nodes need a private endpoint, so Kueue's objects come from the cluster-configuration stack.
    result = plan_stack(str(write_stack(tmp_path, "hall", config([DGX], k8s))))
    infrastructure, cluster = result.stacks["aifactory"], result.stacks["aifactory-cluster"]
    assert not [r.name for r in infrastructure if r.type in EC2_TYPES and "dgx" in r.name]
    flavors = [r.inputs for r in cluster if r.type == "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor"]
    assert [f["metadata"]["name"] for f in flavors] == ["dgx"]
    (queue,) = [r.inputs for r in cluster if r.type == "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"]
    text = yaml.safe_dump(queue)
    assert "nvidia.com/gpu" in text and "nominalQuota: 192" in text


def test_summary_says_owned_servers_have_no_ec2_price() -> None:
    slurm = {"kind": "slurm", "partitions": [{"name": "all", "fleets": ["dgx"], "default": True}]}
    plan = plan_from_config(config([DGX], slurm), "hall")
    (row,) = plan.summary["fleets"]
    assert row["kind"] == "hybrid" and row["server"] == "dgx-b200" and row["gpus"] == 192
    assert row["cost_per_hour_usd"] == 0.0 and "no EC2 price" in row["price_source"]


def test_an_unknown_server_model_exits_2_with_its_path_and_registers_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aifactory.cli.main import main

    slurm = {"kind": "slurm", "partitions": [{"name": "all", "fleets": ["dgx"], "default": True}]}
    stack = write_stack(tmp_path, "bad", config([{**DGX, "server": "dgx-b2000"}], slurm))
    assert main(["plan", str(stack), "--json"]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "aifactory:fleets[0].server" in text and "dgx-b200" in text
    assert "aws:ec2" not in text
