"""Per-server boot files for the customer's own servers in a data hall.

On EC2 the power limit and the Slurm join are part of the node's user data; a data hall's servers are
the customer's, so `aifactory render` writes what each needs, to be installed with its OS:
- for each server whose plan sets a GPU cap, a systemd unit and the script it runs (`nvidia-smi -pl`);
- under Slurm, the slurmd drop-in that makes it the static node of its planned name (configless).
"""

from __future__ import annotations

from .planning.factory_plan import FactoryPlan
from .planning.placement import PlacementPlan
from .rendering import render
from .schedulers.slurm_config import SlurmRuntime

SCRIPT_PATH = "/usr/local/sbin/aifactory-gpu-power-cap"
UNIT_NAME = "aifactory-gpu-power-cap.service"


def power_cap_files(plan: PlacementPlan) -> dict[str, str]:
    """`hall/power-cap/<hostname>/{aifactory-gpu-power-cap.service, aifactory-gpu-power-cap}` per capped server."""
    files: dict[str, str] = {}
    for domain in plan.domains:
        if domain.server is None or domain.gpu_power_cap_w is None:
            continue
        for host in domain.hostnames:
            context = {
                "hostname": host,
                "server": domain.server,
                "cap_w": domain.gpu_power_cap_w,
                "gpus": domain.gpus_per_node,
                "script_path": SCRIPT_PATH,
            }
            base = f"hall/power-cap/{host}"
            files[f"{base}/{UNIT_NAME}"] = render("hall/gpu-power-cap.service.j2", **context)
            files[f"{base}/{SCRIPT_PATH.rsplit('/', 1)[1]}"] = render("hall/gpu-power-cap.sh.j2", **context)
    return files


def slurm_node_files(plan: FactoryPlan) -> dict[str, str]:
    """`hall/slurm/<hostname>/slurmd.service.d/aifactory.conf` for every on-prem server under Slurm."""
    if plan.slurm is None:
        return {}
    files: dict[str, str] = {}
    for domain in plan.placement.domains:
        if domain.server is None:
            continue
        for host in domain.hostnames:
            files[f"hall/slurm/{host}/slurmd.service.d/aifactory.conf"] = render(
                "hall/slurmd-dropin.conf.j2",
                hostname=host,
                controller=plan.slurm.controller_address,
                port=SlurmRuntime().slurmctld_port,  # slurm.conf `SlurmctldPort` as rendered
                power_cap_unit=UNIT_NAME if domain.gpu_power_cap_w is not None else "",
            )
    return files
