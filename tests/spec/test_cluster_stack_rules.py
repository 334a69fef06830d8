"""`scheduler.infrastructureStack` and `scheduler.clusterRunner`: each bad value is a config issue
with its path, before anything reaches a buildspec or a stack reference."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.planning.factory_plan import plan_from_config
from aifactory.spec import ConfigError
from aifactory.spec.kubernetes_rules import KUBERNETES_RULES
from aifactory.spec.model import FactorySpec

MIRROR = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/mirror"
KEY = "arn:aws:kms:us-east-1:123456789012:key/0b7d3c1e-5f2a-4c8e-9d61-2a4f8e7b3c90"


def spec(profile: str = "commercial", runner: dict[str, Any] | None = None, **scheduler: Any) -> FactorySpec:
    raw: dict[str, Any] = {
        "region": "eu-central-1" if profile == "sovereign" else "us-east-1",
        "profile": profile,
        "fleets": [{"name": "p5", "instanceType": "p5.48xlarge", "count": 4}],
        "scheduler": {"kind": "kubernetes", **scheduler},
    }
    if runner is not None:
        raw["scheduler"]["clusterRunner"] = runner
    if profile == "sovereign":
        raw["sovereignty"] = {"allowedRegions": ["eu-central-1"], "registryMirror": MIRROR}
    return FactorySpec.model_validate(raw)


def issues(s: FactorySpec) -> dict[str, str]:
    return {i.path: i.problem for rule in KUBERNETES_RULES for i in rule(s)}


def commercial_runner() -> dict[str, Any]:
    return {"image": "registry.example.com/aifactory-runner:0.2.0", "stateBucket": "state-bucket", "secretsKeyArn": KEY}


def test_valid_runners_have_no_issues() -> None:
    assert issues(spec(runner=commercial_runner(), infrastructureStack="acme/aifactory/prod")) == {}
    eu_key = "arn:aws:kms:eu-central-1:123456789012:key/5c2e8a41-7b3d-4f90-a6e1-0d9c4b7f2e35"
    sovereign = {"image": f"{MIRROR}/runner:1.0", "stateBucket": "state.eu", "secretsKeyArn": eu_key}
    assert issues(spec("sovereign", runner=sovereign)) == {}


def test_runner_and_reference_only_with_a_private_endpoint() -> None:
    found = issues(
        spec(
            endpoint="public",
            publicAccessCidrs=["203.0.113.0/24"],
            runner=commercial_runner(),
            infrastructureStack="acme/aifactory/prod",
        )
    )
    assert "private endpoint" in found["aifactory:scheduler.clusterRunner"]
    assert "private endpoint" in found["aifactory:scheduler.infrastructureStack"]


@pytest.mark.parametrize("ref", ["acme/aifactory/prod/extra", "a b", "org/proj/st;ack", ""])
def test_infrastructure_stack_must_be_a_stack_reference(ref: str) -> None:
    assert "aifactory:scheduler.infrastructureStack" in issues(spec(infrastructureStack=ref))


def test_sovereign_runner_image_must_come_from_the_mirror() -> None:
    found = issues(spec("sovereign", runner={"image": "public.ecr.aws/acme/runner:1.0", "stateBucket": "state-bucket"}))
    problem = found["aifactory:scheduler.clusterRunner.image"]
    assert MIRROR in problem
    # a prefix that only looks like the mirror is not under it
    sneaky = issues(spec("sovereign", runner={"image": f"{MIRROR}-evil/runner:1.0", "stateBucket": "state-bucket"}))
    assert "aifactory:scheduler.clusterRunner.image" in sneaky


@pytest.mark.parametrize(
    "image", ["registry.example.com/runner", "registry.example.com:5000/runner", "Registry/Runner:1", "x/y:1;rm -rf"]
)
def test_runner_image_must_be_a_pinned_reference(image: str) -> None:
    found = issues(spec(runner={**commercial_runner(), "image": image}))
    assert "aifactory:scheduler.clusterRunner.image" in found


@pytest.mark.parametrize("bucket", ["ab", "Upper-Case", "bad..dots", "192.168.1.1", "-leading", "x" * 64, "a b"])
def test_state_bucket_must_be_an_s3_bucket_name(bucket: str) -> None:
    found = issues(spec(runner={**commercial_runner(), "stateBucket": bucket}))
    assert "aifactory:scheduler.clusterRunner.stateBucket" in found


@pytest.mark.parametrize("profile", ["commercial", "sovereign"])
def test_runner_needs_a_key_that_exists_before_the_stack(profile: str) -> None:
    runner = {**commercial_runner(), "image": f"{MIRROR}/runner:1.0"}
    del runner["secretsKeyArn"]
    # a sovereign factory without kmsKeyArn creates its key in the infrastructure stack: too late
    found = issues(spec(profile, runner=runner))
    assert "no KMS key exists" in found["aifactory:scheduler.clusterRunner.secretsKeyArn"]


def test_configured_factory_key_is_the_default_secrets_key() -> None:
    runner = {"image": f"{MIRROR}/runner:1.0", "stateBucket": "state-bucket"}
    s = spec("sovereign", runner=runner)
    key = "arn:aws:kms:eu-central-1:123456789012:key/5c2e8a41-7b3d-4f90-a6e1-0d9c4b7f2e35"
    sovereignty = s.sovereignty.model_copy(update={"kms_key_arn": key}) if s.sovereignty else None
    assert issues(s.model_copy(update={"sovereignty": sovereignty})) == {}


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("not-an-arn", "not a KMS key ARN"),
        ("arn:aws:kms:us-east-1:123456789012:alias/x", "is an alias ARN"),
        ("arn:aws:kms:eu-west-1:123456789012:key/5c2e8a41-7b3d-4f90-a6e1-0d9c4b7f2e35", "the stack in aws/us-east-1"),
    ],
)
def test_secrets_key_must_be_a_key_in_the_stack_region(key: str, problem: str) -> None:
    found = issues(spec(runner={**commercial_runner(), "secretsKeyArn": key}))
    assert problem in found["aifactory:scheduler.clusterRunner.secretsKeyArn"]


@pytest.mark.parametrize("directory", ["relative/dir", "/opt/../etc", "/opt/ai factory", "/opt/$(id)"])
def test_project_dir_must_be_a_plain_absolute_path(directory: str) -> None:
    found = issues(spec(runner={**commercial_runner(), "projectDir": directory}))
    assert "aifactory:scheduler.clusterRunner.projectDir" in found


def test_stack_config_error_names_the_path_and_a_fix() -> None:
    config = {
        "aws:region": "eu-central-1",
        "aifactory:profile": "sovereign",
        "aifactory:sovereignty": {"allowedRegions": ["eu-central-1"], "registryMirror": MIRROR},
        "aifactory:fleets": [{"name": "p5", "instanceType": "p5.48xlarge", "count": 4}],
        "aifactory:scheduler": {
            "kind": "kubernetes",
            "clusterRunner": {"image": "docker.io/acme/runner:1", "stateBucket": "state-bucket"},
        },
    }
    with pytest.raises(ConfigError) as raised:
        plan_from_config(config, "test")
    [issue] = [i for i in raised.value.issues if i.path == "aifactory:scheduler.clusterRunner.image"]
    assert "mirror" in issue.fix
