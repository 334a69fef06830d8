"""The neutral shape of a factory's network topology, shared by every scheduler output.

The placement planner produces it; Kubernetes node labels, the Kueue `Topology` and Slurm's
`topology.conf` are all rendered from it, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The one hostlist compressor lives in the head's standalone program, which cannot import this package.
from .ec2_topology import compress_hostlist as compress_hostlist


@dataclass(frozen=True)
class Switch:
    """One switch of a tree: leaf switches list nodes, upper switches list child switches."""

    name: str
    nodes: tuple[str, ...] = ()
    switches: tuple[str, ...] = ()


@dataclass(frozen=True)
class SwitchTree:
    switches: tuple[Switch, ...] = field(default_factory=tuple)

    def leaves(self) -> tuple[Switch, ...]:
        return tuple(s for s in self.switches if s.nodes)

    def node_to_leaf(self) -> dict[str, str]:
        return {node: s.name for s in self.leaves() for node in s.nodes}
