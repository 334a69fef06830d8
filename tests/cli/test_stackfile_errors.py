"""Bad stack files and plan JSON through the CLI: exit 2, one line per problem (or the JSON error shape
with `--json`), no traceback; ordinary YAML such as an unquoted timestamp plans; `| head` is quiet."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aifactory.cli.engine import run_program
from aifactory.cli.main import main

STACKS = Path(__file__).resolve().parents[2] / "stacks"
ERROR_KEYS = {"path", "problem", "fix", "severity", "file", "line", "column"}


def _copy(tmp_path: Path, stack: str, edit: Any = None, name: str = "edited") -> Path:
    text = (STACKS / f"Pulumi.{stack}.yaml").read_text()
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(edit(text) if edit else text)
    return path


def test_duplicate_profile_in_a_sovereign_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's case: a second `aifactory:profile: commercial` used to plan a commercial factory
    without its CMK, exit 0."""
    path = _copy(tmp_path, "sovereign-eu", lambda t: t + "  aifactory:profile: commercial\n")
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    line = len(path.read_text().splitlines())
    assert "aifactory:profile: sets `aifactory:profile` twice (first at line 5)" in err
    assert f"(at {path}:{line}:3)" in err


def test_plan_json_prints_config_errors_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _copy(tmp_path, "dev", lambda t: t.replace("count: 2", "count: -2"))
    assert main(["plan", str(path), "--json"]) == 2
    out, err = capsys.readouterr()
    errors = json.loads(out)["errors"]
    assert err == ""
    assert all(set(e) == ERROR_KEYS for e in errors)
    (count,) = [e for e in errors if e["path"] == "aifactory:fleets[0].count"]
    assert count["file"] == str(path)
    assert path.read_text().splitlines()[count["line"] - 1].strip() == "count: -2"


@pytest.mark.parametrize(
    "argv",
    [["plan", "nope", "--json"], ["plan", "{file}", "--json"]],
    ids=["unknown-stack", "yaml-error"],
)
def test_plan_json_for_file_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text("config:\n  aws:region: !Ref R\n")
    assert main([a.format(file=path) for a in argv]) == 2
    (error,) = json.loads(capsys.readouterr().out)["errors"]
    assert set(error) == ERROR_KEYS and error["problem"]


@pytest.mark.parametrize(
    ("content", "words", "line"),
    [
        (b'{"resources": [', "is not valid JSON", 1),
        (b"\xff\xfe{}", "cannot be read", None),
        (b"[1, 2]", "is not a plan document", None),
        (b'{"resources": 5}', "is not a plan document", None),
        (b'{"resources": [5]}', "is not a plan document", None),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply", None),
    ],
    ids=["truncated", "not-utf8", "list", "resources-not-list", "resource-not-object", "deep"],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_policy_check_refuses_bad_plan_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str, line: int | None, as_json: bool
) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    assert main(["policy-check", str(path), *(["--json"] if as_json else [])]) == 2
    out, err = capsys.readouterr()
    if as_json:
        (error,) = json.loads(out)["errors"]
        assert words in error["problem"] and error["line"] == line and error["file"] == str(path)
    else:
        assert out == "" and len(err.strip().splitlines()) == 1 and words in err


HOSTILE: dict[str, bytes] = {
    "duplicate": b"config:\n  aws:region: a\n  aws:region: b\n",
    "custom-tag": b"config:\n  aws:region: !!python/object/apply:os.system [id]\n",
    "not-utf8": b"config:\n  aws:region: \xe9\n",
    "empty": b"",
    "not-a-mapping": b"- config\n",
    "deep": b"config: " + b"[" * 20_000 + b"]" * 20_000,
    "deep-mapping": b"config: " + b"{a: " * 20_000 + b"}" * 20_000,
    "alias-bomb": b"a: &a [x,x,x,x,x,x,x,x,x,x]\n"
    + b"".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n".encode() for i in range(8))
    + b"config:\n  aws:region: *i\n",
}


