"""Components used on their own validate their args with the stack config's rules, all problems at once,
before anything (the component included) is registered, each at its arg path with a fix."""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import aifactory
import pytest
from aifactory import (
    AiFactory,
    FactoryNetwork,
    GpuFleet,
    KubernetesNodeGroups,
    KubernetesScheduler,
    ParallelFilesystem,
    SlurmScheduler,
)
from aifactory.component_args import ComponentArgsError, shape_issues
from aifactory.spec import ConfigError

from tests.conftest import RunProgram

FLEET: dict[str, Any] = {
    "instance_type": "p5.48xlarge",
    "subnet_id": "subnet-0123",
    "ami_id": "ami-0123456789abcdef0",
    "security_group_ids": ["sg-1"],
    "domains": [{"name": "gpu-d0", "nodes": 2, "placement": "cluster", "placement_group": "gpu-cluster"}],
}
NETWORK: dict[str, Any] = {
    "cidr": "10.1.0.0/16",
    "availability_zones": ["us-east-1a", "us-east-1b"],
    "region": "us-east-1",
}
FILESYSTEM: dict[str, Any] = {
    "subnet_id": "subnet-a",
    "vpc_id": "vpc-1",
    "client_security_group_id": "sg-1",
    "region": "us-east-1",
    "partition": "aws",
    "capacity_tib": 12.0,
}
KUBERNETES: dict[str, Any] = {"version": "1.35", "region": "us-east-1", "subnet_ids": ["subnet-a", "subnet-b"]}
NODE_GROUP: dict[str, Any] = {
    "name": "train-d0",
    "fleet": "train",
    "instance_type": "p5.48xlarge",
    "nodes": 2,
    "subnet_id": "subnet-a",
}
SLURM: dict[str, Any] = {
    "cluster_name": "research",
    "controller_host": "head",
    "version": "23.11",
    "config_files": {},
    "region": "us-east-1",
    "vpc_id": "vpc-1",
    "subnet_id": "subnet-a",
    "fleet_security_group_ids": ["sg-1"],
    "compute_groups": [],
    "head_ami_id": "ami-0123456789abcdef0",
}
BLOCK_END = "2026-12-15T11:30:00Z"  # after the tests' plan time (conftest.TEST_PLAN_TIME), at 11:30 UTC


def refused(run_program: RunProgram, build: Callable[[], object]) -> ConfigError:
    """The error `build` raises under the mocks; asserts that nothing at all was registered."""
    raised: list[ConfigError] = []

    def program() -> None:
        try:
            build()
        except ConfigError as exc:
            raised.append(exc)

    empty = len(run_program(lambda: None).resources)
    planned = run_program(program)
    assert raised, "the args were accepted"
    assert len(planned.resources) == empty, [r.urn for r in planned.resources]
    assert isinstance(raised[0], ComponentArgsError)
    return raised[0]


def messages(error: ConfigError) -> dict[str, str]:
    return {issue.path: f"{issue.problem}. Fix: {issue.fix}" for issue in error.errors}


def test_an_instance_type_typo_names_the_arg_and_the_closest_catalog_type(run_program: RunProgram) -> None:
    error = refused(run_program, lambda: GpuFleet("gpu", {**FLEET, "instance_type": "p5.48xlarg"}))
    found = messages(error)
    assert list(found) == ["GpuFleetArgs.instance_type"]
    assert "'p5.48xlarg' is not in the hardware catalog" in found["GpuFleetArgs.instance_type"]
    assert "did you mean 'p5.48xlarge'?" in found["GpuFleetArgs.instance_type"]


def test_an_unknown_and_a_missing_key_come_together_with_the_closest_key(run_program: RunProgram) -> None:
    args = {k: v for k, v in FLEET.items() if k != "subnet_id"} | {"instance_typ": "p5.48xlarge"}
    del args["instance_type"]
    found = messages(refused(run_program, lambda: GpuFleet("gpu", args)))  # type: ignore[arg-type]
    assert "did you mean 'instance_type'?" in found["GpuFleetArgs.instance_typ"]
    assert found["GpuFleetArgs.subnet_id"].startswith("is required but missing")
    assert found["GpuFleetArgs.instance_type"].startswith("is required but missing")
    assert "KeyError" not in str(found)


