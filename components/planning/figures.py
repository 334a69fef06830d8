"""What the plan summary's numbers are: which keys are counts, and each measurement's unit with the
precision the plan JSON keeps and the report prints."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

COUNT_KEYS = frozenset(
    {"nodes", "gpus", "gpus_capped", "domains", "efa_interfaces_per_node", "servers", "partition_number"}
)
"""Summary keys whose numbers are counts: integers in the JSON, whole numbers in the report."""

SIGNIFICANT_DIGITS = 6
"""A float of no known unit keeps this many significant digits in the JSON (enough for any figure the
catalog holds, few enough that binary noise such as 29376.000000000004 never shows)."""


@dataclass(frozen=True)
class Unit:
    symbol: str
    """What the report's headers and values show (empty for counts and plain ratios)."""
    decimals: int
    """Decimals the plan JSON keeps."""
    text_decimals: int
    """Decimals the report prints."""
    significant: bool = False
    """The report prints at least two significant digits below 1 (0.038 GB/s, not 0.04)."""

    def text(self, value: float) -> str:
        decimals = self.text_decimals
        if self.significant and 0 < abs(value) < 1:
            decimals = max(decimals, 1 - math.floor(math.log10(abs(value))))
        return f"{value:,.{decimals}f}"


COUNT = Unit("", 0, 0)
USD = Unit("$", 2, 2)
KW = Unit("kW", 3, 1)  # 1 W in the JSON
WATTS = Unit("W", 1, 0)
PERCENT = Unit("%", 2, 1)
TIB = Unit("TiB", 3, 2, significant=True)  # about 1 GiB in the JSON
GB_PER_S = Unit("GB/s", 4, 2, significant=True)  # 0.1 MB/s in the JSON (per-GPU figures are small)
GBIT_PER_S = Unit("Gbit/s", 1, 0)
MB_PER_S_PER_TIB = Unit("MB/s/TiB", 0, 0)
SECONDS = Unit("s", 3, 1)
DAYS = Unit("days", 0, 0)
RATIO = Unit("", 3, 2)

KEY_UNITS: Mapping[str, Unit] = {
    # `gbps` names two units: EC2's network bandwidth is in gigabits, FSx throughput in gigabytes.
    "network_gbps_per_node": GBIT_PER_S,
    "storage_throughput_gbps": GB_PER_S,
    "throughput_gbps": GB_PER_S,
    "gbps_per_gpu": GB_PER_S,
    "per_unit_throughput_mbps_per_tib": MB_PER_S_PER_TIB,
    "pue": RATIO,
}
SUFFIX_UNITS: tuple[tuple[str, Unit], ...] = (
    ("_usd", USD),
    ("_kw", KW),
    ("_w", WATTS),
    ("_pct", PERCENT),
    ("_tib", TIB),
    ("_seconds", SECONDS),
    ("_days", DAYS),
)
"""The unit of a key the summary may grow (`storage_cost_per_hour_usd`), from its name's suffix."""


def unit_of(key: str) -> Unit | None:
    """The unit of a summary key's numbers; None for a number of no known unit."""
    if key in COUNT_KEYS:
        return COUNT
    if key in KEY_UNITS:
        return KEY_UNITS[key]
    return next((unit for suffix, unit in SUFFIX_UNITS if key.endswith(suffix)), None)


def rounded_figures(value: Any, key: str = "") -> Any:
    """`value` with every count an int and every other float rounded to its unit's JSON precision
    (`SIGNIFICANT_DIGITS` where the key names no unit); lists take the key they are under."""
    if isinstance(value, Mapping):
        return {k: rounded_figures(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded_figures(v, key) for v in value]
    if not isinstance(value, float):
        return value
    if key in COUNT_KEYS:
        if not value.is_integer():
            raise ValueError(f"summary count {key!r} is {value}, not a whole number")
        return int(value)
    unit = unit_of(key)
    if unit is not None:
        return round(value, unit.decimals)
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value))))
