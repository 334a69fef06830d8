"""The Pulumi program: stack config -> validated spec -> `AiFactory` -> exported outputs.

`__main__.py` (for `pulumi up`) and `aifactory plan` (under mocks) both run `main()`.
"""

from __future__ import annotations

import sys
from typing import Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from .factory import AiFactory
from .spec import ConfigError, FactorySpec, spec_from_config
from .spec.errors import NAMESPACE


def stack_config() -> dict[str, Any]:
    """Every config key of the running stack (engine environment plus explicitly set values)."""
    config = dict(get_config_env())
    config.update(CONFIG.get())
    return {k: v for k, v in config.items() if k == "aws:region" or k.startswith(f"{NAMESPACE}:")}


def load_spec() -> FactorySpec:
    """The validated spec, or a readable error (no traceback) that stops the update before any resource."""
    try:
        return spec_from_config(stack_config())
    except ConfigError as exc:
        for issue in exc.issues:
            pulumi.log.error(str(issue))
        print(str(exc), file=sys.stderr)
        raise pulumi.RunError(f"invalid stack config: {len(exc.issues)} problem(s), see above") from None


def main() -> None:
    spec = load_spec()
    factory = AiFactory(pulumi.get_stack(), {}, spec=spec)
    for key, value in factory.exports().items():
        pulumi.export(key, value)
