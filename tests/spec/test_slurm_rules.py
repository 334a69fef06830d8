"""Bad Slurm scheduler config: each rule names the config path and a fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aifactory.spec import FactorySpec
from aifactory.spec.slurm_rules import (
    SLURM_RULES,
    slurm_one_default_partition,
    slurm_partition_fleets_known,
    slurm_partition_names_unique,
    slurm_version_supported,
)

BASE: dict[str, Any] = {
    "region": "us-east-1",
    "profile": "commercial",
    "fleets": [
        {"name": "train", "instanceType": "p5.48xlarge", "count": 2},
        {"name": "eval", "instanceType": "p4d.24xlarge", "count": 1},
    ],
    "scheduler": {
        "kind": "slurm",
        "version": "22.05",
        "partitions": [
            {"name": "train", "fleets": ["train"], "default": True},
            {"name": "eval", "fleets": ["eval"]},
        ],
    },
}


def spec_with(**scheduler: Any) -> FactorySpec:
    raw = copy.deepcopy(BASE)
    raw["scheduler"].update(scheduler)
    return FactorySpec.model_validate(raw)


def test_a_valid_slurm_scheduler_has_no_issues() -> None:
    spec = spec_with()
    assert [issue for rule in SLURM_RULES for issue in rule(spec)] == []


def test_rules_ignore_a_kubernetes_scheduler() -> None:
    raw = copy.deepcopy(BASE)
    raw["scheduler"] = {"kind": "kubernetes"}
    spec = FactorySpec.model_validate(raw)
    assert [issue for rule in SLURM_RULES for issue in rule(spec)] == []


def test_unknown_fleet_names_the_path_and_suggests_the_closest() -> None:
    spec = spec_with(partitions=[{"name": "train", "fleets": ["train", "evl"]}])
    [issue] = list(slurm_partition_fleets_known(spec))
    assert issue.path == "aifactory:scheduler.partitions[0].fleets[1]"
    assert "'evl'" in issue.problem
    assert "did you mean 'eval'" in issue.fix


def test_two_default_partitions_are_refused() -> None:
    spec = spec_with(
        partitions=[
            {"name": "train", "fleets": ["train"], "default": True},
            {"name": "eval", "fleets": ["eval"], "default": True},
        ]
    )
    [issue] = list(slurm_one_default_partition(spec))
    assert issue.path == "aifactory:scheduler.partitions[1].default"
    assert "second default" in issue.problem


def test_duplicate_partition_names_are_refused() -> None:
    spec = spec_with(partitions=[{"name": "gpu", "fleets": ["train"]}, {"name": "gpu", "fleets": ["eval"]}])
    [issue] = list(slurm_partition_names_unique(spec))
    assert issue.path == "aifactory:scheduler.partitions[1].name"
    assert "partitions[0]" in issue.problem


@pytest.mark.parametrize("version", ["21.08", "26.05", "24.1", "latest"])
def test_unsupported_version_is_refused(version: str) -> None:
    [issue] = list(slurm_version_supported(spec_with(version=version)))
    assert issue.path == "aifactory:scheduler.version"
    assert f"'{version}'" in issue.problem
    assert "22.05" in issue.fix


@pytest.mark.parametrize("version", ["22.05", "22.05.8", "24.11", "25.05"])
def test_supported_versions_pass(version: str) -> None:
    assert list(slurm_version_supported(spec_with(version=version))) == []
