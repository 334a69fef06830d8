"""Each node group's repair settings: defaults sized to the group, one of each pair, vendor's reasons only."""

from __future__ import annotations

from typing import Any

from aifactory.factory import kubernetes_args, plan_node_groups
from aifactory.planning.factory_plan import plan_factory
from aifactory.planning.node_repair import DEFAULT_OVERRIDES, node_repair_args
from aifactory.spec.loading import spec_from_config
from aifactory.spec.scheduler import NodeRepair


def repair(**kw: Any) -> NodeRepair:
    return NodeRepair.model_validate(kw)


def reasons(args: Any) -> set[str]:
    return {o["node_unhealthy_reason"] for o in args.get("overrides", [])}


def test_defaults_stop_above_a_tenth_of_the_group() -> None:
    assert node_repair_args(repair(), 64, "nvidia") | {"overrides": []} == {
        "enabled": True,
        "max_unhealthy_node_threshold_count": 7,
        "max_parallel_nodes_repaired_count": 2,
        "overrides": [],
    }
    # A small group still repairs one node, one at a time.
    small = node_repair_args(repair(), 2, None)
    assert small["max_unhealthy_node_threshold_count"] == 1 and small["max_parallel_nodes_repaired_count"] == 1


def test_a_given_value_replaces_the_default_of_its_pair() -> None:
    args = node_repair_args(
        repair(maxUnhealthyNodeThresholdPercentage=30, maxParallelNodesRepairedPercentage=25), 100, "nvidia"
    )
    assert args["max_unhealthy_node_threshold_percentage"] == 30
    assert args["max_parallel_nodes_repaired_percentage"] == 25
    assert "max_unhealthy_node_threshold_count" not in args and "max_parallel_nodes_repaired_count" not in args
    counted = node_repair_args(repair(maxUnhealthyNodeThresholdCount=3, maxParallelNodesRepairedCount=3), 100, None)
    assert counted["max_unhealthy_node_threshold_count"] == 3 and counted["max_parallel_nodes_repaired_count"] == 3


def test_overrides_of_one_vendor_go_to_its_groups_only() -> None:
    nvidia, neuron, cpu = (node_repair_args(repair(), 8, v) for v in ("nvidia", "aws", None))
    assert "NvidiaXID79Error" in reasons(nvidia) and "NeuronHBMUncorrectableError" not in reasons(nvidia)
    assert reasons(neuron) == {"NeuronHBMUncorrectableError"}
    assert reasons(cpu) == set()
    assert {o.node_unhealthy_reason for o in DEFAULT_OVERRIDES} == reasons(nvidia) | reasons(neuron)


def test_empty_overrides_and_disabled_repair() -> None:
    assert "overrides" not in node_repair_args(repair(overrides=[]), 8, "nvidia")
    assert node_repair_args(repair(enabled=False), 8, "nvidia") == {"enabled": False}


def test_example_stack_node_groups_carry_their_vendor_settings() -> None:
    from pathlib import Path

    from aifactory.spec.stackfile import read_stack_file

    stack = read_stack_file(Path(__file__).parents[2] / "stacks" / "Pulumi.trn2-us.yaml")
    plan = plan_factory(spec_from_config(stack.config), "trn2-us")
    groups = plan_node_groups(plan, None)
    assert groups and all(reasons(g["node_repair"]) == {"NeuronHBMUncorrectableError"} for g in groups)
    assert kubernetes_args(plan, groups, None)["system_node_repair"]["max_unhealthy_node_threshold_count"] == 1
