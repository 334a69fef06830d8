"""Cooling-aware placement: every node of every fleet into a placement domain (EC2) or a rack (data hall).

On AWS placement is a capacity choice per fleet (`aws_placement_kind`): the capacity reservation or
block itself (already co-located, so never a new placement group: forcing one onto reserved capacity
fails with InsufficientInstanceCapacity; a reservation made in a cluster group launches into that
group), one cluster placement group for EFA fleets on on-demand or spot capacity, one partition
(1..7) of a partition placement group where a fleet asks for fault isolation, or EC2's own placement.
EC2 exposes no rack power or cooling, so nothing is placed by power there. In a data hall a
domain is the nodes of one fleet in one rack; racks are packed under their power budget (less
headroom, at most what their cooling class removes), cooling class and rack units, and a fleet spans
as few network blocks as it can. When power limits the count, GPUs are capped within the fleet's
`gpuPowerCapW` bounds, only when that raises the site's throughput.

Pure logic: no Pulumi imports. Output is deterministic for a given spec.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalog.hardware import Hardware, fleet_hardware, hardware_model, whole_rack
from ..catalog.instance_types import get_instance_type
from ..catalog.power_curves import relative_throughput
from ..kubernetes_names import (
    AWS_TOPOLOGY_NAMES,
    DATAHALL_TOPOLOGY_NAME,
    HOSTNAME_LABEL,
    aws_topology_levels,
)
from ..schedulers.kubernetes_manifests import FLEET_LABEL
from ..spec.errors import ConfigIssue, config_path
from ..spec.model import FactorySpec, Fleet
from ..spec.placement_rules import MAX_PARTITIONS, RESERVED, placement_group_name
from ..spec.site import AWS_REGION_SWITCH, COOLING_RANK, ROOT_SWITCH, AwsSite, DatahallSite, Rack
from .topology_model import Switch, SwitchTree, compress_hostlist

LABEL_BLOCK = "topology.aifactory.io/block"
LABEL_RACK = "topology.aifactory.io/rack"
LABEL_DOMAIN = "topology.aifactory.io/domain"
LABEL_FLEET = "topology.aifactory.io/fleet"
LABEL_GPU_POWER_CAP = "aifactory.io/gpu-power-cap-w"
CAP_STEP_W = 25  # granularity of the power-cap search; nvidia-smi accepts whole watts
_EPS = 1e-9

PlacementKind = Literal["cluster", "partition", "reservation", "none", "rack"]
"""`none`: an EC2 fleet with no placement group (no EFA, on-demand or spot, none asked for)."""


class PlacementError(Exception):
    """The site cannot hold the fleets; `issues` say what is missing (kW, cooling class, racks)."""

    def __init__(self, issues: Sequence[ConfigIssue]):
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


@dataclass(frozen=True)
class Domain:
    """A group of identical nodes that gets its own launch template / node group / Slurm group."""

    name: str
    fleet: str
    instance_type: str | None
    """The EC2 instance type; None for a hybrid fleet's servers (see `server`)."""
    nodes: int
    hostnames: tuple[str, ...]
    placement: PlacementKind
    placement_group: str | None
    partition_number: int | None
    gpu_power_cap_w: int | None
    block: str
    racks: tuple[str, ...]
    labels: Mapping[str, str]
    node_power_kw: float
    gpus_per_node: int
    relative_throughput: float
    server: str | None = None
    """The server model of a hybrid fleet (the customer's own servers, racked, never launched)."""
    gpu_power_reason: str | None = None
    """Why an EC2 fleet runs capped (`gpuPowerLimit.reason`); None when uncapped or in a data hall."""

    @property
    def hardware(self) -> str:
        """What the domain's nodes are: the server model or the instance type."""
        return self.server or self.instance_type or ""


@dataclass(frozen=True)
class PlacementGroup:
    """An EC2 placement group the factory creates; domains reference it by `placement_group`.

    A reservation's own cluster group (`capacity.placementGroup`) exists already and is not listed."""

    name: str
    fleet: str
    strategy: Literal["cluster", "partition"]
    partition_count: int | None


@dataclass(frozen=True)
class RackSlot:
    hostname: str
    u_position: int  # lowest U the server occupies, counting from 1 at the bottom
    rack_units: int


@dataclass(frozen=True)
class RackLoad:
    """One data-hall rack after placement."""

    name: str
    hall: str
    row: str
    block: str
    cooling: str
    power_kw: float  # nameplate of the rack as configured
    budget_kw: float  # what placement may use: power within the cooling limit, less headroom
    rack_units: int
    load_kw: float
    slots: tuple[RackSlot, ...]

    @property
    def nodes(self) -> int:
        return len(self.slots)


