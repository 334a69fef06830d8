"""Slurm's switch tree from EC2's measured topology: DescribeInstanceTopology answers -> topology.conf/yaml.

Nobody knows before launch which network nodes an instance lands under, so on AWS the Slurm head
node builds its topology from what EC2 reports for the running nodes, and this module is the one
translation: the plan renders the first file with it (every node not yet reported) and the head
runs this same file as a program (`python3 ec2_topology.py ...`, written there by its user data)
whenever the answers change. Standard library only: the head's Ubuntu 24.04 image has python3 but
not boto3; the AWS CLI makes the calls.

What EC2 answers (EC2 API reference, DescribeInstanceTopology; botocore ec2 service-2.json
`DescribeInstanceTopologyResult` -> `Instances[]` of `InstanceTopology`: InstanceId, InstanceType,
GroupName, NetworkNodes, AvailabilityZone, ZoneId, CapacityBlockId):

* `NetworkNodes` is a top-down view of the hierarchy: the first node is the top layer, the last the
  node the instance connects to (EC2 user guide, "How Amazon EC2 topology works"). Types report 3
  or 4 layers (EC2 user guide, "Prerequisites for Amazon EC2 topology"); a cluster may mix both.
* It is empty or absent while the instance is not `running` or its type is unsupported (same
  shape's documentation): such nodes are "not yet reported" (for a type without EC2 topology, such
  as g6, for good; the plan notes those fleets).

How it maps to Slurm's topology/tree (topology.conf(5), topology.yaml(5) from Slurm 25.05):

* every network node is a switch named by its id (`nn-...`); a bottom node lists its Slurm nodes,
  an upper one its child network nodes;
* the top-layer nodes of one Availability Zone hang under a switch named by the zone id
  (`zone-use1-az4`): the instances of a zone can reach each other, and topology/tree lets a job
  span only nodes connected through one switch tree (topology.conf(5): "Jobs can only span nodes
  connected by the same switch fabric");
* nodes not yet reported sit on a leaf switch `unreported`; when there is more than one zone, or
  reported and unreported nodes, a `region` switch joins them, for the same reason;
* a network node that is the bottom of a 3-layer instance and above a 4-layer one keeps its
  instances on a child leaf `<nn>-hosts`, so every switch lists either nodes or switches.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

UNREPORTED = "unreported"
REGION = "region"
ZONE_PREFIX = "zone-"
HOSTS_SUFFIX = "-hosts"
TOPOLOGY_NAME = "ec2"
"""The topology's name in topology.yaml, which a node's `Topology=<name>:<switch>:...` names (Slurm 25.11)."""

# Network node ids as EC2 prints them (`nn-e50490a237cb0f01a`, EKS user guide "Place distributed
# AI/ML workloads with network topology labels"); Slurm switch names are at most 64 characters
# (topology.yaml(5), `switch`), so an id leaves room for the `-hosts` suffix.
NETWORK_NODE = re.compile(r"^nn-[0-9a-z]{1,52}\Z")
# Zone ids such as use1-az4 or usw2-lax1-az1 (EC2 user guide, "AZ IDs").
ZONE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+){1,4}\Z")
# Slurm node names are the nodes' host names (RFC 1123 labels), as the head's slurm.conf lists them.
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")


class TopologyError(ValueError):
    """The answers cannot be one switch tree (a malformed id, a network node under two parents)."""


@dataclass(frozen=True)
class Switch:
    """A leaf lists Slurm nodes, an upper switch lists child switches; never both."""

    name: str
    nodes: tuple[str, ...] = ()
    switches: tuple[str, ...] = ()


def instances_by_id(answers: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """InstanceId -> InstanceTopology over every page of DescribeInstanceTopology answers."""
    out: dict[str, Mapping[str, Any]] = {}
    for page in answers:
        for item in page.get("Instances") or []:
            instance_id = item.get("InstanceId")
            if isinstance(instance_id, str):
                out[instance_id] = item
    return out


def _path(item: Mapping[str, Any] | None) -> list[str]:
    nodes = (item or {}).get("NetworkNodes") or []
    for node in nodes:
        if not isinstance(node, str) or not NETWORK_NODE.match(node):
            raise TopologyError(f"network node {node!r} is not an EC2 network node id such as nn-0123abcd")
    return list(nodes)


def _zone(item: Mapping[str, Any]) -> str:
    zone = item.get("ZoneId") or item.get("AvailabilityZone")
    if not isinstance(zone, str) or not ZONE_ID.match(zone):
        raise TopologyError(f"instance {item.get('InstanceId')!r} has no usable zone ({zone!r})")
    return zone


def switch_tree(
    nodes: Mapping[str, str | None], answers: Iterable[Mapping[str, Any]], rooted: bool = False
) -> list[Switch]:
    """Switches for Slurm nodes (`name -> instance id`, None when not launched) from the answers.

    Leaves first, then upper switches from the bottom up, the root last. Every node is under
    exactly one switch. `rooted`: the `region` root is there even over one top switch, so nodes that
    name their own path from it (`Topology=ec2:region:zone-...`) join the same tree.
    """
    by_id = instances_by_id(answers)
    parent: dict[str, str] = {}
    children: dict[str, set[str]] = {}
    hosts: dict[str, set[str]] = {}
    depth: dict[str, int] = {}
    unreported: list[str] = []
    for name in sorted(nodes):
        if not _HOST.match(name):
            raise TopologyError(f"node name {name!r} is not a host name")
        instance_id = nodes[name]
        item = by_id.get(instance_id) if instance_id else None
        path = _path(item)
        if item is None or not path:
            unreported.append(name)
            continue
        chain = [ZONE_PREFIX + _zone(item), *path]
        for level, (up, down) in enumerate(pairwise(chain)):
            seen = parent.setdefault(down, up)
            if seen != up:
                raise TopologyError(f"network node {down} is reported under both {seen} and {up}")
            children.setdefault(up, set()).add(down)
            depth[down] = level + 1
        depth.setdefault(chain[0], 0)
        hosts.setdefault(path[-1], set()).add(name)
    switches: list[Switch] = []
    # A network node with both instances and child network nodes keeps its instances on a leaf.
    for node in sorted(set(hosts) & set(children)):
        leaf = node + HOSTS_SUFFIX
        children[node].add(leaf)
        hosts[leaf] = hosts.pop(node)
        depth[leaf] = depth[node] + 1
    for leaf in sorted(hosts, key=lambda s: (-depth[s], s)):
        switches.append(Switch(leaf, nodes=tuple(sorted(hosts[leaf]))))
    if unreported:
        switches.append(Switch(UNREPORTED, nodes=tuple(unreported)))
    for up in sorted(children, key=lambda s: (-depth[s], s)):
        switches.append(Switch(up, switches=tuple(sorted(children[up]))))
    tops = sorted(s for s in children if s.startswith(ZONE_PREFIX))
    if unreported:
        tops.append(UNREPORTED)
    if len(tops) > 1 or (rooted and tops):
        switches.append(Switch(REGION, switches=tuple(tops)))
    return switches


_DIGITS = "0123456789"


def compress_hostlist(names: Iterable[str]) -> str:
    """Slurm hostlist notation: `gpu-001,gpu-002,gpu-003,gpu-007` -> `gpu-[001-003,007]`."""
    groups: dict[tuple[str, int], list[int]] = {}
    plain: list[str] = []
    order: list[tuple[str, int]] = []
    for name in names:
        # rstrip runs in C: the per-name regex match was most of a 100k-GPU plan's hostlist time.
        prefix = name.rstrip(_DIGITS)
        digits = name[len(prefix) :]
        if not digits:
            plain.append(name)
            continue
        key = (prefix, len(digits))
        numbers = groups.get(key)
        if numbers is None:
            numbers = groups[key] = []
            order.append(key)
        numbers.append(int(digits))
    parts = list(plain)
    for prefix, width in order:
        numbers = sorted(set(groups[(prefix, width)]))
        if len(numbers) == 1:
            parts.append(f"{prefix}{numbers[0]:0{width}d}")
            continue
        ranges = _ranges(numbers)
        body = ",".join(f"{a:0{width}d}" if a == b else f"{a:0{width}d}-{b:0{width}d}" for a, b in ranges)
        parts.append(f"{prefix}[{body}]")
    return ",".join(parts)


def _ranges(numbers: Sequence[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    start = prev = numbers[0]
    for n in numbers[1:]:
        if n == prev + 1:
            prev = n
            continue
        ranges.append((start, prev))
        start = prev = n
    ranges.append((start, prev))
    return ranges


def _names(values: Sequence[str]) -> str:
    # Slurm parses these with its hostlist parser (topology.conf(5)); plain comma-separated names
    # parse as themselves. Switch ids stay plain: their hex digits are no node numbering.
    return ",".join(values)


def _nodes(values: Sequence[str]) -> str:
    # 12,500 nodes on the `unreported` leaf are one short range, not 150 KB of names in the head's
    # 16 KB user data.
    return compress_hostlist(values)


def topology_conf(switches: Sequence[Switch]) -> str:
    """topology.conf(5) for `TopologyPlugin=topology/tree`: `SwitchName=... Nodes=...|Switches=...`."""
    lines = ["# Generated on the Slurm head from EC2 DescribeInstanceTopology (aifactory); do not edit."]
    for s in switches:
        members = f"Nodes={_nodes(s.nodes)}" if s.nodes else f"Switches={_names(s.switches)}"
        lines.append(f"SwitchName={s.name} {members}")
    return "\n".join(lines) + "\n"


def topology_yaml(switches: Sequence[Switch], name: str = TOPOLOGY_NAME) -> str:
    """topology.yaml(5) (Slurm 25.05+): one cluster-default tree topology with the same switches.

    JSON-quoted scalars are YAML; `nodes` and `children` take hostlist strings as in topology.conf.
    """
    lines = [
        "# Generated on the Slurm head from EC2 DescribeInstanceTopology (aifactory); do not edit.",
        f"- topology: {json.dumps(name)}",
        "  cluster_default: true",
        "  tree:",
        "    switches:",
    ]
    for s in switches:
        lines.append(f"    - switch: {json.dumps(s.name)}")
        if s.nodes:
            lines.append(f"      nodes: {json.dumps(_nodes(s.nodes))}")
        else:
            lines.append(f"      children: {json.dumps(_names(s.switches))}")
    return "\n".join(lines) + "\n"


def render(
    nodes: Mapping[str, str | None], answers: Iterable[Mapping[str, Any]], fmt: str, rooted: bool = False
) -> str:
    """The file's text in `fmt` ("conf" or "yaml")."""
    switches = switch_tree(nodes, answers, rooted)
    if fmt == "yaml":
        return topology_yaml(switches)
    if fmt == "conf":
        return topology_conf(switches)
    raise ValueError(f"format {fmt!r} is neither conf nor yaml")


