"""Every Kubernetes scheduler rule catches its bad input and names the config path."""

from __future__ import annotations

from typing import Any

from aifactory.spec.kubernetes_rules import KUBERNETES_RULES
from aifactory.spec.model import FactorySpec


def spec(profile: str = "commercial", **scheduler: Any) -> FactorySpec:
    raw: dict[str, Any] = {
        "region": "eu-central-1" if profile == "sovereign" else "us-east-1",
        "profile": profile,
        "fleets": [{"name": "p5", "instanceType": "p5.48xlarge", "count": 4}],
        "scheduler": {
            "kind": "kubernetes",
            "queues": [{"name": "team", "namespace": "team", "gpuQuota": 16}],
            **scheduler,
        },
    }
    if profile == "sovereign":
        raw["sovereignty"] = {
            "allowedRegions": ["eu-central-1"],
            "registryMirror": "registry.example.internal",
        }
    return FactorySpec.model_validate(raw)


def issues(s: FactorySpec) -> dict[str, str]:
    return {i.path: i.problem for rule in KUBERNETES_RULES for i in rule(s)}


def test_clean_spec_has_no_issues() -> None:
    assert issues(spec()) == {}
    assert issues(spec("sovereign")) == {}


def test_unknown_fleet_suggests_the_closest() -> None:
    s = spec(queues=[{"name": "t", "namespace": "t", "gpuQuota": 8, "fleets": ["p6"]}])
    found = [i for rule in KUBERNETES_RULES for i in rule(s)]
    assert [i.path for i in found] == ["aifactory:scheduler.queues[0].fleets[0]"]
    assert "p5" in found[0].fix


def test_public_endpoint_in_sovereign_stack() -> None:
    found = issues(spec("sovereign", endpoint="public", publicAccessCidrs=["203.0.113.0/24"]))
    assert "private" in found["aifactory:scheduler.endpoint"]


def test_public_endpoint_without_cidrs_or_open_to_all() -> None:
    assert "aifactory:scheduler.publicAccessCidrs" in issues(spec(endpoint="public"))
    found = issues(spec(endpoint="public", publicAccessCidrs=["0.0.0.0/0"]))
    assert "whole internet" in found["aifactory:scheduler.publicAccessCidrs[0]"]
    assert "aifactory:scheduler.publicAccessCidrs[0]" in issues(
        spec(endpoint="public", publicAccessCidrs=["10.0.0.1/8"])
    )


def test_version_eks_does_not_offer() -> None:
    found = issues(spec(version="1.29"))
    assert "does not offer" in found["aifactory:scheduler.version"]


def test_duplicate_queue_names() -> None:
    s = spec(
        queues=[
            {"name": "a", "namespace": "a", "gpuQuota": 8},
            {"name": "a", "namespace": "b", "gpuQuota": 8},
        ]
    )
    assert "queues[0]" in issues(s)["aifactory:scheduler.queues[1].name"]


def test_invalid_and_system_namespaces() -> None:
    s = spec(
        queues=[
            {"name": "a", "namespace": "Team_A", "gpuQuota": 8},
            {"name": "b", "namespace": "kube-system", "gpuQuota": 8},
        ]
    )
    found = issues(s)
    assert "not a valid namespace" in found["aifactory:scheduler.queues[0].namespace"]
    assert "system namespace" in found["aifactory:scheduler.queues[1].namespace"]


def test_priorities_not_unique() -> None:
    found = issues(spec(priorities=["high", "low", "high"]))
    assert "twice" in found["aifactory:scheduler.priorities[2]"]


def test_borrowing_without_cohort() -> None:
    s = spec(queues=[{"name": "a", "namespace": "a", "gpuQuota": 8, "borrowingLimit": 8}])
    assert "cohort" in issues(s)["aifactory:scheduler.queues[0].borrowingLimit"]


def _labelled(labels: dict[str, str], scheduler: str = "kubernetes") -> FactorySpec:
    raw: dict[str, Any] = {
        "region": "us-east-1",
        "profile": "commercial",
        "fleets": [{"name": "p5", "instanceType": "p5.48xlarge", "count": 4, "labels": labels}],
        "scheduler": {"kind": "slurm", "partitions": [{"name": "train", "fleets": ["p5"], "default": True}]}
        if scheduler == "slurm"
        else {"kind": "kubernetes", "queues": [{"name": "team", "namespace": "team", "gpuQuota": 16}]},
    }
    return FactorySpec.model_validate(raw)


def test_fleet_labels_fit_the_eks_node_group_limits() -> None:
    long_key = "research.example.com/" + "a" * 43  # 64 characters: a Kubernetes key, too long for EKS
    found = issues(_labelled({long_key: "x", "tier": "", "team.example.com/name": "ml"}))
    assert "64 characters" in found[f"aifactory:fleets[0].labels.{long_key}"]
    assert "is empty" in found["aifactory:fleets[0].labels.tier"]
    assert "aifactory:fleets[0].labels.team.example.com/name" not in found
    assert issues(_labelled({"x" * 63: "v"})) == {}


def test_eks_label_limits_do_not_apply_without_eks() -> None:
    assert issues(_labelled({"tier": ""}, scheduler="slurm")) == {}
