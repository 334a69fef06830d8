"""Numbers and values AWS refuses, through `aifactory plan` in-process: exit 2 with the config path,
and nothing registered, neither by the plan nor by the Pulumi program itself. Warnings appear in the
plan (text and JSON) and do not stop it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from aifactory.cli.engine import ProgramRun, run_program
from aifactory.cli.main import main
from aifactory.program import main as program_main
from aifactory.spec.clock import PLAN_TIME_ENV

from tests.stackfiles import base, write_stack

Mutation = Callable[[dict[str, Any]], None]
BLOCK = {"type": "capacity-block", "reservationId": "cr-0123456789abcdef0"}


@pytest.fixture(autouse=True)
def _plan_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLAN_TIME_ENV, "2026-12-01T00:00:00Z")


def _fleet(**fields: Any) -> Mutation:
    return lambda c: c["aifactory:fleets"][0].update(fields)


def _set(key: str, value: Any) -> Mutation:
    def apply(c: dict[str, Any]) -> None:
        c[key] = value

    return apply


CASES: list[tuple[str, Mutation, str]] = [
    ("count-true", _fleet(count=True), "aifactory:fleets[0].count"),
    ("node-power-inf", _fleet(nodePowerKw=math.inf), "aifactory:fleets[0].nodePowerKw"),
    ("racks-billion", _set("aifactory:site", {"kind": "datahall", "racks": 1_000_000_000}), "aifactory:site.racks"),
    (
        "quota-1e20",
        _set("aifactory:storage", {"capacityTiB": 10, "throughputGBps": 1, "quotaGiB": 1e20}),
        "aifactory:storage.quotaGiB",
    ),
    ("vpc-/8", _set("aifactory:network", {"cidr": "10.0.0.0/8"}), "aifactory:network.cidr"),
    (
        "az-repeated",
        _set("aifactory:network", {"availabilityZones": ["us-east-1a", "us-east-1b", "us-east-1b"]}),
        "aifactory:network.availabilityZones[2]",
    ),
    (
        "mount-etc",
        _set("aifactory:storage", {"capacityTiB": 10, "throughputGBps": 1, "mountPath": "/etc"}),
        "aifactory:storage.mountPath",
    ),
    (
        "public-cidrs-cover-internet",
        _set(
            "aifactory:scheduler",
            {"kind": "kubernetes", "endpoint": "public", "publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]},
        ),
        "aifactory:scheduler.publicAccessCidrs",
    ),
    (
        "chart-latest",
        _set("aifactory:scheduler", {"kind": "kubernetes", "charts": {"kueue": "latest"}}),
        "charts.kueue",
    ),
    ("scheduler-null", _set("aifactory:scheduler", None), "aifactory:scheduler"),
    (
        "block-ended",
        _fleet(capacity={**BLOCK, "endTime": "2026-11-01T11:30:00Z"}),
        "aifactory:fleets[0].capacity.endTime",
    ),
    ("k8s-version-abc", _set("aifactory:scheduler", {"kind": "kubernetes", "version": "abc"}), "scheduler.version"),
    ("taint-effect-bogus", _fleet(taints=["dedicated=lab:Bogus"]), "aifactory:fleets[0].taints[0]"),
]


@pytest.mark.parametrize(("mutate", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_value_exits_2_and_registers_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate: Mutation, path: str
) -> None:
    config = base()
    mutate(config)
    stack_file = write_stack(tmp_path, "bad", config)
    assert yaml.safe_load(stack_file.read_text())["config"] == config

    assert main(["plan", str(stack_file)]) == 2
    captured = capsys.readouterr()
    assert path in captured.err, captured.err
    assert "Traceback" not in captured.err + captured.out

    run = ProgramRun()
    with pytest.raises(pulumi.RunError):
        run_program(config, "bad", "us-east-1", "aws", program_main, run)
    assert run.resources == []


def test_warning_is_printed_with_the_plan_and_in_its_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = base()
    config["aifactory:fleets"][0]["capacity"] = {**BLOCK, "endTime": "2026-12-01T11:30:00Z"}
    stack_file = write_stack(tmp_path, "soon", config)

    assert main(["plan", str(stack_file)]) == 0
    text = capsys.readouterr().out
    assert "warnings\n  aifactory:fleets[0].capacity.endTime: the block ends within 24 hours" in text

    assert main(["plan", "--json", str(stack_file)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [(w["path"], w["severity"]) for w in document["warnings"]] == [
        ("aifactory:fleets[0].capacity.endTime", "warning")
    ]


def test_plan_without_warnings_has_an_empty_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack_file = write_stack(tmp_path, "ok", base())
    assert main(["plan", "--json", str(stack_file)]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []
