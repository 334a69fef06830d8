"""`aifactory plan` and `policy-check` take `--policy-config FILE`: a file with mistakes exits 2 before
anything is planned; its levels decide what fails."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from aifactory.cli.main import main


@pytest.fixture(scope="module")
def dev_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The commercial-us stack's plan, whose one violation is the advisory `s3-access-logging` (the bucket
    delivers no access logs: the organization's log bucket is not the factory's)."""
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["plan", "commercial-us", "--json"]) == 0
    capture = json.loads(out.getvalue())
    assert {v["policy"] for v in capture["policy"]["violations"]} == {"s3-access-logging"}
    path.write_text(json.dumps(capture))
    return path


def config(tmp_path: Path, document: Any) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.parametrize(
    ("document", "code", "levels"),
    [
        (None, 0, {"advisory"}),
        ({"s3-access-logging": "mandatory"}, 1, {"mandatory"}),
        ({"all": "mandatory"}, 1, {"mandatory"}),
        ({"all": "mandatory", "s3-access-logging": {"enforcementLevel": "advisory"}}, 0, {"advisory"}),
        ({"s3-access-logging": "disabled"}, 0, set()),
        ({"s3-access-logging": "remediate"}, 1, {"mandatory"}),
    ],
)
def test_policy_check_levels_decide_the_exit_code(
    dev_plan: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    document: Any,
    code: int,
    levels: set[str],
) -> None:
    args = ["policy-check", str(dev_plan), "--json"]
    if document is not None:
        args += ["--policy-config", config(tmp_path, document)]
    assert main(args) == code
    violations = json.loads(capsys.readouterr().out)["violations"]
    assert {v["level"] for v in violations} == levels


def test_plan_takes_the_same_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "commercial-us", "--policy-config", config(tmp_path, {"s3-access-logging": "mandatory"})]) == 1
    out = " ".join(capsys.readouterr().out.split())  # the report wraps long messages
    assert "[mandatory] s3-access-logging:" in out and ". Fix: " in out
    assert main(["plan", "commercial-us", "--policy-config", config(tmp_path, {"s3-access-logging": "disabled"})]) == 0
    assert "  no violations" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["plan", "policy-check"])
def test_a_file_with_mistakes_exits_2_with_every_mistake(
    command: str, dev_plan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, {"no-open-egres": "disabled", "required-tags": {"requiredTags": "x"}})
    target = "dev" if command == "plan" else str(dev_plan)
    assert main([command, target, "--policy-config", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing planned, nothing checked
    lines = captured.err.splitlines()
    assert lines[0] == "invalid policy config:"
    assert lines[1].startswith("  no-open-egres: is not a policy of the aifactory pack. Fix: did you mean")
    assert lines[2].startswith("  required-tags.requiredTags: 'x' is not of type 'array'. Fix: give requiredTags")
    assert all(line.endswith(f"(at {path})") for line in lines[1:])
    assert "Traceback" not in captured.err

    assert main([command, target, "--policy-config", path, "--json"]) == 2
    errors = json.loads(capsys.readouterr().out)["errors"]
    assert [(e["path"], e["file"]) for e in errors] == [
        ("no-open-egres", path),
        ("required-tags.requiredTags", path),
    ]
    assert all(e["fix"] for e in errors)


def test_a_file_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"all": "mandatory",\n}')
    assert main(["plan", "dev", "--policy-config", str(path)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    assert main(["plan", "dev", "--policy-config", str(tmp_path / "missing.json")]) == 2
    assert "cannot be read" in capsys.readouterr().err
