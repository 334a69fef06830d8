"""The boot unit and script that apply the planned GPU power limit on the customer's own servers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from aifactory.planning.placement import PlacementPlan, plan_placement
from aifactory.power_cap_boot import SCRIPT_PATH, UNIT_NAME, power_cap_files
from aifactory.spec.model import FactorySpec

from tests.golden import check_tree
from tests.validators import shellcheck

GOLDEN = Path(__file__).parent / "golden" / "hall" / "power-cap"


def hall_plan() -> PlacementPlan:
    """32 DGX B200 the planner caps to fit four per 60 kW rear-door rack, and 4 it leaves uncapped."""
    racks = [{"name": f"r{i}", "powerKw": 60, "cooling": "rear-door", "rackUnits": 48, "block": "b1"} for i in range(8)]
    racks += [{"name": "big", "powerKw": 75, "cooling": "rear-door", "rackUnits": 48, "block": "b2"}]
    spec = FactorySpec.model_validate(
        {
            "region": "eu-north-1",
            "profile": "commercial",
            "fleets": [
                {
                    "name": "tune",
                    "kind": "hybrid",
                    "server": "dgx-b200",
                    "count": 32,
                    "gpuPowerCapW": {"min": 800, "max": 1000},
                },
                {"name": "train", "kind": "hybrid", "server": "dgx-b200", "count": 4},
            ],
            "site": {"kind": "datahall", "racks": racks},
        }
    )
    return plan_placement(spec)


def test_only_capped_servers_get_a_unit_and_script() -> None:
    plan = hall_plan()
    files = power_cap_files(plan)
    capped = {h for d in plan.domains if d.gpu_power_cap_w is not None for h in d.hostnames}
    assert capped == {f"tune-{i:04d}" for i in range(1, 33)}
    assert set(files) == {f"hall/power-cap/{h}/{name}" for h in capped for name in (UNIT_NAME, Path(SCRIPT_PATH).name)}
    script = files["hall/power-cap/tune-0001/aifactory-gpu-power-cap"]
    assert "limit='900'" not in script and "limit=900" in script and 'nvidia-smi -pl "$limit"' in script
    assert "expected=8" in script


def test_files_match_the_golden_copies() -> None:
    files = power_cap_files(hall_plan())
    one = {Path(k).name: v for k, v in files.items() if k.startswith("hall/power-cap/tune-0001/")}
    check_tree(GOLDEN, one, __file__)


def test_script_parses_and_passes_shellcheck() -> None:
    script = power_cap_files(hall_plan())["hall/power-cap/tune-0001/aifactory-gpu-power-cap"]
    assert script.startswith("#!/bin/bash\n")
    assert subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False).returncode == 0
    assert shellcheck(script) == []


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = power_cap_files(hall_plan())[f"hall/power-cap/tune-0001/{UNIT_NAME}"]
    sections = [line for line in unit.splitlines() if line.startswith("[")]
    assert sections == ["[Unit]", "[Service]", "[Install]"]
    assert "Type=oneshot" in unit and "After=nvidia-persistenced.service" in unit
    assert f"ExecStart={SCRIPT_PATH}" in unit
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the unit's sections and keys are checked above")
    # verify needs the ExecStart binary to exist: point the copy at an executable in tmp_path.
    script = tmp_path / "aifactory-gpu-power-cap"
    script.write_text("#!/bin/bash\nexit 0\n")
    script.chmod(0o755)
    target = tmp_path / UNIT_NAME
    target.write_text(unit.replace(SCRIPT_PATH, str(script)))
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(target)], capture_output=True, text=True, check=False, timeout=60
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        # Units it orders against (kubelet, slurmd, nvidia-persistenced) are not installed on the test host.
        if line.strip() and "not found" not in line and "No such file" not in line
    ]
    assert problems == [], result.stdout + result.stderr


def test_a_value_that_is_not_an_integer_never_reaches_the_script() -> None:
    from aifactory.rendering import render

    with pytest.raises(ValueError, match="not an integer"):
        render("hall/gpu-power-cap.sh.j2", hostname="h", server="s", cap_w="900; reboot", gpus=8, script_path="/x")


def test_on_prem_slurm_nodes_get_a_configless_slurmd_drop_in() -> None:
    from aifactory.planning.factory_plan import plan_from_config
    from aifactory.power_cap_boot import slurm_node_files

    from tests.stackfiles import HALL_LINK_SLURM, PINNED_IMAGES

    cfg = {
        "aifactory:hybrid": HALL_LINK_SLURM,
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": [
            {
                "name": "dgx",
                "kind": "hybrid",
                "server": "dgx-b200",
                "count": 8,
                "gpuPowerCapW": {"min": 800, "max": 1000},
            },
            {"name": "cloud", "instanceType": "p5.48xlarge", "count": 1},
        ],
        "aifactory:site": {
            "kind": "datahall",
            "racks": 2,
            "rackDefaults": {"powerKw": 60, "cooling": "rear-door", "rackUnits": 48},
        },
        "aifactory:scheduler": {
            "kind": "slurm",
            "partitions": [{"name": "p", "fleets": ["dgx", "cloud"], "default": True}],
        },
    }
    plan = plan_from_config(cfg, "hall")
    files = slurm_node_files(plan)
    # Only the customer's servers: the EC2 node joins through its own user data.
    assert set(files) == {f"hall/slurm/dgx-{i:04d}/slurmd.service.d/aifactory.conf" for i in range(1, 9)}
    dropin = files["hall/slurm/dgx-0001/slurmd.service.d/aifactory.conf"]
    check_tree(GOLDEN.parent / "slurmd", {"aifactory.conf": dropin}, __file__)
    assert 'Environment="SLURMD_OPTIONS=--conf-server slurmctld.hall.slurm.internal:6817 -N dgx-0001"' in dropin
    # The capped server starts slurmd only after its GPUs are capped.
    assert "After=munge.service network-online.target aifactory-gpu-power-cap.service" in dropin
    conf = plan.slurm.config_files["slurm.conf"] if plan.slurm else ""
    assert "SlurmctldPort=6817" in conf and "enable_configless" in conf
