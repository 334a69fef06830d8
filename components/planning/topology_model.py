"""The neutral shape of a factory's network topology, shared by every scheduler output.

The placement planner produces it; Kubernetes node labels, the Kueue `Topology` and Slurm's
`topology.conf` are all rendered from it, so they cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


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


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def compress_hostlist(names: Iterable[str]) -> str:
    """Slurm hostlist notation: `gpu-001,gpu-002,gpu-003,gpu-007` -> `gpu-[001-003,007]`."""
    groups: dict[tuple[str, int], list[int]] = {}
    plain: list[str] = []
    order: list[tuple[str, int]] = []
    for name in names:
        match = _NUMBERED.match(name)
        if not match:
            plain.append(name)
            continue
        key = (match.group(1), len(match.group(2)))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(int(match.group(2)))
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
