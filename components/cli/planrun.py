"""Plan one stack: validate, run the program under mocks, summarise, run the policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..planning.placement import PlacementPlan, plan_placement
from ..planning.summary import factory_summary
from ..spec import FactorySpec, spec_from_config
from ..spec.loading import read_stack_config, stack_name
from .engine import PlannedResource, run_program


class StackNotFound(Exception):
    pass


@dataclass
class PlanResult:
    stack: str
    spec: FactorySpec
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    summary: dict[str, Any]
    placement: PlacementPlan
    violations: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "profile": self.spec.profile,
            "region": self.spec.region,
            "partition": self.spec.partition,
            "sovereignty": self.spec.sovereignty.model_dump(by_alias=True) if self.spec.sovereignty else None,
            "resources": [r.as_json() for r in self.resources],
            "outputs": self.outputs,
            "summary": self.summary,
            "policy": {"violations": self.violations},
        }

    def mandatory_violations(self) -> list[dict[str, str]]:
        return [v for v in self.violations if v["level"] == "mandatory"]


def resolve_stack_file(stack: str, stacks_dir: str | None) -> Path:
    """A path to `Pulumi.<name>.yaml`, or a stack name looked up in the stacks directory."""
    candidate = Path(stack)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    directory = Path(stacks_dir) if stacks_dir else Path.cwd() / "stacks"
    path = directory / f"Pulumi.{stack}.yaml"
    if path.is_file():
        return path
    known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in directory.glob("Pulumi.*.yaml"))
    raise StackNotFound(
        f"no stack '{stack}': {path} does not exist"
        + (f"; stacks in {directory}: {', '.join(known)}" if known else f"; {directory} has no stack files")
    )


def plan_stack(stack: str, stacks_dir: str | None = None) -> PlanResult:
    path = resolve_stack_file(stack, stacks_dir)
    config = read_stack_config(path)
    spec = spec_from_config(config)  # raises ConfigError before anything is registered
    from ..program import main as program_main

    run = run_program(config, stack_name(path), spec.region, spec.partition, program_main)
    placement = plan_placement(spec)
    summary = factory_summary(spec, placement, storage_report(spec))
    result = PlanResult(stack_name(path), spec, run.resources, run.outputs, summary, placement)
    result.violations = policy_verdicts(result.as_json())
    return result


def storage_report(spec: FactorySpec) -> dict[str, Any] | None:
    if spec.storage is None:
        return None
    from dataclasses import asdict

    from ..catalog.instance_types import get_instance_type
    from ..storage import plan_figures, size_for_spec

    gpus = sum(f.count * get_instance_type(f.instance_type).gpus for f in spec.fleets)
    return asdict(plan_figures(size_for_spec(spec.storage, spec.region), gpus))


def policy_verdicts(document: dict[str, Any]) -> list[dict[str, str]]:
    """Run the policy pack over a plan document's resources (as `aifactory plan --json` emits)."""
    from ..policies import PolicyConfig, placement_from_resources, run_policies

    resources = document.get("resources", [])
    profile = document.get("profile", "commercial")
    placement = (document.get("summary") or {}).get("placement") or placement_from_resources(resources)
    violations = run_policies(
        resources, profile, PolicyConfig.from_sovereignty(profile, document.get("sovereignty")), placement
    )
    return [{"policy": v.policy, "level": v.level, "urn": v.urn, "message": v.message} for v in violations]
