"""Call the policy pack's validate callables the way the Pulumi engine does, without a PolicyPack.

The analyzer (pulumi_policy 1.21 policy.py `_PolicyAnalyzerServicer.Analyze`) deserializes the
resource's inputs, wraps them in `unknown_checking_proxy`, builds `ResourceValidationArgs` with
the policy's config and the resource's provider, calls `policy.validate(args, report_violation)`,
and turns an `UnknownValueError` into an advisory "can't run policy during preview" diagnostic.
This harness does the same with camelCase props as the engine sends them (numbers as floats,
unknown values as the engine's sentinel string).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aifactory.policies import PolicyConfig
from aifactory.policies.crossguard import build_policies
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

UNKNOWN = UNKNOWN_STRING_VALUE
"""What a preview sends for a value not known until apply (equal to pulumi.runtime.rpc.UNKNOWN)."""

PREVIEW_DIAGNOSTIC = "can't run policy during preview"


def policy_named(name: str, base: PolicyConfig) -> Any:
    """The CrossGuard policy object `policy/__main__.py` would pack for this stack config."""
    return next(p for p in build_policies(base) if p.name == name)


def _opts(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


def _collector(messages: list[str]) -> Callable[[str, str | None], None]:
    def report_violation(message: str, urn: str | None = None) -> None:
        messages.append(message)

    return report_violation


def _engine_props(props: Mapping[str, Any]) -> Any:
    return unknown_checking_proxy(deserialize_properties(dict(props)))


def validate_resource(
    policy: str,
    resource_type: str,
    props: Mapping[str, Any],
    *,
    base: PolicyConfig | None = None,
    pack_config: Mapping[str, Any] | None = None,
    provider_props: Mapping[str, Any] | None = None,
    name: str = "r",
) -> list[str]:
    """Violation messages one resource policy reports (or `PREVIEW_DIAGNOSTIC` as the engine would)."""
    pol = policy_named(policy, base or PolicyConfig())
    assert isinstance(pol, ResourceValidationPolicy)
    provider = None
    if provider_props is not None:
        provider = PolicyProviderResource(
            "pulumi:providers:aws",
            _engine_props(provider_props),
            "urn:pulumi:s::p::pulumi:providers:aws::default",
            "default",
        )
    urn = f"urn:pulumi:stack::project::{resource_type}::{name}"
    args = ResourceValidationArgs(
        resource_type, _engine_props(props), urn, name, _opts(), provider, dict(pack_config or {}), {}
    )
    messages: list[str] = []
    try:
        pol.validate(args, _collector(messages))
    except UnknownValueError:
        return [PREVIEW_DIAGNOSTIC]
    return messages


def validate_stack(
    policy: str,
    resources: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    base: PolicyConfig | None = None,
    pack_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Violation messages one stack policy reports over (type, inputs) resources."""
    pol = policy_named(policy, base or PolicyConfig())
    assert isinstance(pol, StackValidationPolicy)
    stack = [
        PolicyResource(t, _engine_props(p), f"urn:pulumi:s::p::{t}::r{i}", f"r{i}", _opts(), None, None, [], {})
        for i, (t, p) in enumerate(resources)
    ]
    args = StackValidationArgs(stack, dict(pack_config or {}), {})
    messages: list[str] = []
    pol.validate(args, _collector(messages))
    return messages


def assert_each_message_ends_with_its_fix(policy: str, messages: list[str]) -> None:
    """Every violation message of `policy` names the problem, then `. Fix: ` and the policy's fix."""
    from aifactory.policies import POLICIES

    suffix = f". Fix: {POLICIES[policy].fix}"
    assert messages
    for message in messages:
        assert message.endswith(suffix) and len(message) > len(suffix), message
        assert message.count("Fix:") == 1, message
