"""Node labels, the Kueue Topology and Slurm's topology.conf all agree with the plan's switch tree."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from aifactory.planning.placement import (
    LABEL_BLOCK,
    LABEL_DOMAIN,
    LABEL_FLEET,
    LABEL_RACK,
    PlacementError,
    plan_placement,
)
from aifactory.planning.topology import kueue_topologies, node_labels, slurm_topology_conf
from aifactory.spec.model import FactorySpec
from hypothesis import given, settings
from hypothesis import strategies as st


def expand_hostlist(text: str) -> list[str]:
    """Inverse of compress_hostlist, written independently: `a-[01-03,07],b` -> a-01 a-02 a-03 a-07 b."""
    names: list[str] = []
    for prefix, body, plain in re.findall(r"([^,\[]*)\[([^\]]*)\]|([^,\[\]]+)", text):
        if plain:
            names.append(plain)
            continue
        for part in body.split(","):
            lo, _, hi = part.partition("-")
            width = len(lo)
            for n in range(int(lo), int(hi or lo) + 1):
                names.append(f"{prefix}{n:0{width}d}")
    return names


def parse_topology_conf(text: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Leaf switch -> nodes, upper switch -> child switches."""
    leaves: dict[str, list[str]] = {}
    uppers: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        fields = dict(item.split("=", 1) for item in line.split())
        if "Nodes" in fields:
            leaves[fields["SwitchName"]] = expand_hostlist(fields["Nodes"])
        else:
            uppers[fields["SwitchName"]] = expand_hostlist(fields["Switches"])
    return leaves, uppers


def test_expand_hostlist_reads_slurm_notation() -> None:
    assert expand_hostlist("gpu-[001-003,007],login") == ["gpu-001", "gpu-002", "gpu-003", "gpu-007", "login"]


def assert_agree(spec: FactorySpec) -> None:
    plan = plan_placement(spec)
    labels = node_labels(plan)
    every_host = {h for d in plan.domains for h in d.hostnames}
    assert set(labels) == every_host
    topologies = kueue_topologies(plan)
    for topo in topologies:
        levels = [level["nodeLabel"] for level in topo["spec"]["levels"]]
        assert topo["apiVersion"] == "kueue.x-k8s.io/v1beta2" and topo["kind"] == "Topology"
        assert levels == plan.kueue_topologies()[topo["metadata"]["name"]] and levels[-1] == "kubernetes.io/hostname"
        assert len(levels) == len(set(levels)) and 1 <= len(levels) <= 16
    if plan.site == "aws":
        # EC2: no planned switches, no switch labels; the levels are EKS's network-node-layer labels.
        assert plan.switch_tree.switches == ()
        for host_labels in labels.values():
            assert LABEL_BLOCK not in host_labels and LABEL_DOMAIN not in host_labels
            assert LABEL_FLEET in host_labels
        return
    leaves, uppers = parse_topology_conf(slurm_topology_conf(plan.switch_tree))
    parent = {child: up for up, children in uppers.items() for child in children}
    host_leaf = {h: leaf for leaf, hosts in leaves.items() for h in hosts}
    assert every_host == set(host_leaf)
    roots = [s for s in uppers if s not in parent]
    assert len(roots) == 1
    for host, leaf in host_leaf.items():
        assert labels[host][LABEL_RACK] == leaf
        assert labels[host][LABEL_BLOCK] == parent[leaf]
    (topo,) = topologies
    levels = [level["nodeLabel"] for level in topo["spec"]["levels"]]
    # Every level above hostname is a label each node carries.
    assert all(level in labels[h] for h in labels for level in levels[:-1])


def test_datahall_outputs_agree_and_conf_is_compact() -> None:
    spec = FactorySpec.model_validate(
        {
            "region": "us-east-1",
            "profile": "commercial",
            "fleets": [{"name": "train", "kind": "hybrid", "server": "dgx-h100", "count": 100}],
            "site": {"kind": "datahall", "racks": 40},
        }
    )
    assert_agree(spec)
    conf = slurm_topology_conf(plan_placement(spec).switch_tree)
    assert "SwitchName=rack-0001 Nodes=train-[0001-0003]" in conf
    assert "SwitchName=block-001 Switches=rack-[0001-0016]" in conf
    assert conf.rstrip().splitlines()[-1] == "SwitchName=fabric Switches=block-[001-003]"


