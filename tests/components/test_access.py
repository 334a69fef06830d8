"""`aifactory:access`: administrators of the key and the cluster, and nobody admin by creation."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from aifactory.encryption import KEY_ADMIN_ACTIONS, key_policy, statements_by_sid
from aifactory.spec import FactorySpec
from aifactory.spec.access import administrators_in_partition
from pydantic import ValidationError

from tests.components.test_kubernetes_component import base_args, register
from tests.conftest import RunProgram

ADMIN = "arn:aws-us-gov:iam::123456789012:role/PlatformAdmin"
BASE: dict[str, Any] = {
    "region": "us-east-1",
    "profile": "commercial",
    "fleets": [{"name": "train", "instanceType": "p5.48xlarge", "count": 2}],
}


def _spec(administrators: list[str], region: str = "us-east-1") -> FactorySpec:
    raw = copy.deepcopy(BASE)
    raw["region"] = region
    raw["access"] = {"administrators": administrators}
    return FactorySpec.model_validate(raw)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:group/Admins",
        "arn:aws:iam::12345:role/Admin",
        "arn:aws:iam::123456789012:role/Admin;rm",
        "arn:aws:sts::123456789012:assumed-role/Admin/me",
        "*",
    ],
)
def test_an_administrator_that_is_not_a_role_or_user_arn_is_refused(arn: str) -> None:
    with pytest.raises(ValidationError, match="not an IAM role or user ARN"):
        _spec([arn])


def test_a_path_and_a_user_are_accepted_and_duplicates_are_not() -> None:
    assert _spec(["arn:aws:iam::123456789012:role/team/ml/Admin", "arn:aws:iam::123456789012:user/ops"])
    with pytest.raises(ValidationError, match="twice"):
        _spec(["arn:aws:iam::123456789012:role/A", "arn:aws:iam::123456789012:role/A"])


def test_administrators_of_another_partition_or_several_accounts_are_named_with_a_fix() -> None:
    [issue] = administrators_in_partition(_spec([ADMIN]))
    assert issue.path == "aifactory:access.administrators[0]"
    assert "partition aws-us-gov" in issue.problem and "arn:aws:iam::<account>" in issue.fix
    assert list(administrators_in_partition(_spec([ADMIN], region="us-gov-west-1"))) == []
    two = _spec(["arn:aws:iam::123456789012:role/A", "arn:aws:iam::210987654321:role/B"])
    [issue] = administrators_in_partition(two)
    assert issue.path == "aifactory:access.administrators" and "2 accounts" in issue.problem


def test_key_administrators_administer_but_never_use_the_key() -> None:
    # 0.1 had only the account's kms:* statement: no administrator was separate from the key's users.
    policy = key_policy("aws", "eu-north-1", "123456789012", ["logs"], administrators=["arn:aws:iam::1:role/B"])
    admins = statements_by_sid(policy)["KeyAdministrators"]
    assert admins["Principal"] == {"AWS": ["arn:aws:iam::1:role/B"]}
    assert admins["Action"] == KEY_ADMIN_ACTIONS
    for use in ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant"):
        assert not any(a == use or (a.endswith("*") and use.startswith(a[:-1])) for a in admins["Action"]), use
    assert "KeyAdministrators" not in statements_by_sid(key_policy("aws", "eu-north-1", "1", ["logs"]))
    assert "AccountAdministersKey" in statements_by_sid(policy)


def test_the_cluster_grants_nobody_admin_for_creating_it_and_admins_get_entries(run_program: RunProgram) -> None:
    resources = register(run_program, base_args(admin_role_arns=[ADMIN]))
    [cluster] = [r for r in resources.values() if r.type == "aws:eks/cluster:Cluster"]
    assert cluster.inputs["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }
    entries = [r for r in resources.values() if r.type == "aws:eks/accessEntry:AccessEntry"]
    assert [e.inputs["principalArn"] for e in entries] == [ADMIN]
    [association] = [
        r for r in resources.values() if r.type == "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
    ]
    assert association.inputs["policyArn"] == (
        "arn:aws-us-gov:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    )
    assert association.inputs["accessScope"] == {"type": "cluster"}


def test_the_factory_passes_its_administrators_to_the_key_and_the_cluster() -> None:
    from aifactory.encryption import key_policy_for_plan
    from aifactory.factory import kubernetes_args, plan_node_groups
    from aifactory.planning.factory_plan import plan_factory
    from aifactory.spec.loading import read_stack_config, spec_from_config

    config = read_stack_config(Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.sovereign-eu.yaml")
    partition = spec_from_config(config).partition
    admin = f"arn:{partition}:iam::123456789012:role/PlatformAdmin"
    plan = plan_factory(spec_from_config({**config, "aifactory:access": {"administrators": [admin]}}), "s")
    # The node groups as the factory plans them: the production line's cycle names its fleet's.
    assert kubernetes_args(plan, plan_node_groups(plan, None), None)["admin_role_arns"] == [admin]
    document = json.loads(key_policy_for_plan(plan, "123456789012"))
    assert statements_by_sid(document)["KeyAdministrators"]["Principal"] == {"AWS": [admin]}


def test_an_existing_cluster_keeps_its_creator_setting_instead_of_being_replaced(
    run_program: RunProgram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The setting is create-only (a change replaces the cluster): 0.1 clusters, created with True,
    keep it through ignore_changes, and only new clusters get False."""
    import pulumi_aws as aws

    seen: list[Any] = []

    class Recording(aws.eks.Cluster):  # type: ignore[misc]
        def __init__(self, resource_name: str, *args: Any, opts: Any = None, **kwargs: Any) -> None:
            seen.append(opts)
            super().__init__(resource_name, *args, opts=opts, **kwargs)

    monkeypatch.setattr(aws.eks, "Cluster", Recording)
    register(run_program, base_args())
    [opts] = seen
    assert "accessConfig.bootstrapClusterCreatorAdminPermissions" in (opts.ignore_changes or [])


def test_a_bad_administrator_in_the_stack_config_is_a_config_error_naming_the_key() -> None:
    from aifactory.spec.errors import ConfigError
    from aifactory.spec.loading import spec_from_config

    config = {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:fleets": [{"name": "t", "instanceType": "p5.48xlarge", "count": 1}],
        "aifactory:access": {"administrators": ["arn:aws:iam::123456789012:role/Admin$(id)"]},
    }
    with pytest.raises(ConfigError) as caught:
        spec_from_config(config, require_pinned_images=False)
    [issue] = caught.value.issues
    assert issue.path == "aifactory:access.administrators" and "not an IAM role or user ARN" in issue.problem
    config["aifactory:access"] = {"administrators": ["arn:aws-cn:iam::123456789012:role/Admin"]}
    with pytest.raises(ConfigError) as caught:
        spec_from_config(config, require_pinned_images=False)
    assert [i.path for i in caught.value.issues] == ["aifactory:access.administrators[0]"]