@dataclass(frozen=True)
class PlacementPlan:
    site: Literal["aws", "datahall"]
    domains: tuple[Domain, ...]
    switch_tree: SwitchTree
    racks: tuple[RackLoad, ...] = ()
    pue: float | None = None
    placement_groups: tuple[PlacementGroup, ...] = field(default_factory=tuple)

    def domains_for(self, fleet: str) -> tuple[Domain, ...]:
        return tuple(d for d in self.domains if d.fleet == fleet)

    def kueue_topology_levels(self) -> list[str] | None:
        """The data hall's one Topology: node label keys, broadest first, `kubernetes.io/hostname` last.

        None without racked servers; EC2 fleets' levels are the network layers of their instance type
        (`kueue_topologies`), in a data-hall stack too (EC2 instances are not racked)."""
        if not any(d.server is not None for d in self.domains):
            return None
        return [LABEL_BLOCK, LABEL_RACK, HOSTNAME_LABEL]

    def _ec2_layers(self, domain: Domain) -> int | None:
        return None if domain.instance_type is None else get_instance_type(domain.instance_type).network_node_layers

    def kueue_topology_of(self, fleet: str) -> str | None:
        """The Kueue Topology a fleet's ResourceFlavor names; None for an EC2 type without topology."""
        domains = self.domains_for(fleet)
        if not domains:
            return None
        if domains[0].server is not None:
            return DATAHALL_TOPOLOGY_NAME
        layers = self._ec2_layers(domains[0])
        return None if layers is None else AWS_TOPOLOGY_NAMES[layers]

    def kueue_topologies(self) -> dict[str, list[str]]:
        """Every Topology the fleets use, by name: the data hall's, and one per EC2 layer count in use."""
        topologies: dict[str, list[str]] = {}
        levels = self.kueue_topology_levels()
        if levels is not None:
            topologies[DATAHALL_TOPOLOGY_NAME] = levels
        used = {self._ec2_layers(d) for d in self.domains if d.server is None}
        for n in sorted(n for n in used if n is not None):
            topologies[AWS_TOPOLOGY_NAMES[n]] = list(aws_topology_levels(n))
        return topologies

    def topology_notes(self) -> list[dict[str, str]]:
        """EC2 fleets whose instance type has no EC2 topology: their flavor has no Topology, so Kueue
        places their pods without topology-aware scheduling (EC2 user guide, "Prerequisites for
        Amazon EC2 topology", "Instance types")."""
        notes = []
        for fleet in dict.fromkeys(d.fleet for d in self.domains if d.server is None):
            domain = self.domains_for(fleet)[0]
            if domain.instance_type is not None and self._ec2_layers(domain) is None:
                itype = domain.instance_type
                notes.append(
                    {
                        "fleet": fleet,
                        "instance_type": itype,
                        "note": f"{itype} has no EC2 instance topology (DescribeInstanceTopology does not support it): "
                        "no network-node-layer labels, no Kueue Topology for its flavor, no Slurm switches",
                    }
                )
        return notes

    def summary(self) -> dict[str, Any]:
        """JSON-able report: nodes, GPUs, capping cost and domains; for a data hall also power, PUE and racks.

        An AWS site has no rack, cooling, PUE or facility-power figures: EC2 exposes none of them."""
        gpus = sum(d.nodes * d.gpus_per_node for d in self.domains)
        capped = sum(d.nodes * d.gpus_per_node for d in self.domains if d.gpu_power_cap_w is not None)
        lost = sum(d.nodes * d.gpus_per_node * (1 - d.relative_throughput) for d in self.domains)
        out: dict[str, Any] = {
            "site": self.site,
            "nodes": sum(d.nodes for d in self.domains),
            "gpus": gpus,
        }
        if self.site == "datahall":
            it_kw = sum(d.nodes * d.node_power_kw for d in self.domains)
            fullest = max(self.racks, key=lambda r: r.load_kw / r.budget_kw if r.budget_kw else 0.0, default=None)
            out |= {
                "it_power_kw": round(it_kw, 3),
                "facility_power_kw": round(it_kw * self.pue, 3) if self.pue is not None else None,
                "pue": self.pue,
                "fullest_rack": None
                if fullest is None
                else {
                    "name": fullest.name,
                    "power_kw": round(fullest.load_kw, 3),
                    "budget_kw": round(fullest.budget_kw, 3),
                    "used_pct": round(100 * fullest.load_kw / fullest.budget_kw, 1) if fullest.budget_kw else 0.0,
                },
            }
        out |= {
            "gpus_capped": capped,
            "kueue_topologies": {
                name: {
                    "levels": levels,
                    "fleets": sorted({d.fleet for d in self.domains if self.kueue_topology_of(d.fleet) == name}),
                }
                for name, levels in self.kueue_topologies().items()
            },
            "topology_notes": self.topology_notes(),
            "throughput_given_up_pct": round(100 * lost / gpus, 2) if gpus else 0.0,
        }
        if self.site == "datahall":
            out["racks"] = [
                {
                    "name": r.name,
                    "hall": r.hall,
                    "row": r.row,
                    "block": r.block,
                    "cooling": r.cooling,
                    "budget_kw": round(r.budget_kw, 3),
                    "power_kw": round(r.load_kw, 3),
                    "nodes": r.nodes,
                }
                for r in self.racks
            ]
        out["domains"] = [self._domain_summary(d) for d in self.domains]
        return out

    def _domain_summary(self, d: Domain) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": d.name,
            "fleet": d.fleet,
            "instance_type": d.instance_type,
            "server": d.server,
            "nodes": d.nodes,
            "hosts": compress_hostlist(d.hostnames),
            "placement": d.placement,
            "placement_group": d.placement_group,
            "partition_number": d.partition_number,
            "gpu_power_cap_w": d.gpu_power_cap_w,
            "block": d.block,
        }
        if self.site == "datahall":
            row["racks"] = list(d.racks)
        else:
            row["gpu_power_reason"] = d.gpu_power_reason
        return row


