"""`scheduler.nodeRepair`: every rule catches its bad input with the config path and a fix."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.catalog.node_repair import NODE_CONDITIONS, condition_reasons, reason_known, reason_vendor
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import validate_config
from aifactory.spec.model import FactorySpec
from aifactory.spec.node_repair_rules import NODE_REPAIR_RULES

PATH = "aifactory:scheduler.nodeRepair"


def spec(**repair: Any) -> FactorySpec:
    return FactorySpec.model_validate(
        {
            "region": "us-east-1",
            "profile": "commercial",
            "fleets": [{"name": "p5", "instanceType": "p5.48xlarge", "count": 4}],
            "scheduler": {"kind": "kubernetes", "nodeRepair": repair},
        }
    )


def issues(s: FactorySpec) -> dict[str, tuple[str, str]]:
    return {i.path: (i.problem, i.fix) for rule in NODE_REPAIR_RULES for i in rule(s)}


def override(
    condition: str = "AcceleratedHardwareReady", reason: str = "NvidiaXID79Error", **kw: Any
) -> dict[str, Any]:
    return {
        "nodeMonitoringCondition": condition,
        "nodeUnhealthyReason": reason,
        "minRepairWaitTimeMins": kw.get("minutes", 5),
        "repairAction": kw.get("action", "Replace"),
    }


def test_defaults_and_a_valid_configuration_are_clean() -> None:
    assert issues(spec()) == {}
    assert (
        issues(
            spec(
                maxUnhealthyNodeThresholdPercentage=20,
                maxParallelNodesRepairedCount=1,
                overrides=[
                    override(),
                    override(reason="NvidiaXID48Error", action="Reboot", minutes=10),
                    override(reason="DCGMHealthCode12"),
                    override("NetworkingReady", "IPAMDNotRunning", minutes=30),
                    override(reason="NeuronDMAError", action="NoAction"),
                ],
            )
        )
        == {}
    )


@pytest.mark.parametrize(
    ("count", "percentage"),
    [
        ("maxUnhealthyNodeThresholdCount", "maxUnhealthyNodeThresholdPercentage"),
        ("maxParallelNodesRepairedCount", "maxParallelNodesRepairedPercentage"),
    ],
)
def test_count_and_percentage_of_one_setting(count: str, percentage: str) -> None:
    found = issues(spec(**{count: 3, percentage: 10}))
    problem, fix = found[f"{PATH}.{percentage}"]
    assert count in problem and f"remove `{percentage}`" in fix


def test_settings_of_a_disabled_repair() -> None:
    found = issues(spec(enabled=False, maxParallelNodesRepairedCount=2, overrides=[]))
    assert set(found) == {f"{PATH}.maxParallelNodesRepairedCount", f"{PATH}.overrides"}
    assert issues(spec(enabled=False)) == {}


def test_unknown_condition_suggests_the_closest() -> None:
    problem, fix = issues(spec(overrides=[override("AcceleratedHardwareRedy")]))[
        f"{PATH}.overrides[0].nodeMonitoringCondition"
    ]
    assert "AcceleratedHardwareRedy" in problem and "AcceleratedHardwareReady" in fix


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        # An XID the agent does not know is a Warning event: it never sets the condition.
        ("AcceleratedHardwareReady", "NvidiaXID43Error"),
        ("AcceleratedHardwareReady", "NvidiaXID79Warning"),
        # An Event-severity reason, and a reason of another condition.
        ("AcceleratedHardwareReady", "NvidiaThermalError"),
        ("KernelReady", "IPAMDNotRunning"),
        # StorageReady has no Condition-severity reason at all.
        ("StorageReady", "IODelays"),
    ],
)
def test_reason_that_never_triggers_a_repair(condition: str, reason: str) -> None:
    problem, fix = issues(spec(overrides=[override(condition, reason)]))[f"{PATH}.overrides[0].nodeUnhealthyReason"]
    assert reason in problem and condition in problem
    assert fix


def test_reboot_only_for_accelerated_hardware() -> None:
    found = issues(spec(overrides=[override("NetworkingReady", "InterfaceNotUp", action="Reboot")]))
    assert "Replace" in found[f"{PATH}.overrides[0].repairAction"][1]


def test_repeated_override() -> None:
    found = issues(spec(overrides=[override(), override(minutes=9)]))
    assert f"{PATH}.overrides[1]" in found


@pytest.mark.parametrize(
    ("repair", "path"),
    [
        ({"maxUnhealthyNodeThresholdPercentage": 0}, "maxUnhealthyNodeThresholdPercentage"),
        ({"maxParallelNodesRepairedPercentage": 101}, "maxParallelNodesRepairedPercentage"),
        ({"maxUnhealthyNodeThresholdCount": 0}, "maxUnhealthyNodeThresholdCount"),
        ({"overrides": [override(minutes=0)]}, "overrides[0].minRepairWaitTimeMins"),
        ({"overrides": [override(action="Terminate")]}, "overrides[0].repairAction"),
        ({"overrides": [{"nodeMonitoringCondition": "KernelReady"}]}, "overrides[0].nodeUnhealthyReason"),
    ],
)
def test_out_of_range_and_missing_values_name_the_path(repair: dict[str, Any], path: str) -> None:
    config = {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:fleets": [{"name": "p5", "instanceType": "p5.48xlarge", "count": 4}],
        "aifactory:scheduler": {"kind": "kubernetes", "nodeRepair": repair},
    }
    with pytest.raises(ConfigError) as error:
        validate_config(config, require_pinned_images=False)
    assert f"{PATH}.{path}" in str(error.value)


def test_catalog_reasons_belong_to_their_condition() -> None:
    for condition in NODE_CONDITIONS:
        for reason in condition_reasons(condition):
            assert reason_known(condition, reason)
    assert reason_vendor("AcceleratedHardwareReady", "NvidiaXID79Error") == "nvidia"
    assert reason_vendor("AcceleratedHardwareReady", "NeuronDMAError") == "aws"
    assert reason_vendor("AcceleratedHardwareReady", "DCGMHealthCode3") == "nvidia"
    assert reason_vendor("NetworkingReady", "InterfaceNotUp") is None
