"""`aifactory plan --json` numbers: counts are integers, measurements carry no binary float noise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aifactory.cli.main import main
from aifactory.planning.figures import COUNT_KEYS, rounded_figures, unit_of

from tests.cli.test_plan import EXAMPLES

MAX_DECIMALS = 6


def numbers(value: Any, path: str = "") -> Iterator[tuple[str, str, float | int]]:
    """(path, key, number) for every number in a JSON document (bools are not numbers)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from numbers(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from numbers(v, f"{path}[{i}]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        key = path.rsplit(".", 1)[-1].split("[", 1)[0]
        yield path, key, value


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    from aifactory.cli.planrun import plan_stack

    return {stack: plan_stack(stack).as_json() for stack in EXAMPLES}


@pytest.mark.parametrize("stack", EXAMPLES)
def test_no_count_is_a_float(stack: str, documents: dict[str, dict[str, Any]]) -> None:
    found = [(path, n) for path, key, n in numbers(documents[stack]) if key in COUNT_KEYS]
    assert found, "the plan has counts"
    assert [(path, n) for path, n in found if not isinstance(n, int)] == []


@pytest.mark.parametrize("stack", EXAMPLES)
def test_engine_values_keep_their_integers(stack: str, documents: dict[str, dict[str, Any]]) -> None:
    """Resource inputs and stack outputs cross the engine as doubles; whole ones come back as integers."""
    document = documents[stack]
    engine = {"resources": document["resources"], "outputs": document["outputs"], "stacks": document["stacks"]}
    assert [(path, n) for path, _, n in numbers(engine) if isinstance(n, float) and n.is_integer()] == []


@pytest.mark.parametrize("stack", EXAMPLES)
def test_no_float_has_noise(stack: str, documents: dict[str, dict[str, Any]]) -> None:
    noisy = [
        (path, n)
        for path, _, n in numbers(documents[stack])
        if isinstance(n, float) and ("e" in repr(n) or len(repr(n).partition(".")[2]) > MAX_DECIMALS)
    ]
    assert noisy == []


def test_the_printed_json_has_integer_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "dev", "--json"]) == 0
    text = capsys.readouterr().out
    document = json.loads(text)
    assert document["outputs"]["placement"]["nodes"] == 2 and '"nodes": 2.0' not in text
    group = next(r for r in document["resources"] if r["type"] == "aws:autoscaling/group:Group")
    assert type(group["inputs"]["desiredCapacity"]) is int


def test_storage_figures_are_rounded_to_their_units(documents: dict[str, dict[str, Any]]) -> None:
    storage = documents["sovereign-eu"]["summary"]["storage"]
    assert storage["monthly_cost_usd"] is None  # eu-north-1 has no FSx price table: no figure, a note
    assert storage["gbps_per_gpu"] == 0.1648  # 0.1 MB/s
    assert documents["commercial-us"]["summary"]["storage"]["monthly_cost_usd"] == 33456.0
    assert documents["commercial-us"]["summary"]["storage"]["capacity_tib"] == 96.094  # about 1 GiB


def test_rounding_follows_the_key_unit() -> None:
    rounded = rounded_figures(
        {
            "nodes": 2.0,
            "storage_cost_per_hour_usd": 1.23456,  # a key the summary may grow: unit from its suffix
            "it_power_kw": 1804.80000001,
            "ratio": 0.123456789,
            "racks": [{"nodes": 4.0, "power_kw": 54.00049}],
            "label": "r25",
        }
    )
    assert rounded == {
        "nodes": 2,
        "storage_cost_per_hour_usd": 1.23,
        "it_power_kw": 1804.8,
        "ratio": 0.123457,
        "racks": [{"nodes": 4, "power_kw": 54.0}],
        "label": "r25",
    }
    assert type(rounded["nodes"]) is int and type(rounded["racks"][0]["nodes"]) is int


def test_a_fractional_count_is_a_bug_not_rounded_away() -> None:
    with pytest.raises(ValueError, match=r"'gpus' is 1\.5"):
        rounded_figures({"gpus": 1.5})


@pytest.mark.parametrize(
    ("key", "symbol"),
    [("network_gbps_per_node", "Gbit/s"), ("throughput_gbps", "GB/s"), ("price_usd", "$"), ("nodes", "")],
)
def test_units_by_key(key: str, symbol: str) -> None:
    unit = unit_of(key)
    assert unit is not None and unit.symbol == symbol


def test_a_key_without_a_unit_has_none() -> None:
    assert unit_of("pue_target") is None
