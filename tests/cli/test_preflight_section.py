"""`aifactory plan` runs the deploy preflight: its own section, and exit code 1 when it finds anything."""

from __future__ import annotations

import json

import pytest
from aifactory.cli import main as cli
from aifactory.cli.planrun import PlanResult, plan_stack


@pytest.fixture(scope="module")
def dev() -> PlanResult:
    return plan_stack("dev")


def test_a_clean_preflight_is_reported_and_exits_zero(
    dev: PlanResult, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "plan_stack", lambda stack, stacks_dir=None, pack=None: dev)
    assert cli.main(["plan", "dev"]) == 0
    out = capsys.readouterr().out
    assert "deploy preflight\n  every required flow, key use and fetch is allowed" in out


def test_a_finding_is_printed_by_rule_and_subject_and_exits_one(
    dev: PlanResult, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    finding = {"rule": "reach.eks-api", "subject": "node group a → EKS control plane (tcp 443)", "message": "blocked"}
    failing = PlanResult(dev.plan, dev.resources, dev.outputs, dev.violations, [finding])
    monkeypatch.setattr(cli, "plan_stack", lambda stack, stacks_dir=None, pack=None: failing)
    assert cli.main(["plan", "dev"]) == 1
    assert "  [reach.eks-api] node group a → EKS control plane (tcp 443)\n      blocked" in capsys.readouterr().out
    assert cli.main(["plan", "dev", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["preflight"]["findings"] == [finding]
