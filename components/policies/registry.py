"""The one list of policies: each check registers itself with `@policy` or `@stack_policy`.

`run_policies` (plan and policy-check) and `build_policies` (the CrossGuard pack) both iterate
`POLICIES`; nothing else lists the policies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .runner import PolicyConfig

Level = Literal["mandatory", "advisory"]

ResourceCheck = Callable[[str, Mapping[str, Any], "PolicyConfig"], list[str]]
"""`(resource_type, camelCase inputs, config) -> messages`; no message means compliant."""
StackCheck = Callable[[Mapping[str, Any] | None, "PolicyConfig"], list[str]]
"""`(placement summary or None, config) -> messages`."""
InventoryCheck = Callable[[Sequence[Mapping[str, Any]], "PolicyConfig"], list[tuple[str, str]]]
"""`(every resource as {"type", "urn", "name", "inputs"}, config) -> (urn or "", message)`.

For rules about what the stack must hold (every VPC has a flow log, every bucket a public access
block): the companion resource names its subject by an id a preview does not know yet, so these
rules count subjects against compliant companions instead of joining them.
"""


@dataclass(frozen=True)
class PolicyDef:
    """One policy: exactly one of `resource_check` / `stack_check` / `inventory_check`.

    `enforcement` is the level outside sovereign stacks; in sovereign stacks every policy is
    mandatory. `sovereign_only` policies do not run in commercial stacks. `config_keys` are the
    CrossGuard config properties (of `CONFIG_SCHEMA`) the policy reads, besides `profile`. `fix`
    is how to resolve a violation: every message ends with it (`message`), and CrossGuard shows it
    as the policy's remediation steps.
    """

    id: str
    description: str
    enforcement: Level
    sovereign_only: bool
    config_keys: tuple[str, ...]
    fix: str
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None
    inventory_check: InventoryCheck | None = None

    def __post_init__(self) -> None:
        given = [c for c in (self.resource_check, self.stack_check, self.inventory_check) if c is not None]
        if len(given) != 1:
            raise ValueError(f"policy {self.id}: give exactly one of resource_check, stack_check and inventory_check")
        if not self.fix.strip():
            raise ValueError(f"policy {self.id}: give a fix, how to resolve a violation (`fix=`)")

    def message(self, problem: str) -> str:
        """A violation message: the check's problem, then `. Fix: ` and the policy's fix."""
        return f"{problem.rstrip(' .')}. Fix: {self.fix}"

    def applies(self, profile: str) -> bool:
        return not self.sovereign_only or profile == "sovereign"

    def level(self, profile: str) -> Level:
        return "mandatory" if profile == "sovereign" else self.enforcement


class Registry:
    """Registered policies by id, in registration order (the order violations are reported in)."""

    def __init__(self) -> None:
        self._by_id: dict[str, PolicyDef] = {}

    def add(self, defn: PolicyDef) -> None:
        if defn.id in self._by_id:
            raise ValueError(f"policy {defn.id} is registered twice")
        self._by_id[defn.id] = defn

    def __iter__(self) -> Iterator[PolicyDef]:
        return iter(tuple(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def __getitem__(self, policy_id: str) -> PolicyDef:
        return self._by_id[policy_id]

    def ids(self) -> list[str]:
        return list(self._by_id)


POLICIES = Registry()


def policy(
    policy_id: str,
    *,
    enforcement: Level,
    description: str,
    fix: str,
    sovereign_only: bool = False,
    config_keys: tuple[str, ...] = (),
) -> Callable[[ResourceCheck], ResourceCheck]:
    """Register a resource check under `policy_id`; the function itself is returned unchanged."""

    def register(check: ResourceCheck) -> ResourceCheck:
        POLICIES.add(PolicyDef(policy_id, description, enforcement, sovereign_only, config_keys, fix, check))
        return check

    return register


def stack_policy(
    policy_id: str,
    *,
    enforcement: Level,
    description: str,
    fix: str,
    sovereign_only: bool = False,
    config_keys: tuple[str, ...] = (),
) -> Callable[[StackCheck], StackCheck]:
    """Register a check over the whole stack's placement summary under `policy_id`."""

    def register(check: StackCheck) -> StackCheck:
        POLICIES.add(
            PolicyDef(policy_id, description, enforcement, sovereign_only, config_keys, fix, stack_check=check)
        )
        return check

    return register


def inventory_policy(
    policy_id: str,
    *,
    enforcement: Level,
    description: str,
    fix: str,
    sovereign_only: bool = False,
    config_keys: tuple[str, ...] = (),
) -> Callable[[InventoryCheck], InventoryCheck]:
    """Register a check over every resource of the stack at once under `policy_id`."""

    def register(check: InventoryCheck) -> InventoryCheck:
        POLICIES.add(
            PolicyDef(policy_id, description, enforcement, sovereign_only, config_keys, fix, inventory_check=check)
        )
        return check

    return register
