"""Pinned images: the program reads no SSM parameter, boots exactly the pinned ids, and a new public
image release (a parameter that now names another AMI) changes no input of any instance, launch
template, autoscaling group or node group."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import yaml
from aifactory.cli.mocks import FactoryMocks
from aifactory.cli.planrun import plan_stack, resolve_stack_file
from aifactory.schedulers.kubernetes import update_config

from tests.stackfiles import EXAMPLE_STACKS, base, write_stack

EXAMPLES = list(EXAMPLE_STACKS)
BOOTING = (
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/instance:Instance",
    "aws:autoscaling/group:Group",
    "aws:eks/nodeGroup:NodeGroup",
)


@pytest.fixture
def floating_ssm(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """SSM answers a new AMI at every lookup, as after each public release; records every invoke."""
    tokens: list[str] = []
    counter = itertools.count()
    original = FactoryMocks._invoke

    def invoke(self: FactoryMocks, token: str, inputs: dict[str, Any]) -> dict[Any, Any]:
        tokens.append(token)
        if token == "aws:ssm/getParameter:getParameter":
            value = f"ami-{next(counter):017x}"
            return {"name": inputs.get("name"), "value": value, "insecureValue": value, "type": "String"}
        return original(self, token, inputs)

    monkeypatch.setattr(FactoryMocks, "_invoke", invoke)
    return tokens


def _booting_inputs(stack: str) -> dict[str, Any]:
    return {r.urn: r.inputs for r in plan_stack(stack).resources if r.type in BOOTING}


def _pins(stack: str) -> dict[str, str]:
    document = yaml.safe_load(resolve_stack_file(stack, None).read_text())
    return dict(document["config"]["aifactory:images"])


@pytest.mark.parametrize("stack", EXAMPLES)
def test_the_program_reads_no_parameter_and_boots_the_pins(stack: str, floating_ssm: list[str]) -> None:
    result = plan_stack(stack)
    assert "aws:ssm/getParameter:getParameter" not in floating_ssm
    pins = _pins(stack)
    templates = [r for r in result.resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"]
    images = {r.inputs["imageId"] for r in templates if not r.name.endswith("-system")}
    # The EKS system group's template names no image: EKS boots its pinned `amiType` release.
    assert all("imageId" not in r.inputs for r in templates if r.name.endswith("-system"))
    booted = ("dlami-", "eks-", "node-")
    fleet_keys = {
        k for k in pins if k.startswith(booted) and not k.endswith(("-system-release", "-standard", "-slurm-head"))
    }
    assert images == {pins[k] for k in fleet_keys}
    heads = [r for r in result.resources if r.type == "aws:ec2/instance:Instance" and r.name.endswith("-head")]
    # The head boots its built image when the stack boots built ones; `slurm-head` is then their parent.
    head_key = "node-slurm-head" if "node-slurm-head" in pins else "slurm-head"
    assert [h.inputs["ami"] for h in heads] == ([pins[head_key]] if head_key in pins else [])
    system = [r for r in result.resources if r.type == "aws:eks/nodeGroup:NodeGroup" and r.name.endswith("-system")]
    release = [v for k, v in pins.items() if k.endswith("-system-release")]
    assert [s.inputs["releaseVersion"] for s in system] == release
    assert all(s.inputs["amiType"] == "AL2023_x86_64_STANDARD" for s in system)


@pytest.mark.parametrize("stack", EXAMPLES)
def test_a_new_public_image_release_changes_no_booting_input(stack: str, floating_ssm: list[str]) -> None:
    first = _booting_inputs(stack)
    second = _booting_inputs(stack)
    assert first and first == second


def test_asg_fleets_boot_their_own_ami_over_the_pin(tmp_path: Any, floating_ssm: list[str]) -> None:
    config = base()
    config["aifactory:fleets"][1]["amiId"] = "ami-0fedcba9876543210"
    path = write_stack(tmp_path, "own", config)
    result = plan_stack(str(path))
    images = {
        r.name: r.inputs["imageId"] for r in result.resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"
    }
    assert {v for k, v in images.items() if "eval" in k} == {"ami-0fedcba9876543210"}
    assert {v for k, v in images.items() if "train" in k} == {config["aifactory:images"]["dlami-nvidia"]}
    assert len(result.plan.spec.fleets) == 2 and [r for r in result.resources if r.type == BOOTING[2]]


@pytest.mark.parametrize(
    ("capacity", "strategy"),
    [("capacity-block", "MINIMAL"), ("capacity-reservation", "MINIMAL"), ("on-demand", None), ("spot", None)],
)
def test_reserved_capacity_updates_terminate_before_launching(capacity: str, strategy: str | None) -> None:
    config = update_config(capacity)
    assert config.max_unavailable == 1  # type: ignore[attr-defined]
    assert getattr(config, "update_strategy", None) == strategy


def test_capacity_block_groups_export_the_scale_to_zero_update() -> None:
    result = plan_stack("commercial-us")
    updates = result.outputs["capacityBlockUpdates"]
    blocks = {g.name: g.nodes for g in result.plan.node_groups if g.capacity_type == "capacity-block"}
    assert set(updates) == set(blocks) and blocks  # the on-demand groups need no such procedure
    for group, nodes in blocks.items():
        down, wait, up, back = updates[group]
        assert down.startswith("aws eks update-nodegroup-config --region us-east-1 --cluster-name ")
        assert f"--nodegroup-name {group} --scaling-config minSize=0,maxSize={nodes},desiredSize=0" in down
        assert wait.startswith("aws eks wait nodegroup-active") and up == "pulumi up"
        assert back.endswith(f"--scaling-config minSize={nodes},maxSize={nodes},desiredSize={nodes}")
    assert "capacityBlockUpdates" not in plan_stack("sovereign-eu").outputs  # a reservation, not a block


def test_update_commands_quote_every_name() -> None:
    from aifactory.schedulers.node_groups import capacity_block_update_steps

    steps = capacity_block_update_steps(None, "my cluster", "g;rm", 2)
    assert steps[0] == (
        "aws eks update-nodegroup-config --cluster-name 'my cluster' --nodegroup-name 'g;rm' "
        "--scaling-config minSize=0,maxSize=2,desiredSize=0"
    )


def test_a_spec_validated_without_its_pins_registers_nothing(run_program: Any) -> None:
    from aifactory.factory import AiFactory
    from aifactory.spec import ConfigError, spec_from_config

    config = base()
    del config["aifactory:images"]
    spec = spec_from_config(config, require_pinned_images=False)  # what `images pin` reads
    refused: list[ConfigError] = []

    def program() -> None:
        try:
            AiFactory("research", {}, spec=spec)
        except ConfigError as exc:
            refused.append(exc)

    planned = run_program(program, stack="research")
    assert [i.path for i in refused[0].issues] == ["aifactory:images.dlami-nvidia"]
    assert [r.type for r in planned.resources if r.type != "pulumi:pulumi:Stack"] == []
