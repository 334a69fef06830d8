"""`AiFactory` from a plan, from a 0.1-style spec, or from args: the same resources; bad args register nothing."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.factory import AiFactory
from aifactory.planning.factory_plan import plan_factory
from aifactory.spec import ConfigError, spec_from_config

from tests.conftest import RunProgram
from tests.stackfiles import PINNED_IMAGES

CONFIG: dict[str, Any] = {
    "aws:region": "us-east-1",
    "aifactory:profile": "commercial",
    "aifactory:images": PINNED_IMAGES,
    "aifactory:fleets": [{"name": "train", "instanceType": "p5.48xlarge", "count": 4}],
    "aifactory:storage": {"capacityTiB": 10, "throughputGBps": 2},
}


def _urns_and_inputs(run_program: RunProgram, build: Any) -> dict[str, Any]:
    planned = run_program(build, CONFIG, stack="research")
    return {r.urn: r.inputs for r in planned.resources}


def test_plan_spec_and_args_declare_the_same_factory(run_program: RunProgram) -> None:
    spec = spec_from_config(CONFIG)
    args = {"region": "us-east-1", "config": {k.split(":", 1)[1]: v for k, v in CONFIG.items() if k != "aws:region"}}
    from_plan = _urns_and_inputs(run_program, lambda: AiFactory("research", {}, plan=plan_factory(spec, "research")))
    from_spec = _urns_and_inputs(run_program, lambda: AiFactory("research", {}, spec=spec))
    from_args = _urns_and_inputs(run_program, lambda: AiFactory("research", args))  # type: ignore[arg-type]
    assert from_plan == from_spec == from_args
    assert any(urn.endswith("::research-fsx") for urn in from_plan)


def test_a_plan_for_another_name_is_refused() -> None:
    plan = plan_factory(spec_from_config(CONFIG), "other")
    with pytest.raises(ValueError, match="same name"):
        AiFactory("research", {}, plan=plan)


def test_infeasible_args_register_nothing(run_program: RunProgram) -> None:
    bad = {
        "region": "us-east-1",
        "config": {
            "profile": "commercial",
            "storage": {"throughputGBps": 99},
            "fleets": CONFIG["aifactory:fleets"],
            "images": PINNED_IMAGES,
        },
    }
    registered: list[str] = []

    def program() -> None:
        try:
            AiFactory("research", bad)  # type: ignore[arg-type]
        except ConfigError as exc:
            registered.append(str(exc))

    planned = run_program(program, CONFIG, stack="research")
    assert registered and "AiFactoryArgs.config.storage.throughputGBps" in registered[0]
    assert [r.type for r in planned.resources if r.type != "pulumi:pulumi:Stack"] == []
