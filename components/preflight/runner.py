"""Run every preflight rule over a plan's resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import fetches, keys, limits, reachability  # noqa: F401  (registers the rules)
from .inventory import Inventory, read_inventory
from .registry import RULES, Finding


def run_rules(inv: Inventory, only: Sequence[str] | None = None) -> list[Finding]:
    return [f for rule in RULES.values() if only is None or rule.id in only for f in rule.check(inv)]


def preflight(
    resources: Sequence[Mapping[str, Any]],
    *,
    region: str,
    partition: str,
    account: str,
    registry_mirror: str | None = None,
    slurm_conf: str | None = None,
) -> list[Finding]:
    """Every finding of every rule over `resources` (the plan JSON's `resources`)."""
    inv = read_inventory(
        resources,
        region=region,
        partition=partition,
        account=account,
        registry_mirror=registry_mirror,
        slurm_conf=slurm_conf,
    )
    return run_rules(inv)
