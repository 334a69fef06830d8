"""The scale and fixed-cost benchmarks run at tiny sizes and report a refused stack instead of
crashing. No timing is asserted: the figures are for `benchmarks/*.md`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_scale_fleets_hold_every_node_on_capacity_reservations() -> None:
    scale = _bench("bench_scale")
    config = scale.stack_config("slurm", 2 * scale.FLEET_NODES * scale.GPUS_PER_NODE + 8, per_zone=False)
    fleets = config["aifactory:fleets"]
    assert [f["count"] for f in fleets] == [scale.FLEET_NODES, scale.FLEET_NODES, 1]
    assert {f["capacity"]["type"] for f in fleets} == {"capacity-reservation"}
    assert len({f["capacity"]["reservationId"] for f in fleets}) == 3


def test_scale_reports_a_refused_stack_and_judges_the_targets() -> None:
    scale = _bench("bench_scale")
    # 12,500 nodes' interfaces and pods above the VPC's default Network Address Usage quota.
    refused = scale.run_case("kubernetes", 100_000, {"networkAddressUsageQuota": 64_000})
    planned = scale.run_case("slurm", 8, None)
    assert planned["resources"] > 0 and planned["violations"] == 0
    text = scale.table(
        {("slurm", 8): planned, ("slurm", 16): dict(planned, resources=planned["resources"] * 5)},
        {8: {"nodes": 1, "fleets": 1, "placement_s": 0.01}, 16: {"nodes": 2, "fleets": 1, "placement_s": 0.3}},
        [8, 16],
    )
    assert "5.00 (<= 4: FAIL)" in text and "30.00 (<= 20: FAIL)" in text
    assert "networkAddressUsageQuota" in refused["refused"]
    row = scale.table({("kubernetes", 100_000): refused}, {}, [100_000])
    assert f"| kubernetes | 100,000 | refused: {refused['refused']} |" in row
    assert refused["refused"].startswith("aifactory:")


def test_fixed_cost_floor_imports_the_provider_module_of_every_type() -> None:
    fixed = _bench("bench_fixed_cost")
    types = [
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:iam/role:Role",
        "kubernetes:core/v1:Namespace",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:kueue.x-k8s.io/v1beta1:ClusterQueue",
        "aifactory:index:GpuFleet",
        "pulumi:providers:kubernetes",
    ]
    assert fixed.provider_modules(types) == [
        "pulumi_aws.ec2",
        "pulumi_aws.iam",
        "pulumi_kubernetes.apiextensions",
        "pulumi_kubernetes.core.v1",
        "pulumi_kubernetes.rbac.v1",
    ]
