"""A consumer's type checker sees the components' args: with the package installed editable as the
README says (`editable_mode=strict`), mypy resolves `aifactory` and flags a missing required arg."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.test_wheel import fresh_environment

ROOT = Path(__file__).resolve().parent.parent

CORRECT = textwrap.dedent("""
    from aifactory import GpuFleet, GpuFleetArgs

    args: GpuFleetArgs = {
        "instance_type": "p5.48xlarge",
        "domains": [{"name": "gpu-d0", "nodes": 2}],
        "subnet_id": "subnet-0123",
        "security_group_ids": ["sg-1"],
        "ami_id": "ami-0123456789abcdef0",
    }
    fleet = GpuFleet("gpu", args)
""").lstrip()
STRICT = ("--config-settings", "editable_mode=strict")
"""The editable mode whose `.pth` names a directory (a tree of links) instead of installing an import
hook: mypy reads `.pth` path entries but runs no hook (mypy docs, "Using installed packages")."""
MISSING_SUBNET = CORRECT.replace('    "subnet_id": "subnet-0123",\n', "")
# The providers' generated SDKs are large and not what is checked here.
MYPY_INI = textwrap.dedent("""
    [mypy]
    [mypy-pulumi_aws.*]
    follow_imports = skip
    [mypy-pulumi_kubernetes.*]
    follow_imports = skip
""")


@pytest.mark.slow
def test_mypy_follows_the_editable_install_and_flags_a_missing_required_arg(tmp_path: Path) -> None:
    mypy = shutil.which("mypy")
    assert mypy, "mypy is a dev dependency"
    python = fresh_environment(tmp_path / "venv")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(ROOT), *STRICT],
        check=True,
        capture_output=True,
    )
    (tmp_path / "correct.py").write_text(CORRECT)
    (tmp_path / "missing.py").write_text(MISSING_SUBNET)
    (tmp_path / "mypy.ini").write_text(MYPY_INI)
    run = subprocess.run(
        [mypy, "--config-file", "mypy.ini", "--python-executable", str(python), "correct.py", "missing.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert errors == ['missing.py:3: error: Missing key "subnet_id" for TypedDict "GpuFleetArgs"  [typeddict-item]'], (
        run.stdout
    )