def plan_placement(spec: FactorySpec) -> PlacementPlan:
    """Place every node of every fleet; PlacementError when the site cannot hold them."""
    site = spec.site
    if isinstance(site, DatahallSite):
        return _plan_hall_and_aws(spec, site)
    return _plan_aws(spec, site if site is not None else AwsSite())


def _plan_hall_and_aws(spec: FactorySpec, site: DatahallSite) -> PlacementPlan:
    """A data hall racks the hybrid fleets (the customer's servers); EC2 fleets are placed on AWS as
    usual, never racked. Nobody knows before launch which EC2 network nodes the instances land under,
    so the switch tree holds them under one `AWS_REGION_SWITCH` leaf beside the hall's blocks: what is
    known is only that hall and region meet across the site link."""
    hall = _plan_datahall(spec, site)
    if not spec.ec2_fleets:
        return hall
    aws = _plan_aws(spec.model_copy(update={"fleets": spec.ec2_fleets}), AwsSite())
    hosts = tuple(h for d in aws.domains for h in d.hostnames)
    tops = [s for s in hall.switch_tree.switches if s.name != ROOT_SWITCH]
    (hall_root,) = (s for s in hall.switch_tree.switches if s.name == ROOT_SWITCH)
    root = Switch(ROOT_SWITCH, switches=(*hall_root.switches, AWS_REGION_SWITCH))
    return PlacementPlan(
        site="datahall",
        domains=(*hall.domains, *aws.domains),
        switch_tree=SwitchTree((root, *tops, Switch(AWS_REGION_SWITCH, nodes=hosts))),
        racks=hall.racks,
        pue=hall.pue,
        placement_groups=aws.placement_groups,
    )


# ---------------------------------------------------------------------------------------------
# Shared helpers


def hostnames(fleet: Fleet) -> list[str]:
    """`train-0001`.. : contiguous per fleet, zero-padded so they sort and compress."""
    width = max(4, len(str(fleet.count)))
    return [f"{fleet.name}-{i:0{width}d}" for i in range(1, fleet.count + 1)]


def power_cap_levels(fleet: Fleet, itype: Hardware) -> list[int | None]:
    """Per-GPU limits the planner may use for a fleet, highest first; None means uncapped (TDP)."""
    bounds = fleet.gpu_power_cap_w
    acc = itype.accelerator
    if bounds is None or not acc.power_cappable:
        return [None]
    top = min(bounds.max, acc.tdp_w)
    low = max(bounds.min, acc.power_limit_min_w)
    levels: list[int | None] = [None if top >= acc.tdp_w else top]
    cap = top - CAP_STEP_W
    while cap > low:
        levels.append(cap)
        cap -= CAP_STEP_W
    if low < top:
        levels.append(low)
    return levels


def node_power_kw(fleet: Fleet, itype: Hardware, cap_w: int | None) -> float:
    """Node power: the fleet's override or the catalog's max, less what capping removes from its GPUs.

    Capping lowers only GPU board power; the rest of the node (CPUs, NICs, fans) is assumed unchanged.
    """
    full = fleet.node_power_kw if fleet.node_power_kw is not None else itype.node_power_kw.max
    if cap_w is None:
        return full
    return full - itype.accelerator.count * (itype.accelerator.tdp_w - cap_w) / 1000


def _throughput(itype: Hardware, cap_w: int | None) -> float:
    return relative_throughput(itype.accelerator.model, itype.accelerator.tdp_w, cap_w)


def _fleet_labels(fleet: Fleet, domain: str, block: str | None, cap_w: int | None) -> dict[str, str]:
    """The fleet, and in a data hall the network block and domain; on AWS (`block` None) no switch
    label: EC2's own `topology.k8s.aws/network-node-layer-N` labels say where a node really is."""
    labels = {LABEL_FLEET: fleet.name}
    if block is not None:
        labels |= {LABEL_BLOCK: block, LABEL_DOMAIN: domain}
    if cap_w is not None:
        labels[LABEL_GPU_POWER_CAP] = str(cap_w)
    return labels


# ---------------------------------------------------------------------------------------------
# AWS


