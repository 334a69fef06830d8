"""Numbers in a stack config: strict types, finite values, upper bounds, and sizing that never enumerates.

Every case names the config path its error must carry. Both config paths are covered: the parsed
stack YAML (Python objects) and the engine's JSON strings (`loading._decode`).
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Callable
from typing import Any

import pytest
from aifactory.catalog.instance_types import instance_types
from aifactory.planning.storage_sizing import (
    largest_capacity_gib,
    max_capacity_tib,
    max_throughput_gbps,
    tiers,
    valid_capacities_gib,
)
from aifactory.spec.base import SpecModel
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import spec_from_config
from aifactory.spec.model import MAX_GPU_POWER_W, FactorySpec
from aifactory.spec.numbers import FSX_MAX_STORAGE_GIB
from pydantic import BaseModel, Strict

from tests.stackfiles import base

Mutation = Callable[[dict[str, Any]], None]

STORAGE = {"capacityTiB": 10, "throughputGBps": 2}


def fleet(**fields: Any) -> Mutation:
    return lambda c: c["aifactory:fleets"][0].update(fields)


def key(name: str, value: Any) -> Mutation:
    def apply(c: dict[str, Any]) -> None:
        c[f"aifactory:{name}"] = value

    return apply


def storage(**fields: Any) -> Mutation:
    return key("storage", {**STORAGE, **fields})


def datahall(**fields: Any) -> Mutation:
    return key("site", {"kind": "datahall", "racks": 8, **fields})


CASES: list[tuple[str, Mutation, str]] = [
    # booleans, strings and fractions are not counts
    ("count-true", fleet(count=True), "aifactory:fleets[0].count"),
    ("count-string", fleet(count="4"), "aifactory:fleets[0].count"),
    ("count-fraction", fleet(count=4.5), "aifactory:fleets[0].count"),
    ("count-too-many", fleet(count=100_001), "aifactory:fleets[0].count"),
    ("root-volume-bool", fleet(rootVolumeGiB=True), "aifactory:fleets[0].rootVolumeGiB"),
    ("root-volume-over-gp3", fleet(rootVolumeGiB=16385), "aifactory:fleets[0].rootVolumeGiB"),
    # NaN and infinities are valid YAML floats (.nan, .inf) but not JSON
    ("node-power-nan", fleet(nodePowerKw=math.nan), "aifactory:fleets[0].nodePowerKw"),
    ("node-power-inf", fleet(nodePowerKw=math.inf), "aifactory:fleets[0].nodePowerKw"),
    ("node-power-over-rack", fleet(nodePowerKw=251), "aifactory:fleets[0].nodePowerKw"),
    ("node-power-bool", fleet(nodePowerKw=True), "aifactory:fleets[0].nodePowerKw"),
    ("power-cap-over", fleet(gpuPowerCapW={"min": 200, "max": 7000}), "aifactory:fleets[0].gpuPowerCapW.max"),
    ("power-cap-bool", fleet(gpuPowerCapW={"min": True, "max": 500}), "aifactory:fleets[0].gpuPowerCapW.min"),
    ("fleets-too-many", key("fleets", [{"name": f"f{i}"} for i in range(101)]), "aifactory:fleets"),
    ("capacity-nan", storage(capacityTiB=math.nan), "aifactory:storage.capacityTiB"),
    ("capacity-bool", storage(capacityTiB=True), "aifactory:storage.capacityTiB"),
    ("capacity-beyond-fsx", storage(capacityTiB=1e12), "aifactory:storage.capacityTiB"),
    ("throughput-inf", storage(throughputGBps=math.inf), "aifactory:storage.throughputGBps"),
    ("throughput-string", storage(throughputGBps="2"), "aifactory:storage.throughputGBps"),
    ("throughput-beyond-fsx", storage(throughputGBps=1e9), "aifactory:storage.throughputGBps"),
    ("quota-float", storage(quotaGiB=1e20), "aifactory:storage.quotaGiB"),
    ("quota-beyond-fsx", storage(quotaGiB=10**20), "aifactory:storage.quotaGiB"),
    ("quota-bool", storage(quotaGiB=True), "aifactory:storage.quotaGiB"),
    ("backup-days-bool", storage(backupRetentionDays=True), "aifactory:storage.backupRetentionDays"),
    (
        "checkpoint-seconds-nan",
        key("storage", {"capacityTiB": 10, "checkpoint": {"sizeTB": 1, "seconds": math.nan}}),
        "aifactory:storage.checkpoint.seconds",
    ),
    (
        "checkpoint-week-plus",
        key("storage", {"capacityTiB": 10, "checkpoint": {"sizeTB": 1, "seconds": 10**7}}),
        "aifactory:storage.checkpoint.seconds",
    ),
    ("racks-billion", datahall(racks=1_000_000_000), "aifactory:site.racks"),
    ("racks-true", datahall(racks=True), "aifactory:site.racks"),
    ("pue-nan", datahall(pue=math.nan), "aifactory:site.pue"),
    ("pue-above-3", datahall(pue=3.5), "aifactory:site.pue"),
    ("headroom-inf", datahall(headroomPct=math.inf), "aifactory:site.headroomPct"),
    ("rack-power-over", datahall(racks=[{"name": "a", "powerKw": 4000}]), "aifactory:site.racks[0].powerKw"),
    ("rack-units-over", datahall(rackDefaults={"rackUnits": 420}), "aifactory:site.rackDefaults.rackUnits"),
    ("racks-per-row-bool", datahall(racksPerRow=True), "aifactory:site.racksPerRow"),
    ("domain-power-nan", key("site", {"kind": "aws", "domainPowerKw": math.nan}), "aifactory:site.domainPowerKw"),
    (
        "domain-nodes-bool",
        key("site", {"kind": "aws", "maxNodesPerDomain": True}),
        "aifactory:site.maxNodesPerDomain",
    ),
    (
        "queue-quota-bool",
        key("scheduler", {"kind": "kubernetes", "queues": [{"name": "a", "namespace": "a", "gpuQuota": True}]}),
        "aifactory:scheduler.queues[0].gpuQuota",
    ),
]


def _paths(config: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        spec_from_config(config)
    return {i.path: i.problem for i in exc.value.issues}


@pytest.mark.parametrize(("mutate", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_number_names_its_path(mutate: Mutation, path: str) -> None:
    config = base()
    mutate(config)
    assert path in _paths(config)


def _as_engine_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config as the Pulumi engine hands it over: structured values as JSON strings."""
    return {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in config.items()}