def node_ids(planned: Any, pairs: Any) -> dict[str, str | None]:
    """Planned node name -> instance id from the DescribeInstances pairs; None while not launched."""
    if isinstance(planned, dict):
        nodes: dict[str, str | None] = {str(k): (str(v) if v else None) for k, v in planned.items()}
    elif isinstance(planned, list) and all(isinstance(n, str) for n in planned):
        nodes = dict.fromkeys(planned)
    else:
        raise TopologyError("the node list is neither a list of names nor an object of name to instance id")
    if not isinstance(pairs, list):
        raise TopologyError("the instances are not a list of [node name, instance id] pairs")
    for pair in pairs:
        if isinstance(pair, list) and len(pair) == 2 and pair[0] in nodes and isinstance(pair[1], str):
            nodes[pair[0]] = pair[1]
    return nodes


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the topology file when it changed; print `changed` or `unchanged`. Exit 1 on bad answers.

    `--nodes`: JSON list of the Slurm node names (slurm.conf's), or an object of name -> instance id.
    `--instances`: JSON list of [node name, instance id] pairs (the head's DescribeInstances query);
    names slurm.conf does not list are ignored. `--answers`: JSON files, each one
    DescribeInstanceTopology answer (`aws ec2 describe-instance-topology` output).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", required=True)
    parser.add_argument("--instances")
    parser.add_argument("--answers", action="append", default=[])
    parser.add_argument("--format", choices=("conf", "yaml"), required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    try:
        nodes = node_ids(_load(args.nodes), _load(args.instances) if args.instances else [])
        text = render(nodes, [_load(p) for p in args.answers], args.format)
    except (OSError, ValueError) as error:
        print(f"aifactory-topology: {error}; keeping {args.output}", file=sys.stderr)
        return 1
    try:
        with open(args.output, encoding="utf-8") as f:
            if f.read() == text:
                print("unchanged")
                return 0
    except FileNotFoundError:
        pass
    directory = os.path.dirname(os.path.abspath(args.output))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".topology-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, args.output)
    print("changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