def _split(count: int, parts: int) -> list[int]:
    base, extra = divmod(count, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def aws_placement_kind(fleet: Fleet) -> PlacementKind:
    """Where an EC2 fleet's nodes go: a capacity choice, never a power figure.

    * Capacity reservations and capacity blocks are their own placement (EC2 user guide, "Capacity
      Blocks for ML": instances of a block are placed close together in EC2 UltraClusters; "Capacity
      Reservations for cluster placement groups": a reservation made in a cluster group is used by
      launching into that group, `capacity.placementGroup`). No group is created for them.
    * A partition placement group only where the fleet asks for fault isolation (`placement.strategy:
      partition`); AWS intends it for large replicated workloads (EC2 user guide, "Placement
      strategies": Hadoop, Cassandra, Kafka), not for tightly coupled training.
    * One cluster placement group for EFA fleets on on-demand or spot capacity (EC2 user guide,
      "Placement strategies": cluster groups give the low-latency node-to-node network tightly coupled
      HPC needs; "Placement group rules and limitations": a spot instance may launch into a group
      unless it stops or hibernates on interruption, and the factory's spot instances terminate), or
      where a fleet asks for one.
    * Otherwise no group: EC2 spreads the instances across its hardware (EC2 user guide, "Placement groups").
    """
    if fleet.capacity.type in RESERVED:
        return "reservation"
    if fleet.placement is not None:
        return fleet.placement.strategy
    return "cluster" if fleet.efa else "none"


def _plan_aws(spec: FactorySpec, site: AwsSite) -> PlacementPlan:
    domains: list[Domain] = []
    groups: list[PlacementGroup] = []
    for fleet in spec.fleets:
        itype = fleet_hardware(fleet)
        limit = fleet.gpu_power_limit
        cap = limit.watts if limit is not None and itype.accelerator.power_cappable else None
        kw = node_power_kw(fleet, itype, cap)
        kind = aws_placement_kind(fleet)
        parts = 1
        if kind == "partition":
            asked = fleet.placement.partitions if fleet.placement is not None else None
            parts = asked if asked is not None else min(MAX_PARTITIONS, fleet.count)
        names = hostnames(fleet)
        start = 0
        for k, size in enumerate(_split(fleet.count, parts)):
            name = f"{fleet.name}-d{k}"
            group: str | None = None
            partition: int | None = None
            if kind == "cluster":
                group = f"{fleet.name}-cluster"
            elif kind == "partition":
                group = f"{fleet.name}-partition-0"
                partition = k + 1
            elif kind == "reservation" and fleet.capacity.placement_group is not None:
                # The cluster group the reservation was created in: the launch template names it.
                group = placement_group_name(fleet.capacity.placement_group)
            domains.append(
                Domain(
                    name=name,
                    fleet=fleet.name,
                    instance_type=fleet.instance_type,
                    nodes=size,
                    hostnames=tuple(names[start : start + size]),
                    placement=kind,
                    placement_group=group,
                    partition_number=partition,
                    gpu_power_cap_w=cap,
                    block=name,
                    racks=(),
                    labels=_fleet_labels(fleet, name, None, cap),
                    node_power_kw=kw,
                    gpus_per_node=itype.gpus,
                    relative_throughput=_throughput(itype, cap),
                    gpu_power_reason=limit.reason if cap is not None and limit is not None else None,
                )
            )
            start += size
        if kind == "cluster":
            groups.append(PlacementGroup(f"{fleet.name}-cluster", fleet.name, "cluster", None))
        elif kind == "partition":
            groups.append(PlacementGroup(f"{fleet.name}-partition-0", fleet.name, "partition", parts))
    # No planned switch tree on EC2: nobody knows before launch which network nodes an instance
    # lands under. The Slurm head builds its tree from DescribeInstanceTopology (`ec2_topology`),
    # Kueue reads EKS's network-node-layer labels (EC2 user guide, "Amazon EC2 topology").
    return PlacementPlan(
        site="aws",
        domains=tuple(domains),
        switch_tree=SwitchTree(),
        placement_groups=tuple(groups),
    )


# ---------------------------------------------------------------------------------------------
# Data hall


@dataclass
class _Bin:
    order: int
    rack: Rack
    block: int
    rank: int
    budget_kw: float
    units: int  # what servers may use: the rack's units less the reserved ones at the top
    used_kw: float = 0.0
    used_u: int = 0
    placed: list[tuple[int, int]] = field(default_factory=list)  # (fleet index, nodes) in placement order


@dataclass(frozen=True)
class _Demand:
    index: int
    fleet: Fleet
    itype: Hardware
    rank: int
    kw: float
    units: int
    cap_w: int | None
    whole_rack: bool = False
    """A rack-scale system (GB200 NVL72): one unit takes an empty rack of its own, all its units."""


@dataclass(frozen=True)
class _Shortfall:
    demand: _Demand
    placed: int


def _capacity(b: _Bin, d: _Demand) -> int:
    if b.rank < d.rank:
        return 0
    by_power = math.floor((b.budget_kw - b.used_kw) / d.kw + _EPS)
    if d.whole_rack:
        return min(by_power, 1) if not b.placed and b.units > 0 else 0
    by_units = (b.units - b.used_u) // d.units
    return max(0, min(by_power, by_units))


def _put(b: _Bin, d: _Demand, n: int) -> None:
    b.used_kw += n * d.kw
    b.used_u = b.units if d.whole_rack else b.used_u + n * d.units
    if b.placed and b.placed[-1][0] == d.index:
        b.placed[-1] = (d.index, b.placed[-1][1] + n)
    else:
        b.placed.append((d.index, n))


def _fill_pack(bins: list[_Bin], d: _Demand, take: int) -> None:
    """Fewest new racks: top up racks already in use, then best-fit the largest capacities first."""
    for b in bins:
        if take == 0:
            return
        if b.used_u:
            n = min(take, _capacity(b, d))
            if n:
                _put(b, d, n)
                take -= n
    # Sorted by capacity, then site order reversed so that among equal capacities the earliest rack
    # sits last, where both `pop()` and the best-fit search below find it first.
    fresh = sorted((c, -b.order, b) for b in bins if not b.used_u and (c := _capacity(b, d)) > 0)
    keys = [(c, o) for c, o, _ in fresh]
    while take > 0 and fresh:
        if fresh[-1][0] < take:
            c, _, b = fresh.pop()
            keys.pop()
            _put(b, d, c)
            take -= c
            continue
        smallest = keys[bisect.bisect_left(keys, (take, -math.inf))][0]
        i = bisect.bisect_right(keys, (smallest, math.inf)) - 1
        _, _, b = fresh.pop(i)
        keys.pop(i)
        _put(b, d, take)
        take = 0


def _fill_spread(bins: list[_Bin], d: _Demand, take: int) -> None:
    """One node per rack per pass, so heat and failures spread over every rack the fleet may use."""
    while take > 0:
        progressed = False
        for b in bins:
            if take and _capacity(b, d) > 0:
                _put(b, d, 1)
                take -= 1
                progressed = True
        if not progressed:
            return


def _new_bins(site: DatahallSite, racks: list[Rack]) -> tuple[list[_Bin], list[list[_Bin]]]:
    """Empty bins in site order, and the same bins grouped by network block (first appearance first)."""
    block_ids: dict[str, int] = {}
    for r in racks:
        block_ids.setdefault(r.block, len(block_ids))
    bins = [
        _Bin(i, r, block_ids[r.block], COOLING_RANK[r.cooling], site.usable_kw(r), site.server_units(r))
        for i, r in enumerate(racks)
    ]
    by_block: list[list[_Bin]] = [[] for _ in block_ids]
    for b in bins:
        by_block[b.block].append(b)
    return bins, by_block


def _cost(bins: list[_Bin]) -> tuple[int, int]:
    """The `pack` objective, compared lexicographically: (blocks spanned summed over fleets, racks used)."""
    spans = {(b.block, i) for b in bins for i, _ in b.placed}
    return len(spans), sum(1 for b in bins if b.placed)


@dataclass
class _Work:
    """What the exact search may still spend over one plan (state transitions), shared by every cap level."""

    left: int


def _pack(
    site: DatahallSite, racks: list[Rack], demands: list[_Demand], work: _Work
) -> tuple[list[_Bin], _Shortfall | None]:
    """Greedy placement in two fleet orders, the better kept; on a small site an exact search improves on it."""
    bins, short = _pack_greedy(site, racks, demands, _ORDERS[0])
    for order in _ORDERS[1:]:
        other, other_short = _pack_greedy(site, racks, demands, order)
        if other_short is None and (short is not None or _cost(other) < _cost(bins)):
            bins, short = other, None
    if all(d.fleet.strategy == "pack" and not d.whole_rack for d in demands):
        exact = _pack_exact(site, racks, demands, None if short is not None else _cost(bins), work)
        if exact is not None:
            return exact, None
    return bins, short


# Fleet orders the greedy tries, strictest cooling first in both (decreasing orders): the largest power
# demand first (the largest fleet gets the densest blocks), or the heaviest, bulkiest node first.
_ORDERS: tuple[Callable[[_Demand], tuple[float, ...]], ...] = (
    lambda d: (-d.rank, -d.fleet.count * d.kw, d.index),
    lambda d: (-d.rank, -d.kw, -d.units, d.index),
)


def _pack_greedy(
    site: DatahallSite,
    racks: list[Rack],
    demands: list[_Demand],
    order: Callable[[_Demand], tuple[float, ...]],
) -> tuple[list[_Bin], _Shortfall | None]:
    """Fleet by fleet in `order`: the fewest blocks that hold the fleet (the smallest block that fits,
    else the largest ones), then the densest racks across all of them."""
    bins, by_block = _new_bins(site, racks)
    for d in sorted(demands, key=order):
        caps = [sum(_capacity(b, d) for b in blk) for blk in by_block]
        need = d.fleet.count
        fitting = [(c, k) for k, c in enumerate(caps) if c >= need]
        chosen: list[tuple[int, int]]
        if fitting:
            chosen = [min(fitting)]
        else:
            chosen = []
            total = 0
            for c, k in sorted(((c, k) for k, c in enumerate(caps) if c > 0), key=lambda ck: (-ck[0], ck[1])):
                chosen.append((c, k))
                total += c
                if total >= need:
                    break
            if total < need:
                for _, k in chosen:
                    (_fill_spread if d.fleet.strategy == "spread" else _fill_pack)(by_block[k], d, caps[k])
                return bins, _Shortfall(d, total)
        if d.fleet.strategy == "spread":
            remaining = need
            for c, k in chosen:
                take = min(c, remaining)
                _fill_spread(by_block[k], d, take)
                remaining -= take
        else:
            # Densest racks first across every chosen block, so the slack is left in the racks that
            # hold the fewest nodes (air racks), not in whichever block happens to come last.
            union = sorted((b for _, k in chosen for b in by_block[k]), key=lambda b: b.order)
            _fill_pack(union, d, need)
    return bins, None


# Work limits of the exact search (deterministic counts, not wall time): the size of the state space,
# the per-rack pattern enumeration and the state transitions tried over a whole plan. Past any, the
# greedy plan stands.
_EXACT_PATTERNS = 4_000
_EXACT_WORK = 150_000
_EXACT_STATES = 50_000  # remaining-node vectors times racks: a cheap size test made before any work


def _pack_exact(
    site: DatahallSite, racks: list[Rack], demands: list[_Demand], upper: tuple[int, int] | None, work: _Work
) -> list[_Bin] | None:
    """A lexicographically optimal packing of a small site; None past a work limit or when none beats `upper`.

    A dynamic programme over racks in block order. The state is the nodes still to place per fleet and the
    set of fleets present in the current block; a rack's choice is a pattern (nodes per fleet) that fits its
    power, units and cooling. Leaving a block adds one span per fleet present. Only placements strictly
    better than `upper` (the greedy cost) are kept, and states that cannot finish are cut.
    """
    counts = tuple(d.fleet.count for d in demands)
    if math.prod(c + 1 for c in counts) * len(racks) > _EXACT_STATES:
        return None
    bins, by_block = _new_bins(site, racks)
    order = [b for blk in by_block for b in blk]
    fleets = range(len(demands))
    patterns: list[list[tuple[tuple[int, ...], int, int]]] = []  # (pattern, fleets mask, racks used)
    cache: dict[tuple[int, float, int], list[tuple[tuple[int, ...], int, int]]] = {}
    enumerated = 0
    for b in order:
        kind = (b.rank, b.budget_kw, b.units)
        if kind not in cache:
            caps = [min(_capacity(b, d), d.fleet.count) for d in demands]
            found = _rack_patterns(demands, caps, b.budget_kw, b.units, _EXACT_PATTERNS - enumerated)
            if found is None:
                return None
            enumerated += len(found)
            cache[kind] = [(p, sum(1 << f for f in fleets if p[f]), 1 if any(p) else 0) for p in found]
        patterns.append(cache[kind])
    # What the racks from position i on can still take of each fleet (to cut states that cannot finish),
    # and the most power and units one of them offers (for a lower bound on the racks still to open).
    n_racks = len(order)
    suffix = [[0] * len(demands) for _ in range(n_racks + 1)]
    most = [[0] * len(demands) for _ in range(n_racks + 1)]
    kw_max = [0.0] * (n_racks + 1)
    u_max = [0] * (n_racks + 1)
    for i in range(n_racks - 1, -1, -1):
        best = [max((p[f] for p, _, _ in patterns[i]), default=0) for f in fleets]
        suffix[i] = [suffix[i + 1][f] + best[f] for f in fleets]
        most[i] = [max(most[i + 1][f], best[f]) for f in fleets]
        kw_max[i] = max(kw_max[i + 1], order[i].budget_kw)
        u_max[i] = max(u_max[i + 1], order[i].units)
    if any(counts[f] > suffix[0][f] for f in fleets):
        return None

    def racks_needed(left: tuple[int, ...], i: int) -> int:
        if not any(left):
            return 0
        kw = sum(n * d.kw for n, d in zip(left, demands, strict=True))
        units = sum(n * d.units for n, d in zip(left, demands, strict=True))
        per_fleet = max(-(-left[f] // most[i][f]) for f in fleets if left[f])
        return max(math.ceil(kw / kw_max[i] - _EPS), -(-units // u_max[i]), per_fleet)

    # state (remaining per fleet, fleets in the current block) -> (blocks closed, racks used)
    states: dict[tuple[tuple[int, ...], int], tuple[int, int]] = {(counts, 0): (0, 0)}
    back: list[dict[tuple[tuple[int, ...], int], tuple[tuple[tuple[int, ...], int], tuple[int, ...]]]] = []
    for i, b in enumerate(order):
        closes = i + 1 == n_racks or order[i + 1].block != b.block
        reach = suffix[i + 1]
        nxt: dict[tuple[tuple[int, ...], int], tuple[int, int]] = {}
        links: dict[tuple[tuple[int, ...], int], tuple[tuple[tuple[int, ...], int], tuple[int, ...]]] = {}
        for state, (closed, used) in states.items():
            rem, mask = state
            for p, pmask, opened in patterns[i]:
                work.left -= 1
                if work.left < 0:
                    return None
                left = tuple(r - n for r, n in zip(rem, p, strict=True))
                if min(left) < 0 or any(left[f] > reach[f] for f in fleets):
                    continue
                m = mask | pmask
                blocks = closed + m.bit_count()
                if upper is not None:
                    # Fleets with nodes left and no span open yet (every fleet once the block closes)
                    # will open at least one more span each.
                    still = 0 if closes else m
                    more = sum(1 for f in fleets if left[f] and not still >> f & 1)
                    bound = (blocks + more, used + opened + racks_needed(left, i + 1))
                    if bound >= upper:
                        continue
                key = (left, 0 if closes else m)
                value = (blocks, used + opened) if closes else (closed, used + opened)
                seen = nxt.get(key)
                if seen is None or value < seen:  # same key, same open mask: compare what is closed
                    nxt[key] = value
                    links[key] = (state, p)
        states = nxt
        back.append(links)
        if not states:
            return None
    final = (tuple(0 for _ in fleets), 0)
    if final not in states:
        return None
    at = final
    for i in range(n_racks - 1, -1, -1):
        at, chosen = back[i][at]
        for f, n in enumerate(chosen):
            if n:
                _put(order[i], demands[f], n)
    return bins


def _rack_patterns(
    demands: list[_Demand], caps: Sequence[int], budget_kw: float, units: int, limit: int
) -> list[tuple[int, ...]] | None:
    """Every nodes-per-fleet vector an empty rack holds (power, units), densest first; None past `limit`."""
    out: list[tuple[int, ...]] = []

    def extend(prefix: tuple[int, ...], kw: float, u: int) -> bool:
        f = len(prefix)
        if f == len(demands):
            out.append(prefix)
            return len(out) <= limit
        d = demands[f]
        for n in range(caps[f], -1, -1):
            fits = kw + n * d.kw <= budget_kw + _EPS and u + n * d.units <= units
            if fits and not extend((*prefix, n), kw + n * d.kw, u + n * d.units):
                return False
        return True

    return out if extend((), 0.0, 0) else None


def _demands(spec: FactorySpec, step: int) -> list[_Demand]:
    """The racked fleets' demands: hybrid fleets only (EC2 instances are placed on AWS, never racked)."""
    out = []
    for i, fleet in enumerate(spec.fleets):
        if fleet.kind != "hybrid":
            continue
        itype = fleet_hardware(fleet)
        levels = power_cap_levels(fleet, itype)
        cap = levels[min(step, len(levels) - 1)]
        out.append(
            _Demand(
                i,
                fleet,
                itype,
                COOLING_RANK[itype.cooling],
                node_power_kw(fleet, itype, cap),
                itype.rack_units,
                cap,
                whole_rack(itype),
            )
        )
    return out


def _gpu_throughput(demands: list[_Demand], nodes: Mapping[int, int]) -> float:
    return sum(nodes[d.index] * d.itype.gpus * _throughput(d.itype, d.cap_w) for d in demands)


def _plan_datahall(spec: FactorySpec, site: DatahallSite) -> PlacementPlan:
    racks = site.rack_list()
    steps = max(len(power_cap_levels(f, fleet_hardware(f))) for f in spec.hybrid_fleets)
    first = _demands(spec, 0)
    work = _Work(_EXACT_WORK)
    bins, short = _pack(site, racks, first, work)
    demands = first
    if short is not None:
        uncapped_short = short
        placed0 = {d.index: sum(n for b in bins for i, n in b.placed if i == d.index) for d in first}
        for step in range(1, steps):
            demands = _demands(spec, step)
            bins, short = _pack(site, racks, demands, work)
            if short is None:
                break
        if short is not None:
            raise PlacementError([_missing(spec, site, racks, uncapped_short, capped=steps > 1)])
        full = {d.index: d.fleet.count for d in demands}
        if _gpu_throughput(demands, full) <= _gpu_throughput(first, placed0):
            raise PlacementError([_missing(spec, site, racks, uncapped_short, capped=False, not_worth=True)])
    return _datahall_plan(site, bins, demands)


def _missing(
    spec: FactorySpec,
    site: DatahallSite,
    racks: list[Rack],
    short: _Shortfall,
    *,
    capped: bool,
    not_worth: bool = False,
) -> ConfigIssue:
    d = short.demand
    path = config_path("site", "racks")
    need_class = next(c for c, r in COOLING_RANK.items() if r == d.rank)
    eligible = [r for r in racks if COOLING_RANK[r.cooling] >= d.rank]
    if not eligible:
        return ConfigIssue(
            path,
            f"fleet '{d.fleet.name}' ({hardware_model(d.fleet)}) needs {need_class}-cooled racks and the site has none",
            f"add racks with `cooling: {need_class}`",
        )
    missing = d.fleet.count - short.placed

    def by_units(r: Rack) -> int:
        if d.whole_rack:
            return 1 if site.server_units(r) > 0 else 0
        return site.server_units(r) // d.units

    def fits(r: Rack) -> int:
        return min(math.floor(site.usable_kw(r) / d.kw + _EPS), by_units(r))

    largest = max(eligible, key=fits)
    by_power = math.floor(site.usable_kw(largest) / d.kw + _EPS)
    per_rack = min(by_power, by_units(largest))
    kw = missing * d.kw / (1 - site.headroom_pct / 100)
    limit = "power" if by_power <= by_units(largest) else "rack units"
    if per_rack < 1:
        return ConfigIssue(
            path,
            f"no {need_class}-or-better rack can hold one node of fleet '{d.fleet.name}' "
            f"({d.kw:.2f} kW, {d.units}U at {site.headroom_pct:g}% headroom)",
            f"give racks at least {d.kw / (1 - site.headroom_pct / 100):.1f} kW and "
            f"{d.units + site.reserved_units}U ({d.units}U for the server, `reservedUnits` {site.reserved_units}U)",
        )
    more_racks = math.ceil(missing / per_rack)
    after = " even with GPUs capped to the fleet's gpuPowerCapW minimum" if capped else ""
    if not_worth:
        after = " (capping GPUs to fit them would give up more throughput than the extra nodes add)"
    return ConfigIssue(
        path,
        f"the site cannot hold fleet '{d.fleet.name}': {short.placed} of {d.fleet.count} nodes fit{after}; "
        f"the other {missing} need about {kw:.1f} kW and {missing * d.units}U more "
        f"in {need_class}-or-better racks",
        f"add about {more_racks} {need_class}-or-better racks like '{largest.name}' (limited by {limit}: "
        f"{per_rack} nodes each), or reduce `fleets[{d.index}].count`",
    )


def _datahall_plan(site: DatahallSite, bins: list[_Bin], demands: list[_Demand]) -> PlacementPlan:
    by_index = {d.index: d for d in demands}
    # Fleet's (rack, nodes) chunks in site order, so hostnames run contiguously rack by rack.
    chunks: dict[int, list[tuple[_Bin, int]]] = {d.index: [] for d in demands}
    for b in bins:
        per_fleet: dict[int, int] = {}
        for i, n in b.placed:
            per_fleet[i] = per_fleet.get(i, 0) + n
        for i, n in per_fleet.items():
            chunks[i].append((b, n))
    domains: list[Domain] = []
    host_of: dict[tuple[int, int], list[str]] = {}
    for i in sorted(chunks):
        d = by_index[i]
        names = hostnames(d.fleet)
        start = 0
        throughput = _throughput(d.itype, d.cap_w)
        for k, (b, n) in enumerate(chunks[i]):
            name = f"{d.fleet.name}-d{k}"
            hosts = names[start : start + n]
            start += n
            host_of[(b.order, i)] = list(hosts)
            # Every label the server's node registers with (node_labels): the fleet's own, the Kueue
            # flavor's selector and the placement's block, rack, domain and power cap.
            labels = {
                **d.fleet.labels,
                FLEET_LABEL: d.fleet.name,
                **_fleet_labels(d.fleet, name, b.rack.block, d.cap_w),
            }
            labels[LABEL_RACK] = b.rack.name
            domains.append(
                Domain(
                    name=name,
                    fleet=d.fleet.name,
                    instance_type=None,
                    nodes=n,
                    hostnames=tuple(hosts),
                    placement="rack",
                    placement_group=None,
                    partition_number=None,
                    gpu_power_cap_w=d.cap_w,
                    block=b.rack.block,
                    racks=(b.rack.name,),
                    labels=labels,
                    node_power_kw=d.kw,
                    gpus_per_node=d.itype.gpus,
                    relative_throughput=throughput,
                    server=d.fleet.server,
                )
            )
    loads: list[RackLoad] = []
    for b in bins:
        slots: list[RackSlot] = []
        u = 1
        for i, n in b.placed:
            queue = host_of[(b.order, i)]
            for _ in range(n):
                # Bottom-up from U1; a rack-scale system is the whole rack.
                units = b.rack.rack_units if by_index[i].whole_rack else by_index[i].units
                slots.append(RackSlot(queue.pop(0), u, units))
                u += units
        r = b.rack
        loads.append(
            RackLoad(
                r.name,
                r.hall,
                r.row,
                r.block,
                r.cooling,
                r.power_kw,
                b.budget_kw,
                r.rack_units,
                b.used_kw,
                tuple(slots),
            )
        )
    return PlacementPlan(
        site="datahall",
        domains=tuple(domains),
        switch_tree=_rack_tree(loads),
        racks=tuple(loads),
        pue=site.pue,
    )


def _rack_tree(loads: list[RackLoad]) -> SwitchTree:
    """Root -> one switch per network block -> one leaf per used rack (its hosts)."""
    blocks: dict[str, list[str]] = {}
    leaves: list[Switch] = []
    for r in loads:
        if r.slots:
            blocks.setdefault(r.block, []).append(r.name)
            leaves.append(Switch(r.name, nodes=tuple(sorted(s.hostname for s in r.slots))))
    uppers = [Switch(block, switches=tuple(names)) for block, names in blocks.items()]
    root = Switch(ROOT_SWITCH, switches=tuple(blocks))
    return SwitchTree((root, *uppers, *leaves))
