"""What a command costs beyond its work: imports it does not need, the garbage collector during a
plan, and the interpreter's teardown after the console script wrote its output (issue 15)."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aifactory.cli import main as cli
from aifactory.cli.collector import YOUNG_THRESHOLD, rare_collections
from aifactory.spec.clock import PLAN_TIME_ENV

ROOT = Path(__file__).resolve().parents[2]
TEST_PLAN_TIME = "2026-11-01T00:00:00Z"


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import aifactory",
        "import aifactory, aifactory.spec",
        "from aifactory.cli.main import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass",
        "from aifactory.cli.main import main\nmain(['schema'])",
        "from aifactory.cli.main import main\nmain(['completion', 'bash'])",
    ],
)
def test_commands_that_register_nothing_import_no_provider(code: str) -> None:
    loaded = _loaded_after(code)
    # Not even the SDK: the program and pulumi load when a command plans.
    assert not {m for m in loaded if m.split(".")[0] in ("pulumi", "pulumi_aws", "pulumi_kubernetes", "parliament")}


def test_a_public_component_still_imports_on_first_use() -> None:
    loaded = _loaded_after("from aifactory import GpuFleet\nassert GpuFleet.__name__ == 'GpuFleet'")
    assert "pulumi_aws" in loaded  # the probe above can see a provider import


def test_planning_loads_the_sdk_inside_the_command() -> None:
    code = "from aifactory.cli.main import main\nimport sys\nassert 'pulumi' not in sys.modules\nmain(['plan', 'dev'])"
    assert "pulumi_aws" in _loaded_after(f"import os\nos.environ['{PLAN_TIME_ENV}'] = '{TEST_PLAN_TIME}'\n{code}")


def test_rare_collections_raises_the_young_threshold_and_restores_the_collector() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with rare_collections():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0  # what was loaded before is out of every collection
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_rare_collections_restores_the_collector_when_the_command_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), rare_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_rare_collections_keeps_a_callers_frozen_objects_frozen() -> None:
    gc.freeze()
    try:
        with rare_collections():
            pass
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_main_returns_with_the_collector_restored(capsys: pytest.CaptureFixture[str]) -> None:
    before = gc.get_threshold()
    assert cli.main(["completion", "bash"]) == cli.EXIT_OK
    assert "_aifactory" in capsys.readouterr().out
    assert gc.get_threshold() == before


class _Exited(Exception):
    def __init__(self, code: int):
        self.code = code


def test_entry_flushes_then_exits_without_teardown(monkeypatch: pytest.MonkeyPatch) -> None:
    flushed: list[str] = []

    def fake_exit(code: int) -> None:
        flushed.append("exit")
        raise _Exited(code)

    class Stream:
        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            flushed.append("flush")

    monkeypatch.setattr(sys, "argv", ["aifactory", "completion", "bash"])
    monkeypatch.setattr(sys, "stdout", Stream())
    monkeypatch.setattr(os, "_exit", fake_exit)
    with pytest.raises(_Exited) as info:
        cli.entry()
    assert info.value.code == cli.EXIT_OK
    assert flushed[-1] == "exit" and "flush" in flushed[:-1]


def _console(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("aifactory", path=str(Path(sys.executable).parent)) or shutil.which("aifactory")
    assert script is not None, "the console script is installed with the package"
    env = {**os.environ, PLAN_TIME_ENV: TEST_PLAN_TIME}
    return subprocess.run([script, *args], cwd=ROOT, capture_output=True, text=True, env=env, check=False)


def test_the_console_script_writes_all_of_a_large_output_before_it_exits() -> None:
    done = _console("plan", "commercial-us", "--json")  # ~240 KB: more than a pipe holds at once
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["resources"]) > 100


def test_the_console_script_keeps_its_exit_code_and_error_text() -> None:
    done = _console("plan", "no-such-stack")
    assert done.returncode == cli.EXIT_CONFIG
    assert "no stack 'no-such-stack'" in done.stderr
