"""The registry as CrossGuard policy objects, for `policy/__main__.py` to pack.

Building them does not construct a `PolicyPack`, whose constructor starts a gRPC server and blocks
(pulumi_policy 1.21 policy.py `PolicyPack.__init__`). pulumi_policy is imported only when the
objects are built: `aifactory plan` runs without it (it is not a runtime dependency).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .pack_config import config_schema
from .registry import POLICIES, InventoryCheck, PolicyDef, ResourceCheck, StackCheck
from .runner import AWS_PROVIDER, PolicyConfig, placement_from_resources, provider_default_tags

if TYPE_CHECKING:
    from pulumi_policy import Policy


def build_policies(base: PolicyConfig) -> list[Policy]:
    """The CrossGuard policy objects for `POLICIES`, without constructing a `PolicyPack`.

    `base` is the stack's config (profile, sovereignty); each policy's CrossGuard config overrides
    it. The default enforcement follows `base.profile`; the pack config can still override it.
    """
    from pulumi_policy import (
        EnforcementLevel,
        PolicyConfigSchema,
        ReportViolation,
        ResourceValidationArgs,
        ResourceValidationPolicy,
        StackValidationArgs,
        StackValidationPolicy,
    )
    from pulumi_policy.deserialize import serialize_properties

    levels = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}

    def resource_validator(defn: PolicyDef, check: ResourceCheck) -> Callable[..., None]:
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            config = base.with_overrides(args.get_config())
            if not defn.applies(config.profile):
                return
            if args.provider is not None and args.provider.resource_type == AWS_PROVIDER:
                default_tags = provider_default_tags(serialize_properties(args.provider.props))
                if default_tags is not None:
                    config = replace(config, default_tags=default_tags)
            # Unwrap pulumi_policy's unknown-checking proxies: unknowns stay as the engine's sentinel
            # strings, which the checks skip, instead of raising UnknownValueError mid-check.
            props = serialize_properties(args.props)
            for message in check(args.resource_type, props, config):
                report_violation(defn.message(message), None)

        return validate

    def stack_validator(defn: PolicyDef, check: StackCheck) -> Callable[..., None]:
        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            config = base.with_overrides(args.get_config())
            if not defn.applies(config.profile):
                return
            resources: list[Mapping[str, Any]] = [
                {"type": r.resource_type, "inputs": serialize_properties(r.props)} for r in args.resources
            ]
            for message in check(placement_from_resources(resources), config):
                report_violation(defn.message(message), None)

        return validate

    def inventory_validator(defn: PolicyDef, check: InventoryCheck) -> Callable[..., None]:
        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            config = base.with_overrides(args.get_config())
            if not defn.applies(config.profile):
                return
            resources: list[Mapping[str, Any]] = [
                {"type": r.resource_type, "urn": r.urn, "name": r.name, "inputs": serialize_properties(r.props)}
                for r in args.resources
            ]
            for urn, message in check(resources, config):
                report_violation(defn.message(message), urn or None)

        return validate

    # Each policy's fix is its `remediation_steps`, "guidance for how to fix a violation" (Pulumi docs,
    # "Policy metadata"); its config properties are the `configSchema` `--policy-config` checks offline.
    policies: list[Policy] = []
    for defn in POLICIES:
        schema = PolicyConfigSchema(properties=config_schema(defn))
        level = levels[defn.level(base.profile)]
        if defn.resource_check is not None:
            policies.append(
                ResourceValidationPolicy(
                    name=defn.id,
                    description=defn.description,
                    remediation_steps=defn.fix,
                    enforcement_level=level,
                    config_schema=schema,
                    validate=resource_validator(defn, defn.resource_check),
                )
            )
        elif defn.inventory_check is not None:
            policies.append(
                StackValidationPolicy(
                    name=defn.id,
                    description=defn.description,
                    remediation_steps=defn.fix,
                    enforcement_level=level,
                    config_schema=schema,
                    validate=inventory_validator(defn, defn.inventory_check),
                )
            )
        else:
            assert defn.stack_check is not None
            policies.append(
                StackValidationPolicy(
                    name=defn.id,
                    description=defn.description,
                    remediation_steps=defn.fix,
                    enforcement_level=level,
                    config_schema=schema,
                    validate=stack_validator(defn, defn.stack_check),
                )
            )
    return policies