@pytest.mark.parametrize(
    ("capacity", "paths", "says"),
    [
        (
            {"capacity_type": "reserved"},
            ["GpuFleetArgs.capacity_type"],
            "'reserved' is not allowed. Fix: use one of: capacity-block, capacity-reservation, on-demand, spot",
        ),
        ({"capacity_type": "capacity-blok"}, ["GpuFleetArgs.capacity_type"], "did you mean 'capacity-block'?"),
        (
            {"capacity_type": "capacity-block"},
            ["GpuFleetArgs.reservation_id", "GpuFleetArgs.capacity_block_end"],
            "needs the reservation's id",
        ),
        ({"capacity_type": "capacity-reservation"}, ["GpuFleetArgs.reservation_id"], "set `reservation_id: cr-"),
        (
            {
                "capacity_type": "capacity-block",
                "reservation_id": "cr-0123456789abcdef0",
                "capacity_block_end": "2020-01-01T11:30:00Z",
            },
            ["GpuFleetArgs.capacity_block_end"],
            "is in the past",
        ),
        ({"reservation_id": "cr-0123456789abcdef0"}, ["GpuFleetArgs.reservation_id"], "does not use a reservation"),
        ({"reservation_id": "cr-nothex"}, ["GpuFleetArgs.reservation_id"], "String should match pattern"),
    ],
)
def test_capacity_args_follow_the_stack_capacity_rules(
    run_program: RunProgram, capacity: dict[str, Any], paths: list[str], says: str
) -> None:
    found = messages(refused(run_program, lambda: GpuFleet("gpu", {**FLEET, **capacity})))
    assert sorted(found) == sorted(paths)
    assert says in " ".join(found.values())


def test_a_capacity_block_with_its_id_and_end_is_accepted(run_program: RunProgram) -> None:
    args = {**FLEET, "capacity_type": "capacity-block", "reservation_id": "cr-0123456789abcdef0"}
    planned = run_program(lambda: GpuFleet("gpu", {**args, "capacity_block_end": BLOCK_END}))
    assert any(r.type == "aws:ec2/launchTemplate:LaunchTemplate" for r in planned.resources)


@pytest.mark.parametrize("nodes", [0, -1, True, 2.0, "2"])
def test_domain_node_counts_are_strict_counts(run_program: RunProgram, nodes: object) -> None:
    domains = [FLEET["domains"][0], {"name": "gpu-d1", "nodes": nodes}]
    found = messages(refused(run_program, lambda: GpuFleet("gpu", {**FLEET, "domains": domains})))
    assert list(found) == ["GpuFleetArgs.domains[1].nodes"]


def test_every_problem_is_reported_at_once(run_program: RunProgram) -> None:
    args = {
        **FLEET,
        "instance_type": "p5.48xlarg",
        "capacity_type": "capacity-block",
        "root_volume_gib": 10,
        "scheduler": "kubernete",
        "domains": [{"name": "gpu-d0", "nodes": 0}],
    }
    found = messages(refused(run_program, lambda: GpuFleet("gpu", args)))
    assert set(found) >= {
        "GpuFleetArgs.instance_type",
        "GpuFleetArgs.reservation_id",
        "GpuFleetArgs.capacity_block_end",
        "GpuFleetArgs.root_volume_gib",
        "GpuFleetArgs.scheduler",
        "GpuFleetArgs.domains[0].nodes",
    }
    assert "did you mean 'kubernetes'?" in found["GpuFleetArgs.scheduler"]


def test_efa_layout_on_a_type_without_efa_is_refused(run_program: RunProgram) -> None:
    found = messages(refused(run_program, lambda: GpuFleet("gpu", {**FLEET, "instance_type": "g6.xlarge"})))
    assert "'g6.xlarge' has no EFA support" in found["GpuFleetArgs.instance_type"]