@pytest.mark.parametrize("command", ["plan", "render", "pin"])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_exit_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, command: str
) -> None:
    path = tmp_path / "Pulumi.hostile.yaml"
    path.write_bytes(HOSTILE[name])
    argv = {
        "plan": ["plan", str(path)],
        "render": ["render", str(path), "--out", str(tmp_path / "out")],
        "pin": ["images", "pin", str(path), "--check"],
    }[command]
    assert main(argv) == 2
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert lines[0] == "invalid stack config:" and len(lines) == 2, err
    assert str(path) in lines[1] and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_directory_named_like_a_stack_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "Pulumi.dir.yaml"
    path.mkdir()
    assert main(["plan", str(path)]) == 2
    assert f"{path}: is a directory" in capsys.readouterr().err


def test_unquoted_timestamp_plans(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unquoted `endTime` is a YAML timestamp; it used to crash the engine's JSON encoding."""
    path = _copy(
        tmp_path,
        "commercial-us",
        lambda t: t.replace('endTime: "2027-06-15T11:30:00Z"', "endTime: 2027-06-15T11:30:00Z"),
        name="commercial-us",
    )
    assert "endTime: 2027-06-15T11:30:00Z" in path.read_text()
    code = main(["plan", str(path), "--json"])
    plan = json.loads(capsys.readouterr().out)
    assert code == 0 and not [v for v in plan["policy"]["violations"] if v["level"] == "mandatory"]
    quoted = json.loads((main(["plan", "commercial-us", "--json"]), capsys.readouterr().out)[1])
    assert plan["resources"] == quoted["resources"]


def test_engine_encodes_a_parsed_timestamp_as_its_text() -> None:
    """A config parsed by plain `yaml.safe_load` carries datetimes; the engine hands them over as ISO text."""
    seen: dict[str, Any] = {}

    def program() -> None:
        import pulumi

        seen["value"] = pulumi.Config("aifactory").require_object("window")

    end = datetime.datetime(2026, 12, 15, 11, 30, tzinfo=datetime.UTC)
    run_program({"aifactory:window": {"end": end}}, "t", "us-east-1", "aws", program)
    assert seen["value"] == {"end": "2026-12-15T11:30:00+00:00"}


@pytest.mark.parametrize(
    "key",
    ["network", "scheduler", "storage", "site", "sovereignty"],
)
def test_explicit_null_for_a_mapping_key_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    """The loader passes `null` through (tests/spec/test_stackfile.py `explicit-null`); the model refuses it."""
    path = _copy(
        tmp_path,
        "dev",
        lambda t: t.replace(
            "  aifactory:profile: commercial\n", f"  aifactory:profile: commercial\n  aifactory:{key}: null\n"
        ),
    )
    assert main(["plan", str(path)]) == 2
    assert f"aifactory:{key}" in capsys.readouterr().err


def test_explicit_null_reaches_the_model(tmp_path: Path) -> None:
    """What the loader hands on for `aifactory:scheduler: null`: the key, with None (not dropped)."""
    from aifactory.spec.loading import read_stack_config

    path = _copy(tmp_path, "dev", lambda t: t + "  aifactory:scheduler: null\n")
    config = read_stack_config(path)
    assert "aifactory:scheduler" in config and config["aifactory:scheduler"] is None


def test_plan_into_a_closed_pipe_is_quiet() -> None:
    """`aifactory plan commercial-us --json | head -c 100`: the reader leaves after a few bytes; the plan
    JSON (over 200 KB) is far larger than a pipe buffer (64 KiB on Linux), so the write fails with EPIPE."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from aifactory.cli.main import entry; entry()", "plan", "commercial-us", "--json"],
        cwd=STACKS.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "0"},
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(100)
    process.stdout.close()
    err = process.stderr.read().decode()
    code = process.wait(timeout=120)
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipeError" not in err, err
    assert code == 1  # Python docs, "Note on SIGPIPE": exit 1 on EPIPE
