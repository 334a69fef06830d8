"""Component args that must be known when the program runs, not resolved later by the engine.

A component that computes with an argument (subnet math on a CIDR, sizing a file system, choosing
an AMI) needs its value while it builds its children. Those args are declared with plain types; a
caller in another language can still hand over a resource output (the component provider passes
it through as a `pulumi.Output`), so each component checks them first and names the arg.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi


class PlanTimeValueError(TypeError):
    """A component received a resource output where it computes with the value at plan time."""


def holds_output(value: Any) -> bool:
    if isinstance(value, pulumi.Output):
        return True
    if isinstance(value, Mapping):
        return any(holds_output(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(holds_output(v) for v in value)
    return False


def require_plan_time(component: str, args: Mapping[str, Any], keys: Iterable[str]) -> None:
    """Raise `PlanTimeValueError` naming the first of `keys` whose value is (or holds) an Output."""
    for key in keys:
        if key in args and holds_output(args[key]):
            raise PlanTimeValueError(
                f"{component}: `{key}` must be a plain value known when the program runs, not a resource "
                f"output: the component computes with it while planning its resources. Pass the value itself."
            )
