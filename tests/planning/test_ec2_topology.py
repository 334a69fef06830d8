"""The head node's translation of recorded DescribeInstanceTopology answers into Slurm's topology files,
and the instance types' layer counts into Kueue Topology levels."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.kubernetes_names import AWS_TOPOLOGY_NAMES, aws_topology_levels
from aifactory.planning import ec2_topology
from aifactory.planning.ec2_topology import TopologyError, render, switch_tree
from aifactory.schedulers.slurm_power import expand_hostlist

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "ec2" / "describe-instance-topology.json"
ANSWER: dict[str, Any] = json.loads(FIXTURE.read_text())

# Slurm node name -> instance id: eight p5 (five under one layer-3 node, three under another), a
# p6-b200 with four layers, a p6-b200 not running yet (no network nodes) and one not launched.
NODES: dict[str, str | None] = {f"train-{i + 1:04d}": f"i-0p5{i:014d}" for i in range(8)}
NODES |= {"big-0001": "i-0b2000000000000001", "big-0002": "i-0b2000000000000002", "big-0003": None}

L1, L2 = "nn-1a2b3c4d5e6f70001", "nn-1a2b3c4d5e6f70002"
P5_LEAF_A, P5_LEAF_B = "nn-1a2b3c4d5e6f70003", "nn-1a2b3c4d5e6f70004"
B200 = ("nn-9f8e7d6c5b4a30002", "nn-9f8e7d6c5b4a30003", "nn-9f8e7d6c5b4a30004")


def parse_conf(text: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """topology.conf back into leaf -> nodes (hostlists, expanded by the power program's parser) and
    upper switch -> switches (comma lists)."""
    leaves: dict[str, list[str]] = {}
    uppers: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        fields = dict(item.split("=", 1) for item in line.split())
        assert set(fields) in ({"SwitchName", "Nodes"}, {"SwitchName", "Switches"}), line
        if "Nodes" in fields:
            leaves[fields["SwitchName"]] = expand_hostlist(fields["Nodes"])
        else:
            uppers[fields["SwitchName"]] = fields["Switches"].split(",")
    return leaves, uppers


def test_fixture_has_the_shape_of_botocores_ec2_model() -> None:
    botocore = pytest.importorskip("botocore")
    model_dir = Path(botocore.__file__).parent / "data" / "ec2"
    model_file = sorted(model_dir.glob("*/service-2.json*"))[-1]
    raw = gzip.decompress(model_file.read_bytes()) if model_file.suffix == ".gz" else model_file.read_bytes()
    shapes = json.loads(raw)["shapes"]
    assert shapes["DescribeInstanceTopologyResult"]["members"]["Instances"]["shape"] == "InstanceSet"
    members = set(shapes["InstanceTopology"]["members"])
    assert members == {
        "InstanceId",
        "InstanceType",
        "GroupName",
        "NetworkNodes",
        "AvailabilityZone",
        "ZoneId",
        "CapacityBlockId",
    }
    assert all(set(item) <= members for item in ANSWER["Instances"])


def test_topology_conf_follows_the_measured_network_nodes() -> None:
    leaves, uppers = parse_conf(render(NODES, [ANSWER], "conf"))
    assert leaves == {
        P5_LEAF_A: [f"train-{i:04d}" for i in range(1, 6)],
        P5_LEAF_B: ["train-0006", "train-0007", "train-0008"],
        B200[2]: ["big-0001"],
        "unreported": ["big-0002", "big-0003"],
    }
    assert uppers == {
        L2: [P5_LEAF_A, P5_LEAF_B],
        B200[1]: [B200[2]],
        B200[0]: [B200[1]],
        L1: [L2, B200[0]],
        "zone-use1-az4": [L1],
        "region": ["zone-use1-az4", "unreported"],
    }
    # No invented switch: every name is a reported network node, the zone, or the two joins.
    names = set(leaves) | set(uppers)
    assert "fabric" not in names
    assert {n for n in names if not n.startswith("nn-")} == {"unreported", "zone-use1-az4", "region"}


def test_levels_come_from_network_nodes_top_down() -> None:
    """NetworkNodes[0] is the top layer: it is the switch nearest the root, the last the leaf."""
    switches = {s.name: s for s in switch_tree(NODES, [ANSWER])}
    parent = {c: s.name for s in switches.values() for c in s.switches}
    chain = [B200[2]]
    while chain[-1] in parent:
        chain.append(parent[chain[-1]])
    assert chain == [B200[2], B200[1], B200[0], L1, "zone-use1-az4", "region"]


def test_topology_yaml_holds_the_same_tree() -> None:
    doc = yaml.safe_load(render(NODES, [ANSWER], "yaml"))
    (topology,) = doc
    assert topology["topology"] == "ec2" and topology["cluster_default"] is True
    switches = {s["switch"]: s for s in topology["tree"]["switches"]}
    leaves, uppers = parse_conf(render(NODES, [ANSWER], "conf"))
    assert {k: expand_hostlist(v["nodes"]) for k, v in switches.items() if "nodes" in v} == leaves
    assert {k: v["children"].split(",") for k, v in switches.items() if "children" in v} == uppers
    assert all(len(name) <= 64 for name in switches)


def test_nothing_reported_yet_puts_every_node_under_one_leaf() -> None:
    text = render({"a-0001": None, "a-0002": "i-0123"}, [], "conf")
    assert parse_conf(text) == ({"unreported": ["a-0001", "a-0002"]}, {})


def test_one_zone_all_reported_has_the_zone_as_root() -> None:
    p5 = {k: v for k, v in NODES.items() if k.startswith("train")}
    _, uppers = parse_conf(render(p5, [ANSWER], "conf"))
    roots = set(uppers) - {c for cs in uppers.values() for c in cs}
    assert roots == {"zone-use1-az4"}


def test_a_network_node_with_hosts_and_child_switches_keeps_hosts_on_a_leaf() -> None:
    answer = {
        "Instances": [
            {"InstanceId": "i-1", "NetworkNodes": ["nn-a1", "nn-b1", "nn-c1"], "ZoneId": "use1-az4"},
            {"InstanceId": "i-2", "NetworkNodes": ["nn-a1", "nn-b1", "nn-c1", "nn-d1"], "ZoneId": "use1-az4"},
        ]
    }
    leaves, uppers = parse_conf(render({"x-1": "i-1", "x-2": "i-2"}, [answer], "conf"))
    assert leaves == {"nn-c1-hosts": ["x-1"], "nn-d1": ["x-2"]}
    assert uppers["nn-c1"] == ["nn-c1-hosts", "nn-d1"]


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([{"InstanceId": "i-1", "NetworkNodes": ["nn-a", "bad name"], "ZoneId": "use1-az4"}], "not an EC2 network"),
        ([{"InstanceId": "i-1", "NetworkNodes": ["nn-a"], "ZoneId": "use1 az4"}], "no usable zone"),
        (
            [
                {"InstanceId": "i-1", "NetworkNodes": ["nn-a", "nn-c"], "ZoneId": "use1-az4"},
                {"InstanceId": "i-2", "NetworkNodes": ["nn-b", "nn-c"], "ZoneId": "use1-az4"},
            ],
            "under both",
        ),
    ],
)
def test_answers_that_are_no_tree_are_refused(instances: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        render({"x-1": "i-1", "x-2": "i-2"}, [{"Instances": instances}], "conf")


def test_node_names_that_are_not_host_names_are_refused() -> None:
    with pytest.raises(TopologyError, match="not a host name"):
        render({"x 1": None}, [], "conf")


def test_head_program_writes_only_on_change_and_keeps_the_file_on_bad_answers(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.json"
    nodes.write_text(json.dumps(NODES))
    out = tmp_path / "topology.conf"
    # Run as the head runs it: the module file alone, by path, outside the package.
    script = Path(ec2_topology.__file__)
    command = [sys.executable, str(script), "--nodes", str(nodes), "--answers", str(FIXTURE), "--format", "conf"]
    first = subprocess.run([*command, "--output", str(out)], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert first.stdout.strip() == "changed" and out.read_text() == render(NODES, [ANSWER], "conf")
    again = subprocess.run([*command, "--output", str(out)], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert again.stdout.strip() == "unchanged"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Instances": [{"InstanceId": "i-0p500000000000000", "NetworkNodes": ["x y"]}]}))
    kept = out.read_text()
    failed = subprocess.run(
        [
            sys.executable,
            str(script),
            "--nodes",
            str(nodes),
            "--answers",
            str(bad),
            "--format",
            "conf",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert failed.returncode == 1 and "keeping" in failed.stderr and out.read_text() == kept


def test_head_program_maps_describe_instances_pairs_to_planned_nodes(tmp_path: Path) -> None:
    planned = tmp_path / "nodes.json"
    planned.write_text(json.dumps(sorted(NODES)))
    pairs = tmp_path / "instances.json"
    # As the head's `describe-instances --query` prints them; a stray instance is ignored.
    pairs.write_text(json.dumps([[name, iid] for name, iid in NODES.items() if iid] + [["stray-0001", "i-9"]]))
    out = tmp_path / "topology.yaml"
    args = ["--nodes", str(planned), "--instances", str(pairs), "--answers", str(FIXTURE), "--format", "yaml"]
    assert ec2_topology.main([*args, "--output", str(out)]) == 0
    assert out.read_text() == render(NODES, [ANSWER], "yaml") and "stray" not in out.read_text()


def test_the_head_program_needs_only_the_standard_library() -> None:
    source = Path(ec2_topology.__file__).read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {
        "__future__",
        "argparse",
        "json",
        "os",
        "re",
        "sys",
        "tempfile",
        "collections",
        "dataclasses",
        "itertools",
        "typing",
    }


@pytest.mark.parametrize(("layers", "name"), [(3, "aifactory"), (4, "aifactory-4-layer")])
def test_layer_count_to_kueue_levels(layers: int, name: str) -> None:
    levels = aws_topology_levels(layers)
    assert AWS_TOPOLOGY_NAMES[layers] == name
    assert levels == (
        *(f"topology.k8s.aws/network-node-layer-{n}" for n in range(1, layers + 1)),
        "kubernetes.io/hostname",
    )
    # The same count of layers the head's Slurm tree has above a host for that type.
    depth = {3: ["train-0001", P5_LEAF_A, L2, L1], 4: ["big-0001", *reversed(B200), L1]}[layers]
    assert len(depth) - 1 == len(levels) - 1
