"""The registry is the one list of policies: exactly these ids, levels and descriptions, each in the
module of its concern, read by both the plan runner and the CrossGuard adapter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from aifactory.policies import (
    CONFIG_SCHEMA,
    POLICIES,
    PolicyConfig,
    inventory_policy,
    policy,
    run_policies,
    stack_policy,
)
from aifactory.policies.crossguard import build_policies
from aifactory.policies.registry import Registry

# id -> (module, level outside sovereign stacks, sovereign only, description). Ids, levels and
# descriptions are what users and the CrossGuard engine see: change them here only on purpose.
EXPECTED: dict[str, tuple[str, str, bool, str]] = {
    "eks-supported-version": (
        "cluster",
        "mandatory",
        False,
        "[EKS.2] EKS clusters should run on a supported Kubernetes version.",
    ),
    "eks-secrets-encryption": (
        "cluster",
        "advisory",
        False,
        (
            "[EKS.3] EKS clusters should use encrypted Kubernetes secrets (envelope encryption with a KMS "
            "key). Advisory outside sovereign stacks: EKS already encrypts all Kubernetes API data with an "
            "AWS-owned key, and a commercial stack may not own a key."
        ),
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
        "No new placement group on capacity reservations, none at all on capacity blocks.",
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
    "iam-no-service-wildcard": (
        "identity",
        "mandatory",
        False,
        (
            "[IAM.21] IAM customer managed policies that you create should not allow wildcard actions for "
            "services ('svc:*')."
        ),
    ),
    "kms-no-wildcard-decrypt": (
        "identity",
        "mandatory",
        False,
        (
            "[KMS.1] [KMS.2] IAM policies (customer managed and inline) should not allow decryption actions "
            "on all KMS keys."
        ),
    ),
    "no-public-principal": (
        "identity",
        "mandatory",
        False,
        (
            "[KMS.5] [S3.2] [S3.3] No trust, key, bucket, secret or topic policy allows Principal '*' unless a "
            "condition ties it to an account, organization or source."
        ),
    ),
    "kms-key-rotation": (
        "keys",
        "mandatory",
        False,
        "[KMS.4] AWS KMS key rotation should be enabled (CIS 3.6) on every symmetric key the factory creates.",
    ),
    "log-group-retention": (
        "logging",
        "mandatory",
        False,
        (
            "[CloudWatch.16] CloudWatch log groups should be retained for a specified time period: at least "
            "365 days (or never expire)."
        ),
    ),
    "flow-logs-capture-all": (
        "logging",
        "mandatory",
        False,
        (
            "[EC2.6] VPC flow logs capture ALL traffic, not only rejected traffic: accepted flows are what an"
            " investigation of data leaving the factory needs."
        ),
    ),
    "vpc-flow-logging": (
        "logging",
        "mandatory",
        False,
        "[EC2.6] VPC flow logging should be enabled in all VPCs (CIS 3.7): one flow log per VPC.",
    ),
    "eks-audit-logging": (
        "logging",
        "mandatory",
        False,
        "[EKS.8] EKS clusters should have audit logging enabled (control-plane log type 'audit').",
    ),
    "no-public-network": (
        "network",
        "mandatory",
        True,
        "No internet gateway, public NAT gateway or elastic IP: no internet path at all.",
    ),
    "no-public-ip": (
        "network",
        "mandatory",
        False,
        (
            "[EC2.9] [EC2.15] [EC2.25] No instance, subnet or launch template gives a public IPv4 address: "
            "nodes reach the internet, if at all, through NAT."
        ),
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
        (
            "[EC2.18] [EC2.19] [EC2.53] [EC2.54] No security group ingress from 0.0.0.0/0 or ::/0, on any "
            "port (CIS 5.2, 5.3)."
        ),
    ),
    "private-cluster-endpoint": (
        "network",
        "advisory",
        False,
        (
            "[EKS.1] EKS cluster endpoints should not be publicly accessible. Advisory outside sovereign "
            "stacks: a commercial stack may open the endpoint to listed networks (publicAccessCidrs)."
        ),
    ),
    "eks-public-endpoint-restricted": (
        "network",
        "mandatory",
        False,
        "[EKS.1] A public EKS endpoint admits only listed networks, never 0.0.0.0/0.",
    ),
    "no-open-egress": (
        "network",
        "advisory",
        False,
        (
            "Security groups allow out to 0.0.0.0/0 or ::/0 only HTTPS (no FSBP control; least privilege). "
            "Advisory outside sovereign stacks, whose nodes may use NAT egress."
        ),
    ),
    "default-security-group-closed": (
        "network",
        "mandatory",
        False,
        "[EC2.2] VPC default security groups should not allow inbound or outbound traffic (CIS 5.4).",
    ),
    "default-security-group-managed": (
        "network",
        "mandatory",
        False,
        "[EC2.2] Every VPC's default security group is managed by the stack and left with no rules.",
    ),
    "rack-power-and-cooling": (
        "site",
        "mandatory",
        False,
        "Every rack stays within its power budget and its cooling class.",
    ),
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
        "EBS, FSx, S3, EKS secrets, log groups, secrets and RDS use customer-managed KMS keys.",
    ),
    "allowed-registries": (
        "sovereignty",
        "mandatory",
        True,
        "Charts and container images come only from the allowed registries.",
    ),
    "in-region-image-builds": (
        "sovereignty",
        "mandatory",
        True,
        "Image Builder components of a sovereign stack fetch only from S3 in the region and local files "
        "(Amazon VPC user guide, 'Gateway endpoints for Amazon S3').",
    ),
    "rds-data-safety": (
        "storage",
        "mandatory",
        False,
        "[RDS.2] [RDS.3] [RDS.8] [RDS.11] RDS DB instances are not publicly accessible, are encrypted at rest, "
        "have deletion protection, keep automatic backups and leave a final snapshot.",
    ),
    "fsx-lustre-durability": (
        "storage",
        "mandatory",
        False,
        "FSx for Lustre is persistent, encrypted and backed up.",
    ),
    "fsx-copy-tags-to-backups": (
        "storage",
        "mandatory",
        False,
        "[FSx.2] FSx for Lustre file systems should be configured to copy tags to backups.",
    ),
    "s3-block-public-access": (
        "storage",
        "mandatory",
        False,
        "[S3.8] S3 Block Public Access setting should be enabled at the bucket level (all four settings).",
    ),
    "s3-bucket-public-access-blocked": (
        "storage",
        "mandatory",
        False,
        "[S3.8] Every S3 bucket has a public access block with all four settings on.",
    ),
    "s3-versioning": (
        "storage",
        "mandatory",
        False,
        "[S3.14] S3 general purpose buckets should have versioning enabled (not suspended).",
    ),
    "s3-bucket-versioned": (
        "storage",
        "mandatory",
        False,
        "[S3.14] Every S3 bucket has versioning enabled.",
    ),
    "s3-tls-only": (
        "storage",
        "mandatory",
        False,
        "[S3.5] S3 general purpose buckets should require requests to use SSL (deny aws:SecureTransport false).",
    ),
    "s3-bucket-tls-only": (
        "storage",
        "mandatory",
        False,
        "[S3.5] Every S3 bucket has a policy that denies requests without TLS.",
    ),
    "s3-kms-encryption": (
        "storage",
        "advisory",
        False,
        (
            "[S3.17] S3 general purpose buckets should be encrypted at rest with AWS KMS keys. Advisory "
            "outside sovereign stacks: SSE-S3 encrypts too, and KMS adds a request to every checkpoint read."
        ),
    ),
    "s3-access-logging": (
        "storage",
        "advisory",
        False,
        (
            "[S3.9] S3 general purpose bucket server access logging should be enabled. Advisory outside "
            "sovereign stacks: the target bucket is the organization's, and CloudTrail data events may "
            "already record access."
        ),
    ),
    "required-tags": (
        "tags",
        "advisory",
        False,
        "Every taggable AWS resource carries the factory, profile (and, sovereign, data-residency) tags.",
    ),
}


def test_registry_holds_exactly_the_expected_policies() -> None:
    found = {
        p.id: (
            (p.resource_check or p.stack_check or p.inventory_check).__module__.removeprefix("aifactory.policies."),
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


@pytest.mark.parametrize("policy_id", POLICIES.ids())
def test_every_policy_says_how_to_fix_a_violation(policy_id: str) -> None:
    fix = POLICIES[policy_id].fix
    assert fix.strip() and not fix.endswith("."), policy_id
    assert "Fix:" not in fix
    assert POLICIES[policy_id].message("the problem.") == f"the problem. Fix: {fix}"


def test_a_policy_without_a_fix_does_not_register(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(POLICIES, "_by_id", dict(POLICIES._by_id))
    for decorator in (policy, stack_policy, inventory_policy):
        with pytest.raises(TypeError, match="fix"):
            decorator("test-no-fix", enforcement="advisory", description="d")  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="give a fix"):
            decorator("test-no-fix", enforcement="advisory", description="d", fix="  ")(lambda *a: [])
    assert "test-no-fix" not in POLICIES.ids()


def test_crossguard_shows_the_fix_as_remediation_steps() -> None:
    by_name = {p.name: p for p in build_policies(PolicyConfig())}
    assert {name: p.remediation_steps for name, p in by_name.items()} == {p.id: p.fix for p in POLICIES}


def test_an_id_registers_once() -> None:
    registry = Registry()
    registry.add(POLICIES["imdsv2-required"])
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(POLICIES["imdsv2-required"])
    with pytest.raises(ValueError, match="registered twice"):
        policy("imdsv2-required", enforcement="mandatory", description="again", fix="f")(lambda t, p, c: [])


def test_one_decorated_function_reaches_both_runners(monkeypatch: pytest.MonkeyPatch) -> None:
    # Registering is all it takes: no second list to add the policy to.
    monkeypatch.setattr(POLICIES, "_by_id", dict(POLICIES._by_id))

    @policy("test-no-widgets", enforcement="advisory", description="No widgets.", fix="remove the widget")
    def check_widgets(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
        return ["a widget"] if resource_type == "test:index:Widget" else []

    @stack_policy("test-stack", enforcement="advisory", description="Stack-wide.", fix="none needed")
    def check_stack(placement: Mapping[str, Any] | None, config: PolicyConfig) -> list[str]:
        return []

    widget = {"urn": "urn:pulumi:s::p::test:index:Widget::w", "type": "test:index:Widget", "inputs": {}}
    found = run_policies([widget], "commercial", PolicyConfig(profile="commercial"), None)
    assert [(v.policy, v.level, v.message) for v in found] == [
        ("test-no-widgets", "advisory", "a widget. Fix: remove the widget")
    ]
    assert {"test-no-widgets", "test-stack"} <= {p.name for p in build_policies(PolicyConfig())}


def readme_rows(heading: str) -> list[list[str]]:
    """The cells of the table rows whose first cell is code, in policy/README.md's `heading` section."""
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "policy" / "README.md").read_text()
    section = readme.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.split("|")[1:-1]] for line in section.splitlines() if line.startswith("| `")]


def test_policy_readme_lists_exactly_the_registry() -> None:
    # policy/README.md's table is what users read to configure the pack: one row per policy.
    rows = [cells[0].strip("`") for cells in readme_rows("Policies")]
    assert sorted(rows) == sorted(POLICIES.ids())
    assert len(rows) == len(set(rows))


def test_policy_readme_lists_each_policy_s_properties_and_each_property() -> None:
    listed = {cells[0].strip("`"): cells[2] for cells in readme_rows("Policies")}
    for p in POLICIES:
        assert listed[p.id] == (", ".join(f"`{k}`" for k in p.config_keys) or "—"), p.id
    from aifactory.policies.pack_config import ENFORCEMENT_LEVELS

    named = [cells[0].strip("`") for cells in readme_rows("Configure")]
    assert [n for n in named if n in ENFORCEMENT_LEVELS] == list(ENFORCEMENT_LEVELS)
    properties = [n for n in named if n not in ENFORCEMENT_LEVELS]
    assert sorted(properties) == sorted(set(CONFIG_SCHEMA) - {"profile"})
