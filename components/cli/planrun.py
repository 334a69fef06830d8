"""Plan one stack: validate, run the program under mocks, summarise, run the policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..planning.factory_plan import FactoryPlan, plan_from_config
from ..planning.placement import PlacementPlan
from ..spec import FactorySpec
from ..spec.loading import read_stack_config, stack_name
from .engine import PlannedResource, run_program


class StackNotFound(Exception):
    pass


@dataclass
class PlanResult:
    plan: FactoryPlan
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    violations: list[dict[str, str]] = field(default_factory=list)
    preflight: list[dict[str, str]] = field(default_factory=list)
    """Deploy preflight findings: what AWS would refuse or make unreachable (`aifactory.preflight`)."""

    @property
    def stack(self) -> str:
        return self.plan.name

    @property
    def spec(self) -> FactorySpec:
        return self.plan.spec

    @property
    def placement(self) -> PlacementPlan:
        return self.plan.placement

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.plan.summary)

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
            "preflight": {"findings": self.preflight},
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
    """Validate and plan the stack (raises `ConfigError` before anything is registered), then run the
    program on that plan under mocks and review the result with the policy pack."""
    path = resolve_stack_file(stack, stacks_dir)
    config = read_stack_config(path)
    plan = plan_from_config(config, stack_name(path))
    from ..program import deploy

    run = run_program(config, plan.name, plan.spec.region, plan.spec.partition, lambda: deploy(plan))
    result = PlanResult(plan, run.resources, run.outputs)
    document = result.as_json()
    result.violations = policy_verdicts(document)
    result.preflight = preflight_findings(plan, document["resources"])
    return result


def preflight_findings(plan: FactoryPlan, resources: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The deploy preflight over a plan's resources (as the plan JSON lists them)."""
    from ..preflight import preflight
    from .mocks import ACCOUNT_ID

    spec = plan.spec
    found = preflight(
        resources,
        region=spec.region,
        partition=spec.partition,
        account=ACCOUNT_ID,
        registry_mirror=spec.sovereignty.registry_mirror if spec.sovereignty else None,
        slurm_conf=plan.slurm.config_files.get("slurm.conf") if plan.slurm else None,
    )
    return [f.as_json() for f in found]


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