def test_aws_outputs_agree() -> None:
    spec = FactorySpec.model_validate(
        {
            "region": "us-east-1",
            "profile": "commercial",
            "fleets": [
                {"name": "train", "instanceType": "p5.48xlarge", "count": 30, "placement": {"strategy": "partition"}},
                {"name": "inf", "instanceType": "p4d.24xlarge", "count": 3},
            ],
        }
    )
    assert_agree(spec)
    (topology,) = kueue_topologies(plan_placement(spec))
    assert [lv["nodeLabel"] for lv in topology["spec"]["levels"]] == [
        "topology.k8s.aws/network-node-layer-1",
        "topology.k8s.aws/network-node-layer-2",
        "topology.k8s.aws/network-node-layer-3",
        "kubernetes.io/hostname",
    ]


def test_aws_topology_per_layer_count_and_none_for_types_without_topology() -> None:
    spec = FactorySpec.model_validate(
        {
            "region": "us-east-1",
            "profile": "commercial",
            "fleets": [
                {"name": "train", "instanceType": "p5.48xlarge", "count": 2},
                {"name": "big", "instanceType": "p6-b200.48xlarge", "count": 2},
                {"name": "dev", "instanceType": "g6.xlarge", "count": 1, "efa": False},
            ],
        }
    )
    plan = plan_placement(spec)
    layers = [f"topology.k8s.aws/network-node-layer-{n}" for n in range(1, 5)]
    assert plan.kueue_topologies() == {
        "aifactory": [*layers[:3], "kubernetes.io/hostname"],
        "aifactory-4-layer": [*layers, "kubernetes.io/hostname"],
    }
    assert [plan.kueue_topology_of(f) for f in ("train", "big", "dev")] == ["aifactory", "aifactory-4-layer", None]
    summary = plan.summary()
    assert summary["kueue_topologies"]["aifactory-4-layer"]["fleets"] == ["big"]
    (note,) = summary["topology_notes"]
    assert note["fleet"] == "dev" and "g6.xlarge" in note["note"]


@st.composite
def specs(draw: st.DrawFn) -> FactorySpec:
    aws = draw(st.booleans())
    fleets: list[dict[str, Any]] = [
        {
            "name": f"f{i}",
            "instanceType": draw(st.sampled_from(["p5.48xlarge", "p4d.24xlarge", "trn1.32xlarge"])),
            "count": draw(st.integers(1, 60)),
            # On AWS fault isolation is a partition placement group asked for; a data hall spreads racks.
            **(
                draw(st.sampled_from([{}, {"placement": {"strategy": "partition"}}]))
                if aws
                else {"strategy": draw(st.sampled_from(["pack", "spread"]))}
            ),
        }
        for i in range(draw(st.integers(1, 3)))
    ]
    site: dict[str, Any]
    if aws:
        site = {"kind": "aws"}
    else:
        # A data hall racks the customer's own servers.
        for fleet in fleets:
            model = {"p5.48xlarge": "dgx-h100", "p4d.24xlarge": "dgx-a100", "trn1.32xlarge": "dgx-h200"}
            fleet.update(kind="hybrid", server=model[fleet.pop("instanceType")])
        site = {
            "kind": "datahall",
            "racks": draw(st.integers(1, 80)),
            "racksPerBlock": draw(st.integers(1, 10)),
            "rackDefaults": {"powerKw": draw(st.sampled_from([20, 30, 40]))},
        }
    return FactorySpec.model_validate({"region": "us-east-1", "profile": "commercial", "fleets": fleets, "site": site})


@settings(max_examples=80, deadline=None)
@given(specs())
def test_three_outputs_agree(spec: FactorySpec) -> None:
    with contextlib.suppress(PlacementError):
        assert_agree(spec)
