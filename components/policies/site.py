"""The site: rack power and cooling, over the placement summary of the whole stack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog.instance_types import get_instance_type
from ..catalog.servers import get_server
from ..spec.site import COOLING_RANK
from .registry import stack_policy
from .runner import PolicyConfig, dicts, known


@stack_policy(
    "rack-power-and-cooling",
    fix=(
        "move nodes to another rack, cap their GPUs (`aifactory:fleets[].gpuPowerCapW`), or put the hardware "
        "in racks of a strong enough cooling class (`aifactory:site`)"
    ),
    enforcement="mandatory",
    description="Every rack stays within its power budget and its cooling class.",
    config_keys=("coolingLimitsKw",),
)
def check_rack_power(placement: Mapping[str, Any] | None, config: PolicyConfig) -> list[str]:
    """Each rack draws within its power budget and what its cooling class removes, and holds no
    hardware that needs a stronger cooling class (catalog `cooling` of the node's instance type).

    Racks are `{name, cooling, budget_kw, power_kw, nodes}`; `nodes` may be a count, names, or
    `{name, server}` (or `{name, instance_type}`) records (only those can be checked for cooling class).
    """
    if not isinstance(placement, Mapping):
        return []
    out: list[str] = []
    for rack in dicts(placement.get("racks")):
        name = rack.get("name", "?")
        cooling = rack.get("cooling")
        power, budget = rack.get("power_kw"), rack.get("budget_kw")
        if isinstance(power, int | float) and isinstance(budget, int | float) and power > budget + 1e-9:
            out.append(f"rack {name} draws {power:.1f} kW over its {budget:.1f} kW budget")
        if not isinstance(cooling, str) or not known(cooling):
            continue
        if cooling not in config.cooling_limits_kw:
            out.append(f"rack {name} has unknown cooling class {cooling!r} (known: {sorted(config.cooling_limits_kw)})")
            continue
        limit = config.cooling_limits_kw[cooling]
        if limit is not None and isinstance(power, int | float) and power > limit + 1e-9:
            out.append(f"rack {name} draws {power:.1f} kW; {cooling} cooling removes at most {limit:.0f} kW")
        for node in dicts(rack.get("nodes")):
            # A data hall racks the customer's servers (`server`, the server catalog); `instance_type`
            # records are kept for plans that carry them.
            server, itype = node.get("server"), node.get("instance_type")
            try:
                if isinstance(server, str):
                    needed, itype = get_server(server).cooling, server
                elif isinstance(itype, str):
                    needed = get_instance_type(itype).cooling
                else:
                    continue
            except KeyError:
                continue
            if COOLING_RANK.get(needed, 0) > COOLING_RANK.get(cooling, 0):
                out.append(
                    f"rack {name} ({cooling}) holds {node.get('name', itype)}, a {itype} that needs {needed} cooling"
                )
    return out
