"""The built wheel installs into a fresh virtual environment outside the repository, ships its
templates and data, and a small program composing components runs under the packaged mock engine
(`aifactory.cli.engine`)."""

from __future__ import annotations

import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = textwrap.dedent("""
    import pulumi

    import aifactory
    from aifactory import FactoryNetwork, GpuFleet
    from aifactory.cli.engine import run_program
    from aifactory.rendering import environment

    assert "aifactory/templates" not in str(aifactory.__file__) and "site-packages" in aifactory.__file__

    # The project's own mock engine, as installed from the wheel (the one `aifactory plan` uses).
    def compose():
        network = FactoryNetwork("net", {"cidr": "10.1.0.0/16", "availability_zones": ["us-east-1a", "us-east-1b"],
                                         "egress": "none", "region": "us-east-1", "partition": "aws"})
        fleet = GpuFleet("gpu", {"instance_type": "p5.48xlarge", "subnet_id": "subnet-0123",
                                 "ami_id": "ami-0123456789abcdef0",
                                 "security_group_ids": [network.efa_security_group_id],
                                 "domains": [{"name": "gpu-d0", "nodes": 2, "placement": "cluster",
                                              "placement_group": "gpu-cluster"}]})
        pulumi.export("launch_templates", fleet.launch_template_ids)

    run = run_program({}, "dev", "us-east-1", "aws", compose)
    print("launch templates", sorted(run.outputs["launch_templates"]))
    print("resources", len(run.resources))
    templates = environment().list_templates()
    assert "bootstrap/health_check.sh.j2" in templates and "slurm/slurm.conf.j2" in templates, templates
    from aifactory.catalog import get_instance_type
    print("catalog", get_instance_type("p5en.48xlarge").network_cards)
    from aifactory.policies import POLICIES
    print("policies", len(POLICIES))
""")


def fresh_environment(venv: Path) -> Path:
    """A new virtual environment that sees this interpreter's dependencies but not this package.

    `--system-site-packages` alone exposes the *base* interpreter's site-packages: run from a virtual
    environment (the README's `pip install -e .` in a venv), the dependencies installed there would be
    missing. So the environment is created from the base interpreter (`sys._base_executable`, what
    `venv` itself uses) and a `.pth` file lists every site-packages directory of the running
    interpreter after its own. A `.pth` line only adds a directory to `sys.path` and runs no `.pth`
    file found there (Python docs, `site`), so the outer environment's editable-install finder for
    `aifactory` is not installed: the wheel installed here is the only `aifactory` on the path.
    """
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    inner = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    outer = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
    (Path(inner) / "outer-environment.pth").write_text("".join(f"{d}\n" for d in outer if Path(d).is_dir()))
    return python


@pytest.mark.slow
def test_wheel_installs_and_composes_outside_the_repository(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("aifactory-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "aifactory/templates/bootstrap/health_check.sh.j2",
        "aifactory/templates/slurm/slurm.conf.j2",
        "aifactory/catalog/data/instance_types.yaml",
        "aifactory/catalog/data/offerings.json",
        "aifactory/policies/__init__.py",
        # PEP 561: type checkers read a consumer's `aifactory` imports only with this marker.
        "aifactory/py.typed",
    ):
        assert expected in names, expected
    # Every package of the source tree ships: `aifactory plan` imports all of them.
    for init in sorted((ROOT / "components").rglob("__init__.py")):
        shipped = "aifactory/" + init.relative_to(ROOT / "components").as_posix()
        assert shipped in names, f"{shipped} is not in the wheel: add its package to pyproject.toml"

    python = fresh_environment(tmp_path / "venv")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--force-reinstall", str(wheel)],
        check=True,
        capture_output=True,
    )
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    run = subprocess.run([str(python), str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "launch templates ['gpu-d0']" in run.stdout
    assert "catalog 16" in run.stdout
    from aifactory.policies import POLICIES

    # The installed wheel registers every policy module the repository does (a module left out of
    # the package would drop its policies silently).
    assert f"policies {len(POLICIES)}" in run.stdout
