"""The text plan: fits 80 columns, shows no Python reprs or float noise, colour only on a terminal."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from aifactory.cli import main as cli
from aifactory.cli.planrun import PlanResult
from aifactory.cli.report import plan_lines

from tests.cli.test_plan import EXAMPLES
from tests.golden import check_text

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "report"
ANSI = "\x1b["
REPR = re.compile(r"\b(None|True|False)\b|[\[{(]\s*['\"]|['\"]\s*[\]})]|['\"]: ")
"""What a Python repr of None, a bool, a dict, a list or a tuple of strings leaves in text."""
NOISE = re.compile(r"\d\.\d{7,}|\de[+-]\d")


@pytest.fixture(scope="module")
def results() -> dict[str, PlanResult]:
    from aifactory.cli.planrun import plan_stack

    return {stack: plan_stack(stack) for stack in EXAMPLES}


def own_text(result: PlanResult) -> str:
    """The report with the policy pack's and the preflight's messages blanked: those are their modules'
    sentences, printed as written (the report only wraps them)."""
    blanked = dataclasses.replace(
        result,
        violations=[{**v, "message": "MESSAGE"} for v in result.violations],
        preflight=[{**f, "message": "MESSAGE"} for f in result.preflight],
    )
    return "\n".join(plan_lines(blanked, tree=True))


@pytest.mark.parametrize("stack", EXAMPLES)
def test_every_line_fits_80_columns(stack: str, results: dict[str, PlanResult]) -> None:
    lines = plan_lines(results[stack], tree=True)
    assert [line for line in lines if len(line) > 80] == []
    assert {"fleets", "network", "placement", "stacks", "policy", "deploy preflight", "resource tree"} <= set(lines)
    assert any(line.startswith("scheduler") for line in lines)


@pytest.mark.parametrize("stack", EXAMPLES)
def test_no_python_reprs_or_float_noise(stack: str, results: dict[str, PlanResult]) -> None:
    text = own_text(results[stack])
    assert REPR.findall(text) == []
    assert NOISE.findall(text) == []


@pytest.mark.parametrize("text", ["None", "{'name': 'r25'}", "['0.0.0.0/0']", "True", "29376.000000000004", "1e+06"])
def test_the_checks_catch_what_they_look_for(text: str) -> None:
    assert REPR.search(text) or NOISE.search(text)


@pytest.mark.parametrize("stack", ["dev", "sovereign-datahall"])
def test_golden_report(stack: str, results: dict[str, PlanResult]) -> None:
    check_text(GOLDEN / f"{stack}.txt", "\n".join(plan_lines(results[stack])) + "\n", __file__)


def test_numbers_at_their_units_precision(results: dict[str, PlanResult]) -> None:
    text = "\n".join(plan_lines(results["sovereign-eu"]))
    priced = "\n".join(plan_lines(results["commercial-us"]))
    assert "monthly cost ($)" in priced and "33,456.00" in priced  # thousands separator, cents
    assert re.search(r"throughput per GPU \(GB/s\)\s+0\.16\b", text)  # two significant digits
    assert re.search(r"checkpoint write time \(s\)\s+— \(no checkpoint target\)$", text, re.MULTILINE)
    assert re.search(r"total\s+32\s+256\s+unknown$", text, re.MULTILINE)  # counts whole, no price: unknown
    assert re.search(r"ondemand\s+96\s+768\s+32\s+3,200\s+5,283\.84$", priced, re.MULTILINE)  # $ right-aligned
    hall = "\n".join(plan_lines(results["sovereign-datahall"]))
    assert re.search(r"IT power \(kW\)\s+1,804\.8$", hall, re.MULTILINE)  # kW one decimal
    assert "r25: 54.0 kW of 54.0 kW (100.0 %)" in hall  # a dict as a sentence
    assert re.search(r"train\s+96\s+768\s+—\s+—\s+1,372\.8\s+—$", hall, re.MULTILINE)  # no price, no EFA: —


def test_unknown_summary_keys_are_shown_readably(results: dict[str, PlanResult]) -> None:
    """Keys the summary may grow (price source and date, storage cost) print before they have a section."""
    result = results["dev"]
    summary = dict(result.plan.summary)
    summary |= {
        "price_date": "2026-08",
        "storage_cost_per_hour_usd": 1234.5678,
        "pricing": {"source": "catalog", "regions": ["us-east-1", "eu-north-1"], "estimate": True},
        "spare": None,
        "fleets": [{**summary["fleets"][0], "price_region": "us-east-1"}],
    }
    grown = dataclasses.replace(result, plan=dataclasses.replace(result.plan, summary=summary), violations=[])
    lines = plan_lines(grown)
    text = "\n".join(lines)
    assert "other figures" in lines
    assert re.search(r"storage cost per hour \(\$\)\s+1,234\.57$", text, re.MULTILINE)
    assert re.search(r"price date\s+2026-08$", text, re.MULTILINE)
    words = " ".join(text.split())  # the mapping's sentence wraps
    assert "pricing source catalog; regions us-east-1, eu-north-1; estimate yes spare —" in words
    assert re.search(r"spare\s+—$", text, re.MULTILINE)
    assert "fleet dev: price region: us-east-1" in text
    assert REPR.findall(text) == []


@pytest.fixture
def dev_plan(results: dict[str, PlanResult], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "plan_stack", lambda stack, stacks_dir=None, pack=None: results["dev"])
    for variable in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "TTY_COMPATIBLE"):
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.usefixtures("dev_plan")
def test_a_pipe_gets_plain_text_at_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", "dev"]) == 0
    out = capsys.readouterr().out
    assert ANSI not in out
    assert out.splitlines()[:3] == ["stack dev: commercial factory in us-east-1 (aws), egress nat", "", "fleets"]
    assert max(map(len, out.splitlines())) <= 80  # long rows (the deploy command, URNs) fold at the width
    assert all(line == line.rstrip() for line in out.splitlines())


@pytest.mark.usefixtures("dev_plan")
def test_a_terminal_gets_colour(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert cli.main(["plan", "dev"]) == 0
    assert ANSI in capsys.readouterr().out


@pytest.mark.usefixtures("dev_plan")
def test_no_color_wins_over_a_terminal(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli.main(["plan", "dev"]) == 0
    assert ANSI not in capsys.readouterr().out


@pytest.mark.usefixtures("dev_plan")
def test_json_never_has_colour(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert cli.main(["plan", "dev", "--json"]) == 0
    assert ANSI not in capsys.readouterr().out


@pytest.mark.usefixtures("dev_plan")
def test_the_report_follows_the_width(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert cli.main(["plan", "dev"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 60
    assert any(line.split() == ["total", "2", "2", "4.03"] for line in lines)


@pytest.mark.parametrize("stack", EXAMPLES)
def test_policy_and_preflight_messages_have_no_reprs(stack: str, results: dict[str, PlanResult]) -> None:
    messages = "\n".join(v["message"] for v in results[stack].violations)
    messages += "\n".join(f["message"] for f in results[stack].preflight)
    assert REPR.findall(messages) == []