def test_wrong_types_name_the_expected_type(run_program: RunProgram) -> None:
    args = {**FLEET, "security_group_ids": "sg-1", "root_volume_gib": "200", "tags": {"team": 1}}
    found = messages(refused(run_program, lambda: GpuFleet("gpu", args)))
    assert found["GpuFleetArgs.security_group_ids"].startswith("is 'sg-1' (str), not a list")
    assert found["GpuFleetArgs.root_volume_gib"].startswith("is '200' (str), not an integer")
    assert found["GpuFleetArgs.tags['team']"].startswith("is 1 (int), not a string")


def test_network_zones_of_another_region_and_a_region_typo(run_program: RunProgram) -> None:
    found = messages(
        refused(run_program, lambda: FactoryNetwork("net", {**NETWORK, "availability_zones": ["eu-west-1a"]}))
    )
    assert list(found) == ["FactoryNetworkArgs.availability_zones[0]"]
    assert "'eu-west-1a' is not an AZ of us-east-1" in found["FactoryNetworkArgs.availability_zones[0]"]
    found = messages(refused(run_program, lambda: FactoryNetwork("net", {**NETWORK, "region": "eu-nort-1"})))
    assert list(found) == ["FactoryNetworkArgs.region"]
    assert "did you mean 'eu-north-1'?" in found["FactoryNetworkArgs.region"]


def test_network_cidr_egress_and_partition(run_program: RunProgram) -> None:
    args = {**NETWORK, "cidr": "10.1.0.0/8", "egress": "nta", "partition": "aws-cn"}
    found = messages(refused(run_program, lambda: FactoryNetwork("net", args)))
    assert set(found) == {"FactoryNetworkArgs.cidr", "FactoryNetworkArgs.egress", "FactoryNetworkArgs.partition"}
    assert "did you mean 'nat'?" in found["FactoryNetworkArgs.egress"]
    assert "is not the partition of region us-east-1 ('aws')" in found["FactoryNetworkArgs.partition"]


def test_file_system_args_follow_the_storage_rules(run_program: RunProgram) -> None:
    args = {**FILESYSTEM, "deployment_type": "PERSISTENT2", "capacity_tib": -1.0, "checkpoint_size_tb": 4.0}
    found = messages(refused(run_program, lambda: ParallelFilesystem("fsx", args)))
    assert "did you mean 'PERSISTENT_2'?" in found["ParallelFilesystemArgs.deployment_type"]
    assert "ParallelFilesystemArgs.capacity_tib" in found
    assert found["ParallelFilesystemArgs.checkpoint_seconds"].startswith("is required but missing")


def test_kubernetes_scheduler_version_queues_and_endpoint(run_program: RunProgram) -> None:
    args = {
        **KUBERNETES,
        "version": "1.99",
        "endpoint": "publik",
        "queues": [{"name": "train", "namespace": "team-a", "gpu_quota": -8}],
    }
    found = messages(refused(run_program, lambda: KubernetesScheduler("k8s", args)))
    assert "EKS does not offer Kubernetes 1.99" in found["KubernetesSchedulerArgs.version"]
    assert "did you mean 'public'?" in found["KubernetesSchedulerArgs.endpoint"]
    assert "KubernetesSchedulerArgs.queues[0].gpu_quota" in found


def test_kubernetes_queues_name_fleets_of_the_node_groups(run_program: RunProgram) -> None:
    args = {
        **KUBERNETES,
        "node_groups": [NODE_GROUP],
        "queues": [{"name": "train", "namespace": "team-a", "gpu_quota": 8, "fleets": ["trian"]}],
    }
    found = messages(refused(run_program, lambda: KubernetesScheduler("k8s", args)))
    assert "did you mean 'train'?" in found["KubernetesSchedulerArgs.queues[0].fleets[0]"]


def test_node_groups_follow_the_fleet_rules(run_program: RunProgram) -> None:
    groups = [{**NODE_GROUP, "instance_type": "p5en.48xlarg", "taints": ["gpu"]}]
    args = {"cluster_name": "c", "resource_prefix": "k8s", "groups": groups}
    found = messages(refused(run_program, lambda: KubernetesNodeGroups("groups", args)))
    assert "did you mean 'p5en.48xlarge'?" in found["KubernetesNodeGroupsArgs.groups[0].instance_type"]
    assert "has no effect" in found["KubernetesNodeGroupsArgs.groups[0].taints[0]"]


def test_slurm_scheduler_is_refused_before_it_registers(run_program: RunProgram) -> None:
    args = {**SLURM, "cluster_name": "Research_1", "version": "2x.11", "region": "eu-nort-1"}
    found = messages(refused(run_program, lambda: SlurmScheduler("slurm", args)))
    assert "lowercase" in found["SlurmSchedulerArgs.cluster_name"]
    assert "SlurmSchedulerArgs.version" in found
    assert "did you mean 'eu-north-1'?" in found["SlurmSchedulerArgs.region"]


def test_ai_factory_args_and_their_config_paths(run_program: RunProgram) -> None:
    found = messages(refused(run_program, lambda: AiFactory("f", {"regoin": "us-east-1"})))  # type: ignore[typeddict-unknown-key]
    assert "did you mean 'region'?" in found["AiFactoryArgs.regoin"]
    config = {"profile": "commercial", "fleets": [{"name": "train", "instanceType": "p5.48xlarg", "count": 2}]}
    found = messages(refused(run_program, lambda: AiFactory("f", {"region": "us-east-1", "config": config})))
    assert "did you mean 'p5.48xlarge'?" in found["AiFactoryArgs.config.fleets[0].instanceType"]


ARGS = {
    "AiFactory": aifactory.AiFactoryArgs,
    "FactoryNetwork": aifactory.FactoryNetworkArgs,
    "GpuFleet": aifactory.GpuFleetArgs,
    "ParallelFilesystem": aifactory.ParallelFilesystemArgs,
    "KubernetesScheduler": aifactory.KubernetesSchedulerArgs,
    "KubernetesNodeGroups": aifactory.KubernetesNodeGroupsArgs,
    "SlurmScheduler": aifactory.SlurmSchedulerArgs,
}


def test_every_public_component_has_its_args_here() -> None:
    assert {c.__name__ for c in aifactory.COMPONENTS} == set(ARGS)


@pytest.mark.parametrize("component", sorted(ARGS))
def test_empty_args_name_every_required_key(run_program: RunProgram, component: str) -> None:
    args_type = ARGS[component]
    cls = getattr(aifactory, component)
    if not args_type.__required_keys__:
        # AiFactory: nothing required (a Python caller passes plan=); without a plan the config is.
        found = messages(refused(run_program, lambda: cls("c", {})))
        assert found and all(p.startswith("AiFactoryArgs.") for p in found)
        return
    found = messages(refused(run_program, lambda: cls("c", {})))
    assert set(found) == {f"{args_type.__name__}.{k}" for k in args_type.__required_keys__}
    assert all(m.startswith("is required but missing") for m in found.values())


@pytest.mark.parametrize("component", sorted(ARGS))
def test_type_hints_resolve(component: str) -> None:
    hints = typing.get_type_hints(ARGS[component])
    assert hints and set(hints) == set(ARGS[component].__annotations__)
    # Nested TypedDicts (domains, node groups, queues, compute groups) resolve too.
    for hint in hints.values():
        for inner in typing.get_args(hint):
            if typing.is_typeddict(inner):
                typing.get_type_hints(inner)


def test_the_shape_check_accepts_outputs_where_an_input_is_declared() -> None:
    import pulumi

    args = {
        **FLEET,
        "subnet_id": pulumi.Output.from_input("subnet-1"),
        "security_group_ids": [pulumi.Output.from_input("sg")],
    }
    assert shape_issues(aifactory.GpuFleetArgs, args) == []
