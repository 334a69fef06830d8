"""`aifactory render` writes the metrics backend's rule file, dashboard and README (golden), and the rule
file it writes is one promtool accepts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from aifactory.cli.observability_files import observability_files
from aifactory.cli.planrun import plan_stack
from aifactory.cli.render import production_files

from tests.golden import check_tree

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "observability"


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    plan = plan_stack("sovereign-eu").plan
    rendered = {path.removeprefix("observability/"): text for path, text in observability_files(plan).items()}
    readme = next(text for path, text in production_files(plan).items() if path.endswith("README.md"))
    return {**rendered, "line-README.md": readme}


def test_render_output_matches_the_goldens(files: dict[str, str]) -> None:
    check_tree(GOLDEN / "sovereign-eu", files, __file__)


def test_no_observability_files_without_the_key() -> None:
    assert observability_files(plan_stack("trn2-us").plan) == {}


@pytest.fixture(scope="module")
def managed() -> dict[str, str]:
    plan = plan_stack("commercial-us").plan
    rendered = {path.removeprefix("observability/"): text for path, text in observability_files(plan).items()}
    readme = next(text for path, text in production_files(plan).items() if path.endswith("README.md"))
    return {**rendered, "line-README.md": readme}


def test_managed_render_output_matches_the_goldens(managed: dict[str, str]) -> None:
    check_tree(GOLDEN / "commercial-us", managed, __file__)


def test_managed_readme_points_grafana_at_the_workspace(managed: dict[str, str]) -> None:
    readme = managed["README.md"]
    assert "metricsQueryEndpoint" in readme and "No Grafana runs" in readme
    assert "port-forward" not in readme and "port-forward" not in managed["line-README.md"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_the_rendered_rule_file_passes_promtool(files: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(files["rules.yaml"])
    result = subprocess.run(
        ["promtool", "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
