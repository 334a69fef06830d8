"""Per-server boot files that apply the placement plan's GPU power limit on the customer's own servers.

On EC2 the limit is part of the node's user data; a data hall's servers are the customer's, so `aifactory
render` writes for each server whose plan sets a cap a systemd unit and the script it runs
(`nvidia-smi -pl`), to be installed with the server's OS. Servers without a cap get no files.
"""

from __future__ import annotations

from .planning.placement import PlacementPlan
from .rendering import render

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
