"""The registry is the one list of policies: exactly these ids, levels and descriptions, each in the
module of its concern, read by both the plan runner and the CrossGuard adapter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from aifactory.policies import CONFIG_SCHEMA, POLICIES, PolicyConfig, policy, run_policies, stack_policy
from aifactory.policies.crossguard import build_policies
from aifactory.policies.registry import Registry

# id -> (module, level outside sovereign stacks, sovereign only, description). Ids, levels and
# descriptions are what users and the CrossGuard engine see: change them here only on purpose.
EXPECTED: dict[str, tuple[str, str, bool, str]] = {
    "allowed-regions": (
        "sovereignty",
        "mandatory",
        True,
        "Resources and the ARNs they name stay in the allowed regions and partitions.",
    ),
    "customer-managed-keys": (
        "sovereignty",
        "mandatory",
        True,
        "EBS, FSx, S3, EKS secrets, log groups and secrets use customer-managed KMS keys.",
    ),
    "allowed-registries": (
        "sovereignty",
        "mandatory",
        True,
        "Charts and container images come only from the allowed registries.",
    ),
    "encrypted-disks": (
        "compute",
        "mandatory",
        False,
        "Node disks are gp3 and encrypted (customer-managed key in sovereign stacks).",
    ),
    "imdsv2-required": (
        "compute",
        "mandatory",
        False,
        "Launch templates and instances require IMDSv2 (httpTokens required) with hop limit 1 or 2 "
        "(EC2 user guide, 'Configure the instance metadata options'; EKS best practices guide, 'Restrict access "
        "to the instance profile assigned to the worker node').",
    ),
    "efa-interface-layout": (
        "compute",
        "mandatory",
        False,
        "EFA launch templates declare the instance type's complete interface layout.",
    ),
    "no-placement-group-on-reserved-capacity": (
        "compute",
        "mandatory",
        False,
        "No placement group on capacity reservations or capacity blocks.",
    ),
    "no-public-network": (
        "network",
        "mandatory",
        True,
        "No internet gateway, public NAT gateway, elastic IP or public IP address.",
    ),
    "efa-security-group-self-only": (
        "network",
        "mandatory",
        False,
        "The EFA security group allows all traffic to and from itself and nothing else.",
    ),
    "no-open-ingress": (
        "network",
        "mandatory",
        False,
        "No security group ingress from 0.0.0.0/0 or ::/0.",
    ),
    "private-cluster-endpoint": (
        "network",
        "mandatory",
        True,
        "The EKS API endpoint is private only.",
    ),
    "fsx-lustre-durability": (
        "storage",
        "mandatory",
        False,
        "FSx for Lustre is persistent, encrypted and backed up.",
    ),
    "required-tags": (
        "tags",
        "advisory",
        False,
        "Every taggable AWS resource carries the factory, profile (and, sovereign, data-residency) tags.",
    ),
    "iam-no-wildcard-admin": (
        "identity",
        "mandatory",
        False,
        "No IAM statement allows every action, or iam:PassRole, on every resource.",
    ),
    "iam-policy-lint": (
        "identity",
        "mandatory",
        False,
        "Every IAM policy document passes parliament with no high or critical finding.",
    ),
    "rack-power-and-cooling": (
        "site",
        "mandatory",
        False,
        "Every rack stays within its power budget and its cooling class.",
    ),
}


def test_registry_holds_exactly_the_expected_policies() -> None:
    found = {
        p.id: (
            (p.resource_check or p.stack_check).__module__.removeprefix("aifactory.policies."),
            p.enforcement,
            p.sovereign_only,
            p.description,
        )
        for p in POLICIES
    }
    assert found == EXPECTED
    assert len(POLICIES) == len(EXPECTED)


def test_levels_per_profile() -> None:
    for p in POLICIES:
        assert p.level("sovereign") == "mandatory"
        assert p.level("commercial") == EXPECTED[p.id][1]
        assert p.applies("sovereign")
        assert p.applies("commercial") is not EXPECTED[p.id][2]


def test_only_the_rack_policy_checks_the_whole_stack() -> None:
    assert [p.id for p in POLICIES if p.stack_check is not None] == ["rack-power-and-cooling"]


def test_every_config_key_is_in_the_schema() -> None:
    for p in POLICIES:
        assert set(p.config_keys) <= set(CONFIG_SCHEMA), p.id


def test_an_id_registers_once() -> None:
    registry = Registry()
    registry.add(POLICIES["imdsv2-required"])
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(POLICIES["imdsv2-required"])
    with pytest.raises(ValueError, match="registered twice"):
        policy("imdsv2-required", enforcement="mandatory", description="again")(lambda t, p, c: [])


def test_one_decorated_function_reaches_both_runners(monkeypatch: pytest.MonkeyPatch) -> None:
    # Registering is all it takes: no second list to add the policy to.
    monkeypatch.setattr(POLICIES, "_by_id", dict(POLICIES._by_id))

    @policy("test-no-widgets", enforcement="advisory", description="No widgets.")
    def check_widgets(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
        return ["a widget"] if resource_type == "test:index:Widget" else []

    @stack_policy("test-stack", enforcement="advisory", description="Stack-wide.")
    def check_stack(placement: Mapping[str, Any] | None, config: PolicyConfig) -> list[str]:
        return []

    widget = {"urn": "urn:pulumi:s::p::test:index:Widget::w", "type": "test:index:Widget", "inputs": {}}
    found = run_policies([widget], "commercial", PolicyConfig(profile="commercial"), None)
    assert [(v.policy, v.level, v.message) for v in found] == [("test-no-widgets", "advisory", "a widget")]
    assert {"test-no-widgets", "test-stack"} <= {p.name for p in build_policies(PolicyConfig())}
