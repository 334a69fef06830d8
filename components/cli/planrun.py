"""Plan one stack: validate, run the program under mocks, summarise, run the policies."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..planning.factory_plan import FactoryPlan, plan_from_config
from ..planning.placement import PlacementPlan
from ..spec import ConfigError, FactorySpec
from ..spec.loading import stack_name
from ..spec.stackfile import read_stack_file

if TYPE_CHECKING:
    from ..policies.pack_config import PackConfig
    from .engine import PlannedResource


class StackNotFound(Exception):
    pass


def project_of(urn: str) -> str:
    """The project of a URN (`urn:pulumi:<stack>::<project>::...`): which stack a resource is in."""
    return urn.split("::")[1]


@dataclass
class PlanResult:
    plan: FactoryPlan
    resources: list[PlannedResource]
    """Every resource of both stacks (policies review them together)."""
    outputs: dict[str, Any]
    """The infrastructure stack's outputs."""
    violations: list[dict[str, str]] = field(default_factory=list)
    preflight: list[dict[str, str]] = field(default_factory=list)
    """Deploy preflight findings: what AWS would refuse or make unreachable (`aifactory.preflight`)."""
    cluster_outputs: dict[str, Any] | None = None
    """The cluster-configuration stack's outputs, when the factory has one."""

    @property
    def stacks(self) -> dict[str, list[PlannedResource]]:
        """The resources per project: `aifactory` (infrastructure) and `aifactory-cluster`."""
        stacks: dict[str, list[PlannedResource]] = {}
        for r in self.resources:
            stacks.setdefault(project_of(r.urn), []).append(r)
        return stacks

    @property
    def moves(self) -> list[str]:
        """0.1 URNs (infrastructure project) of the resources the cluster stack adopts after
        `pulumi state move`; providers are copied by the move, not named in it."""
        from ..program import CLUSTER_PROJECT, INFRASTRUCTURE_PROJECT

        moved = []
        for r in self.stacks.get(CLUSTER_PROJECT, []):
            if r.type.startswith("pulumi:providers:"):
                continue
            for alias in r.aliases:
                moved.append(alias.replace(f"::{CLUSTER_PROJECT}::", f"::{INFRASTRUCTURE_PROJECT}::", 1))
        return sorted(moved)

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
            "stacks": {
                project: {
                    "urns": [r.urn for r in resources],
                    "outputs": self.outputs if project == "aifactory" else self.cluster_outputs or {},
                }
                for project, resources in self.stacks.items()
            },
            "upgrade": {"move": self.moves},
            "summary": self.summary,
            # EKS: node and pod addresses per AZ against their subnets (`planning/address_plan.py`).
            "address_budget": self.plan.address_budget.as_json() if self.plan.address_budget else None,
            "network_address_usage": self.plan.address_usage.as_json(),
            "warnings": [w.as_json() for w in self.plan.warnings],
            "policy": {"violations": self.violations},
            "preflight": {"findings": self.preflight},
        }

    def mandatory_violations(self) -> list[dict[str, str]]:
        return [v for v in self.violations if v["level"] == "mandatory"]


def resolve_stack_file(stack: str, stacks_dir: str | None) -> Path:
    """A path to `Pulumi.<name>.yaml`, or a stack name looked up in the stacks directory."""
    candidate = Path(stack)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate  # a directory or unreadable file is reported by the loader, with its path
    directory = Path(stacks_dir) if stacks_dir else Path.cwd() / "stacks"
    path = directory / f"Pulumi.{stack}.yaml"
    if path.is_file():
        return path
    known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in directory.glob("Pulumi.*.yaml"))
    raise StackNotFound(
        f"no stack '{stack}': {path} does not exist"
        + (f"; stacks in {directory}: {', '.join(known)}" if known else f"; {directory} has no stack files")
    )


def plan_stack(stack: str, stacks_dir: str | None = None, pack: PackConfig | None = None) -> PlanResult:
    """Validate and plan the stack (raises `ConfigError` before anything is registered), then run the
    program on that plan under mocks and review the result with the policy pack (configured by `pack`,
    a `--policy-config` file)."""
    path = resolve_stack_file(stack, stacks_dir)
    stackfile = read_stack_file(path)
    config = stackfile.config
    try:
        plan = plan_from_config(config, stack_name(path))
    except ConfigError as exc:
        unresolved = stackfile.environment_warning()
        raise stackfile.locate(ConfigError([*exc.issues, *([unresolved] if unresolved else [])])) from None
    unresolved = stackfile.environment_warning()
    if unresolved is not None:
        # Pulumi docs, "Stack settings file reference": `environment` imports ESC environments, which only
        # Pulumi Cloud resolves; the plan says so instead of silently planning without their values.
        plan = dataclasses.replace(plan, warnings=(unresolved, *plan.warnings))
    # The program, the SDK and the providers load here, for a command that plans (and under its
    # collector settings), not for `aifactory --version`, `schema` or `completion`.
    from ..program import CLUSTER_PROJECT, deploy, deploy_cluster, needs_cluster_stack
    from .engine import ORGANIZATION, PROJECT, run_program

    region, partition = plan.spec.region, plan.spec.partition
    run = run_program(config, plan.name, region, partition, lambda: deploy(plan))
    resources, cluster_outputs = list(run.resources), None
    if needs_cluster_stack(plan):
        # The cluster stack of a private-endpoint factory, reading the infrastructure run's outputs.
        scheduler = plan.spec.scheduler
        reference = getattr(scheduler, "infrastructure_stack", None) or f"{ORGANIZATION}/{PROJECT}/{plan.name}"
        cluster = run_program(
            config,
            plan.name,
            region,
            partition,
            lambda: deploy_cluster(plan),
            project=CLUSTER_PROJECT,
            stack_outputs={reference: run.outputs},
        )
        resources += cluster.resources
        cluster_outputs = cluster.outputs
    result = PlanResult(plan, resources, run.outputs, cluster_outputs=cluster_outputs)
    document = result.as_json()
    result.violations = policy_verdicts(document, pack)
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


def policy_verdicts(document: dict[str, Any], pack: PackConfig | None = None) -> list[dict[str, str]]:
    """Run the policy pack over a plan document's resources (as `aifactory plan --json` emits)."""
    from ..policies import PolicyConfig, placement_from_resources, run_policies

    resources = document.get("resources", [])
    profile = document.get("profile", "commercial")
    placement = (document.get("summary") or {}).get("placement") or placement_from_resources(resources)
    violations = run_policies(
        resources, profile, PolicyConfig.from_sovereignty(profile, document.get("sovereignty")), placement, pack
    )
    return [{"policy": v.policy, "level": v.level, "urn": v.urn, "message": v.message} for v in violations]
