"""Rules that need a planner run in `plan_factory`: a spec-valid config the factory cannot build is
refused with config-path issues, all of them at once, before any resource exists."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.planning.factory_plan import plan_from_config
from aifactory.spec import ConfigError, spec_from_config

from tests.stackfiles import HALL_LINK_EKS, PINNED_IMAGES

P5 = {"name": "train", "instanceType": "p5.48xlarge", "count": 4}
DGX_H100 = {"name": "train", "kind": "hybrid", "server": "dgx-h100", "count": 4}
"""The customer's own servers, what a data hall racks (same power and units as the p5 figures)."""


def config(fleets: list[dict[str, Any]] | None = None, **keys: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": fleets or [P5],
    }
    cfg.update({f"aifactory:{k}": v for k, v in keys.items()})
    return cfg


def refused(cfg: dict[str, Any]) -> str:
    spec_from_config(cfg)  # structurally valid: only a planner can tell
    with pytest.raises(ConfigError) as info:
        plan_from_config(cfg, "t")
    return str(info.value)


K8S_TWO_QUEUES = {
    "kind": "kubernetes",
    "queues": [{"name": "a", "namespace": "a", "gpuQuota": 24}, {"name": "b", "namespace": "b", "gpuQuota": 16}],
}


@pytest.mark.parametrize(
    ("cfg", "path", "says"),
    [
        (config(scheduler=K8S_TWO_QUEUES), "aifactory:scheduler.queues", "the fleets have 32"),
        (
            config([{**DGX_H100, "count": 128}], site={"kind": "datahall", "racks": 40}),
            "aifactory:site.racks",
            "120 of 128",
        ),
        (config(storage={"capacityTiB": 100}), "aifactory:storage.capacityTiB", "100800 GiB"),
        (
            # Within 46,000 GiB: 2,400 GiB steps reach 45,600 GiB, EFA's 4,800 GiB steps only 43,200 GiB.
            config(storage={"capacityTiB": 44, "efaEnabled": True, "quotaGiB": 46_000}),
            "aifactory:storage.capacityTiB",
            "42.1875 TiB",
        ),
        (config(storage={"throughputGBps": 99}), "aifactory:storage.throughputGBps", "98.4375 GB/s"),
        (config(storage={"checkpoint": {"sizeTB": 10, "seconds": 60}}), "aifactory:storage.checkpoint", "166.667"),
        (
            config([{**P5, "count": 40}], network={"cidr": "10.0.0.0/24"}, scheduler={"kind": "kubernetes"}),
            "aifactory:network.cidr",
            "cannot hold",
        ),
    ],
)
def test_infeasible_config_is_refused_with_its_path(cfg: dict[str, Any], path: str, says: str) -> None:
    text = refused(cfg)
    assert path in text and says in text


def test_the_same_targets_plan_when_the_quota_allows_them() -> None:
    plan = plan_from_config(config(storage={"capacityTiB": 100, "quotaGiB": 204_800}), "t")
    assert plan.storage is not None and plan.storage.capacity_gib >= 100 * 1024
    plan_from_config(config(storage={"capacityTiB": 44, "quotaGiB": 46_000}), "t")


def test_every_infeasibility_is_reported_in_one_run() -> None:
    cfg = config(
        [{**DGX_H100, "count": 128}, {**P5, "name": "cloud"}],
        site={"kind": "datahall", "racks": 40},
        storage={"throughputGBps": 99},
        scheduler={"kind": "kubernetes", "queues": [{"name": "a", "namespace": "a", "gpuQuota": 2048}]},
        hybrid=HALL_LINK_EKS,
    )
    with pytest.raises(ConfigError) as info:
        plan_from_config(cfg, "t")
    paths = {issue.path for issue in info.value.issues}
    assert {"aifactory:site.racks", "aifactory:storage.throughputGBps", "aifactory:scheduler.queues"} <= paths


def test_importing_the_spec_does_not_import_the_planners() -> None:
    import subprocess
    import sys

    code = (
        "import sys, aifactory.spec\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('aifactory.planning', 'aifactory.schedulers')))\n"
        "assert not loaded, loaded\n"
        "assert 'pulumi_aws' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
