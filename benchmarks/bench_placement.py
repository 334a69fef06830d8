"""Placement planner benchmark: time at ~1k/10k/100k GPUs, `pack` quality against bounds and optimum.

Run: `python benchmarks/bench_placement.py [--small-sites 60] [--seed 7]` (under a minute here).

- Time: `plan_placement` process CPU time and wall time on mixed-cooling data halls (best of 3 runs).
The planner's objective is lexicographic: first the fewest network blocks spanned (summed over
fleets), then the fewest racks. Every bound and optimum below that is compared against a target states
that same objective; racks-alone figures are printed for information.

- Racks used vs a lexicographic lower bound computed independently (OR-Tools SCIP): racks are grouped
  into rack types (cooling, kW, U) and blocks into block types (their multiset of rack types). Integer
  variables count the blocks of each type each fleet spans; continuous variables count the racks of
  each type in each block type filled with each feasible per-rack node pattern (a configuration LP: a
  pattern respects power with headroom, units and cooling). Stage 1 minimises total blocks spanned
  (a lower bound on blocks); stage 2 minimises racks among placements spanning no more blocks in total
  than the plan does, which includes every lexicographically optimal placement. Every real placement
  maps onto a feasible point of this model, so ceil(stage 2) is a lower bound on racks.
- For information, racks alone: the plain LP relaxation of rack minimisation (GLOP), ignoring blocks.
- Racks used vs the exact optimum of a CP-SAT model on random small sites, with the same lexicographic
  objective (fewest blocks summed over fleets, then fewest racks) and, for information, racks alone.
- Network blocks spanned per fleet vs its minimum (fewest blocks of the empty site that can hold it).
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import time
from collections.abc import Sequence
from typing import Any

from aifactory.catalog.hardware import fleet_hardware
from aifactory.planning.placement import PlacementError, PlacementPlan, node_power_kw, plan_placement
from aifactory.spec.model import FactorySpec
from aifactory.spec.site import COOLING_RANK, DatahallSite, Rack
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

RACK_TYPES = (  # (cooling, power kW, rack units): typical air / rear-door / direct-liquid racks
    ("air", 40.0, 42),
    ("rear-door", 75.0, 48),
    ("liquid", 120.0, 52),
)
FLEET_MIX = (("dgx-h100", 0.6), ("dgx-b200", 0.3), ("dgx-a100", 0.1))  # the customer's own servers


def big_site(gpus: int, spare: float = 0.15, racks_per_block: int = 32) -> FactorySpec:
    nodes = gpus // 8
    fleets = [
        {"name": f"f{i}", "kind": "hybrid", "server": t, "count": max(1, round(nodes * share))}
        for i, (t, share) in enumerate(FLEET_MIX)
    ]
    # Average nodes per rack over the mix is about 4; size the hall with `spare` capacity left over.
    n_racks = math.ceil(nodes / 4 * (1 + spare))
    racks = []
    for i in range(n_racks):
        cooling, power, units = RACK_TYPES[i % 3]
        racks.append(
            {
                "name": f"r{i:05d}",
                "row": f"row-{i // 20:03d}",
                "powerKw": power,
                "cooling": cooling,
                "rackUnits": units,
                "block": f"b{i // racks_per_block:03d}",
            }
        )
    return FactorySpec.model_validate(
        {
            "region": "us-east-1",
            "profile": "commercial",
            "fleets": fleets,
            # Servers in every unit, as the CP-SAT and LP models assume.
            "site": {"kind": "datahall", "racks": racks, "headroomPct": 10, "reservedUnits": 0},
        }
    )


def timed(spec: FactorySpec, repeat: int = 3) -> tuple[float, float, PlacementPlan]:
    """(best process CPU seconds, best wall seconds, plan) over `repeat` runs."""
    cpu = wall = math.inf
    plan = None
    for _ in range(repeat):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        plan = plan_placement(spec)
        cpu = min(cpu, time.process_time() - start_cpu)
        wall = min(wall, time.perf_counter() - start_wall)
    assert plan is not None
    return cpu, wall, plan


def _fleet_terms(spec: FactorySpec) -> list[tuple[str, float, int, int, int]]:
    """(name, node kW at the plan's cap level 0, units, cooling rank, count) per fleet."""
    out = []
    for f in spec.fleets:
        it = fleet_hardware(f)
        out.append((f.name, node_power_kw(f, it, None), it.rack_units, COOLING_RANK[it.cooling], f.count))
    return out


def _per_rack(site: DatahallSite, r: Rack, kw: float, units: int, rank: int) -> int:
    if COOLING_RANK[r.cooling] < rank:
        return 0
    return max(0, min(math.floor(site.usable_kw(r) / kw + 1e-9), r.rack_units // units))


def lp_lower_bound(spec: FactorySpec) -> float:
    """LP relaxation of min racks used, over rack types (identical racks aggregated)."""
    site = spec.site
    assert isinstance(site, DatahallSite)
    types: dict[tuple[str, float, int], list[Rack]] = {}
    for r in site.rack_list():
        types.setdefault((r.cooling, r.power_kw, r.rack_units), []).append(r)
    fleets = _fleet_terms(spec)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    y = {t: solver.NumVar(0, len(rs), f"y{i}") for i, (t, rs) in enumerate(types.items())}
    x: dict[tuple[int, tuple[str, float, int]], Any] = {}
    for fi, (_, kw, units, rank, _) in enumerate(fleets):
        for t, rs in types.items():
            cap = _per_rack(site, rs[0], kw, units, rank)
            if cap:
                x[fi, t] = solver.NumVar(0, solver.infinity(), f"x{fi}_{t}")
                solver.Add(x[fi, t] <= cap * y[t])
    for t, rs in types.items():
        budget = site.usable_kw(rs[0])
        solver.Add(sum(fleets[fi][1] * v for (fi, tt), v in x.items() if tt == t) <= budget * y[t])
        solver.Add(sum(fleets[fi][2] * v for (fi, tt), v in x.items() if tt == t) <= rs[0].rack_units * y[t])
    for fi, f in enumerate(fleets):
        solver.Add(sum(v for (g, _), v in x.items() if g == fi) == f[4])
    solver.Minimize(sum(y.values()))
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    return float(solver.Objective().Value())


FleetTerms = list[tuple[str, float, int, int, int]]


def _patterns(site: DatahallSite, r: Rack, fleets: FleetTerms) -> list[tuple[int, ...]]:
    """Every non-empty per-rack node count vector (one entry per fleet) the rack can hold."""
    caps = [min(_per_rack(site, r, kw, units, rank), count) for _, kw, units, rank, count in fleets]
    budget = site.usable_kw(r) + 1e-9
    out = []
    for p in itertools.product(*(range(c + 1) for c in caps)):
        if not any(p):
            continue
        kw = sum(n * f[1] for n, f in zip(p, fleets, strict=True))
        units = sum(n * f[2] for n, f in zip(p, fleets, strict=True))
        if kw <= budget and units <= r.rack_units:
            out.append(p)
    return out


def lexicographic_bounds(spec: FactorySpec, max_blocks: int | None) -> tuple[float, float | None]:
    """(lower bound on total blocks spanned, lower bound on racks spanning at most `max_blocks` blocks)."""
    site = spec.site
    assert isinstance(site, DatahallSite)
    fleets = _fleet_terms(spec)
    kinds: dict[tuple[str, float, int], Rack] = {}
    comp: dict[str, dict[tuple[str, float, int], int]] = {}
    for r in site.rack_list():
        k = (r.cooling, r.power_kw, r.rack_units)
        kinds.setdefault(k, r)
        comp.setdefault(r.block, {}).setdefault(k, 0)
        comp[r.block][k] += 1
    block_types: dict[tuple[tuple[tuple[str, float, int], int], ...], int] = {}
    for c in comp.values():
        key = tuple(sorted(c.items()))
        block_types[key] = block_types.get(key, 0) + 1
    pats = {k: _patterns(site, r, fleets) for k, r in kinds.items()}

    def solve(stage: int) -> float:
        s = pywraplp.Solver.CreateSolver("SCIP")
        w: dict[tuple[int, int], Any] = {}
        z: list[Any] = []
        demand: list[list[Any]] = [[] for _ in fleets]
        for t, (members, n) in enumerate(block_types.items()):
            for f in range(len(fleets)):
                w[f, t] = s.IntVar(0, n, f"w{f}_{t}")
            for k, c in members:
                zs = [s.NumVar(0, c * n, f"z{t}_{k}_{p}") for p in pats[k]]
                z.extend(zs)
                s.Add(sum(zs) <= c * n)
                s.Add(sum(zs) <= c * sum(w[f, t] for f in range(len(fleets))))
                for f in range(len(fleets)):
                    # Racks of this type holding fleet f lie in the blocks f spans.
                    s.Add(sum(v for p, v in zip(pats[k], zs, strict=True) if p[f]) <= c * w[f, t])
                    demand[f].extend(p[f] * v for p, v in zip(pats[k], zs, strict=True) if p[f])
        for f, terms in enumerate(demand):
            s.Add(sum(terms) == fleets[f][4])
        if stage == 1:
            s.Minimize(sum(w.values()))
        else:
            s.Add(sum(w.values()) <= max_blocks)
            s.Minimize(sum(z))
        assert s.Solve() == pywraplp.Solver.OPTIMAL
        return float(s.Objective().Value())

    return solve(1), None if max_blocks is None else solve(2)


def racks_used(plan: PlacementPlan) -> int:
    return sum(1 for r in plan.racks if r.nodes)


def blocks_vs_minimum(spec: FactorySpec, plan: PlacementPlan) -> list[tuple[str, int, int]]:
    site = spec.site
    assert isinstance(site, DatahallSite)
    out = []
    for name, kw, units, rank, count in _fleet_terms(spec):
        per_block: dict[str, int] = {}
        for r in site.rack_list():
            per_block[r.block] = per_block.get(r.block, 0) + _per_rack(site, r, kw, units, rank)
        need, minimum = count, 0
        for cap in sorted(per_block.values(), reverse=True):
            if need <= 0:
                break
            need -= cap
            minimum += 1
        spanned = len({d.block for d in plan.domains_for(name)})
        out.append((name, spanned, minimum))
    return out


def small_site(rng: random.Random) -> FactorySpec:
    n_racks = rng.randint(4, 9)
    racks = []
    for i in range(n_racks):
        cooling, power, units = rng.choice(RACK_TYPES)
        power = rng.choice([power, power * 0.75])
        units = rng.choice([units, 24])
        racks.append(
            {
                "name": f"r{i}",
                "powerKw": power,
                "cooling": cooling,
                "rackUnits": units,
                "block": f"b{rng.randint(0, 2)}",
            }
        )
    fleets = [
        {
            "name": f"f{i}",
            "kind": "hybrid",
            "server": rng.choice(["dgx-h100", "dgx-a100", "dgx-b200", "dgx-h200"]),
            "count": rng.randint(1, 8),
        }
        for i in range(rng.randint(1, 3))
    ]
    return FactorySpec.model_validate(
        {
            "region": "us-east-1",
            "profile": "commercial",
            "fleets": fleets,
            # Servers in every unit, as the CP-SAT and LP models assume.
            "site": {"kind": "datahall", "racks": racks, "headroomPct": 10, "reservedUnits": 0},
        }
    )


def cp_sat_optimum(spec: FactorySpec, blocks_first: bool) -> int:
    """Exact min racks (optionally after min total blocks spanned per fleet) for one site."""
    site = spec.site
    assert isinstance(site, DatahallSite)
    racks = site.rack_list()
    blocks = sorted({r.block for r in racks})
    fleets = _fleet_terms(spec)
    m = cp_model.CpModel()
    y = [m.NewBoolVar(f"y{r}") for r in range(len(racks))]
    x = {}
    for fi, (_, kw, units, rank, count) in enumerate(fleets):
        for ri, r in enumerate(racks):
            cap = _per_rack(site, r, kw, units, rank)
            if cap:
                x[fi, ri] = m.NewIntVar(0, min(cap, count), f"x{fi}_{ri}")
                m.Add(x[fi, ri] <= cap * y[ri])
    for ri, r in enumerate(racks):
        # Power in watts to keep the model integral.
        m.Add(
            sum(round(fleets[fi][1] * 1000) * v for (fi, rj), v in x.items() if rj == ri)
            <= math.floor(site.usable_kw(r) * 1000 + 1e-6)
        )
        m.Add(sum(fleets[fi][2] * v for (fi, rj), v in x.items() if rj == ri) <= r.rack_units)
    for fi, f in enumerate(fleets):
        m.Add(sum(v for (g, _), v in x.items() if g == fi) == f[4])
    objective: Any = sum(y)
    if blocks_first:
        z = {}
        for fi in range(len(fleets)):
            for b in blocks:
                z[fi, b] = m.NewBoolVar(f"z{fi}{b}")
                for (g, ri), v in x.items():
                    if g == fi and racks[ri].block == b:
                        m.Add(v <= fleets[fi][4] * z[fi, b])
        objective = (len(racks) + 1) * sum(z.values()) + objective
    m.Minimize(objective)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 20
    status = solver.Solve(m)
    if status == cp_model.INFEASIBLE:
        raise PlacementError([])
    assert status == cp_model.OPTIMAL
    return sum(int(solver.Value(v)) for v in y)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-sites", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    print(
        "| GPUs | nodes | racks in site | plan CPU (s) | plan wall (s) | racks used | lex bound (ceil) "
        "| ratio "
        "| blocks spanned (sum) / bound | per fleet: spanned/minimum | racks-alone LP (ceil) | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for gpus in (1_000, 10_000, 100_000):
        spec = big_site(gpus)
        cpu, wall, plan = timed(spec)
        used = racks_used(plan)
        per_fleet = blocks_vs_minimum(spec, plan)
        spanned = sum(s for _, s, _ in per_fleet)
        block_bound, rack_bound = lexicographic_bounds(spec, spanned)
        assert rack_bound is not None
        lex = math.ceil(rack_bound - 1e-6)
        lp = math.ceil(lp_lower_bound(spec) - 1e-6)
        blocks = ", ".join(f"{n} {s}/{mn}" for n, s, mn in per_fleet)
        site = spec.site
        assert isinstance(site, DatahallSite)
        print(
            f"| {gpus:,} | {sum(f.count for f in spec.fleets):,} | {len(site.rack_list()):,} | {cpu:.3f} "
            f"| {wall:.3f} | {used:,} | {lex:,} | {used / lex:.4f} "
            f"| {spanned} / {math.ceil(block_bound - 1e-6)} "
            f"| {blocks} | {lp:,} | {used / lp:.4f} |"
        )

    rng = random.Random(args.seed)
    equal_lex = equal_racks = feasible = 0
    gaps: list[int] = []
    while feasible < args.small_sites:
        spec = small_site(rng)
        try:
            plan = plan_placement(spec)
        except PlacementError:
            try:
                cp_sat_optimum(spec, blocks_first=False)
            except PlacementError:
                continue
            print("planner failed on a site CP-SAT can hold:", spec.model_dump_json(by_alias=True))
            feasible += 1
            continue
        feasible += 1
        used = racks_used(plan)
        lex = cp_sat_optimum(spec, blocks_first=True)
        pure = cp_sat_optimum(spec, blocks_first=False)
        equal_lex += used == lex
        equal_racks += used == pure
        gaps.append(used - lex)
    print()
    print(f"small sites (seed {args.seed}): {feasible}")
    if not feasible:
        return
    print(
        f"  equal to the CP-SAT optimum (fewest blocks, then racks): {equal_lex}/{feasible} "
        f"({100 * equal_lex / feasible:.1f}%), mean extra racks {statistics.mean(gaps):.3f}"
    )
    print(
        f"  equal to the CP-SAT optimum of racks alone:              {equal_racks}/{feasible} "
        f"({100 * equal_racks / feasible:.1f}%)"
    )


if __name__ == "__main__":
    main()
