"""Throughput of a GPU against its power limit (data/power_curves.yaml)."""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from importlib import resources

from .yamldata import load_yaml


@dataclass(frozen=True)
class PowerCurve:
    """Relative throughput at a relative power limit, piecewise linear between measured/estimated points."""

    name: str
    models: tuple[str, ...]
    points: tuple[tuple[float, float], ...]
    sources: dict[str, str]
    estimates: tuple[str, ...]

    def throughput(self, power_fraction: float) -> float:
        """Throughput relative to the uncapped GPU at `power_fraction` of TDP, clamped to the curve."""
        xs = [p for p, _ in self.points]
        if power_fraction <= xs[0]:
            return self.points[0][1]
        if power_fraction >= xs[-1]:
            return self.points[-1][1]
        i = bisect.bisect_right(xs, power_fraction)
        (x0, y0), (x1, y1) = self.points[i - 1], self.points[i]
        return y0 + (y1 - y0) * (power_fraction - x0) / (x1 - x0)


@functools.cache
def power_curves() -> dict[str, PowerCurve]:
    """Every curve by name; points sorted by power fraction."""
    text = resources.files("aifactory.catalog").joinpath("data/power_curves.yaml").read_text()
    curves: dict[str, PowerCurve] = {}
    for name, raw in load_yaml(text).items():
        points = tuple(sorted((float(p), float(t)) for p, t in raw["points"]))
        curves[name] = PowerCurve(
            name=name,
            models=tuple(raw["models"]),
            points=points,
            sources={str(k): str(v) for k, v in raw["sources"].items()},
            estimates=tuple(str(e) for e in raw.get("estimates", ())),
        )
    return curves


def curve_for(model: str) -> PowerCurve | None:
    """The curve of an accelerator model (`H100-SXM5-80GB`), None when the catalog has none."""
    return next((c for c in power_curves().values() if model in c.models), None)


def relative_throughput(model: str, tdp_w: int, cap_w: int | None) -> float:
    """Throughput of one accelerator capped at `cap_w` relative to running at TDP (1.0 uncapped)."""
    if cap_w is None or cap_w >= tdp_w:
        return 1.0
    curve = curve_for(model)
    if curve is None:
        raise KeyError(f"no power curve for {model}: it cannot be capped by the planner")
    return curve.throughput(cap_w / tdp_w)
