"""The Pulumi program: stack config -> validated spec -> `FactoryPlan` -> `AiFactory` -> exported outputs.

`__main__.py` (for `pulumi up`) runs `main()`; `aifactory plan` plans first and runs `deploy(plan)`
under mocks, so the program never plans twice.
"""

from __future__ import annotations

import sys
from typing import Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from .factory import AiFactory
from .planning.factory_plan import FactoryPlan, plan_from_config
from .spec import ConfigError
from .spec.errors import NAMESPACE


def stack_config() -> dict[str, Any]:
    """Every config key of the running stack (engine environment plus explicitly set values)."""
    config = dict(get_config_env())
    config.update(CONFIG.get())
    return {k: v for k, v in config.items() if k == "aws:region" or k.startswith(f"{NAMESPACE}:")}


def load_plan() -> FactoryPlan:
    """The stack's plan, or a readable error (no traceback) that stops the update before any resource."""
    try:
        return plan_from_config(stack_config(), pulumi.get_stack())
    except ConfigError as exc:
        for issue in exc.issues:
            pulumi.log.error(str(issue))
        print(str(exc), file=sys.stderr)
        raise pulumi.RunError(f"invalid stack config: {len(exc.issues)} problem(s), see above") from None


def deploy(plan: FactoryPlan) -> AiFactory:
    """Declare the planned factory and export what an operator needs."""
    factory = AiFactory(plan.name, {}, plan=plan)
    for key, value in factory.exports().items():
        pulumi.export(key, value)
    return factory


def main() -> None:
    deploy(load_plan())