@pytest.mark.parametrize(
    ("mutate", "path"),
    [c[1:] for c in CASES if "nan" not in c[0] and "inf" not in c[0]],
    ids=[c[0] for c in CASES if "nan" not in c[0] and "inf" not in c[0]],
)
def test_bad_number_through_the_engine_json(mutate: Mutation, path: str) -> None:
    config = base()
    mutate(config)
    assert path in _paths(_as_engine_config(config))


def test_good_numbers_pass_both_paths() -> None:
    config = base()
    config["aifactory:storage"] = {"capacityTiB": 10, "throughputGBps": 2.5, "quotaGiB": 1_000_000}
    config["aifactory:fleets"][0].update(count=4, rootVolumeGiB=500, nodePowerKw=10)
    for form in (config, _as_engine_config(config)):
        spec = spec_from_config(form)
        assert spec.fleets[0].count == 4 and spec.storage is not None and spec.storage.capacity_tib == 10.0


def _number_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[tuple[str, bool]]:
    """(model.field, strict?) for every int or float a config model holds, nested models included."""
    found: list[tuple[str, bool]] = []
    if model in seen:
        return found
    seen.add(model)
    for name, info in model.model_fields.items():
        field_strict = any(isinstance(m, Strict) for m in info.metadata)
        stack: list[tuple[Any, bool]] = [(info.annotation, field_strict)]
        while stack:
            annotation, strict = stack.pop()
            if typing.get_origin(annotation) is typing.Annotated:
                inner, *metadata = typing.get_args(annotation)
                stack.append((inner, strict or any(isinstance(m, Strict) for m in metadata)))
            elif typing.get_origin(annotation) in (typing.Union, types.UnionType, list, dict):
                stack.extend((arg, strict) for arg in typing.get_args(annotation))
            elif annotation in (int, float):
                found.append((f"{model.__name__}.{name}", strict))
            elif isinstance(annotation, type) and issubclass(annotation, SpecModel):
                found += _number_fields(annotation, seen)
    return found


def test_every_number_field_is_strict() -> None:
    """A new int or float field without a `numbers.py` type would take `true` as 1 again."""
    fields = _number_fields(FactorySpec, set())
    assert len(fields) > 20
    assert [name for name, strict in fields if not strict] == []


def test_power_cap_bound_is_above_every_catalog_tdp() -> None:
    assert max(t.accelerator.tdp_w for t in instance_types().values()) < MAX_GPU_POWER_W


@pytest.mark.parametrize("efa", [False, True])
def test_largest_capacity_matches_the_enumeration(efa: bool) -> None:
    for tier in tiers("PERSISTENT_2"):
        for quota in (1199, 1200, 2399, 2400, 4799, 100_800, 250_000):
            listed = list(valid_capacities_gib(tier, efa, quota))
            assert largest_capacity_gib(tier, efa, quota) == (listed[-1] if listed else None)


def test_service_maximum_is_computed_not_enumerated() -> None:
    """At the FSx API's largest capacity the enumeration would take ~900,000 steps per tier; a quota
    of 10^18 GiB (before the model bounded it) hung the plan."""
    top = FSX_MAX_STORAGE_GIB // 2400 * 2400
    assert max_capacity_tib(("PERSISTENT_2", "SCRATCH_2"), False, 10**18) == 10**18 // 2400 * 2400 / 1024
    assert max_capacity_tib(("PERSISTENT_2",), False, FSX_MAX_STORAGE_GIB) == top / 1024
    assert max_throughput_gbps(("PERSISTENT_2",), True, 10**18) == pytest.approx(10**18 // 4800 * 4800 / 1024)


def test_union_value_gets_one_issue_naming_the_real_problem() -> None:
    """`racks: int | list`: a billion fails the int's bound and the list's type; only the bound is news."""
    config = base()
    datahall(racks=1_000_000_000)(config)
    with pytest.raises(ConfigError) as exc:
        spec_from_config(config)
    racks = [i for i in exc.value.issues if i.path == "aifactory:site.racks"]
    assert len(racks) == 1 and "less than or equal to 10000" in racks[0].problem
