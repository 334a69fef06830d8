"""`NodeImages` under Pulumi mocks: one Image Builder pipeline per accelerator family on the pinned
parent image, built in the factory's private subnet with least privilege, distributed in the stack's
region to the SSM parameter `aifactory images pin` reads; fleets boot the pin, never the parameter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.catalog.node_image_recipe import node_image_recipe
from aifactory.cli.planrun import PlanResult, plan_stack
from aifactory.node_images import BUILD_INSTANCE_POLICIES
from aifactory.preflight.limits import COMPONENT_DATA_MAX_CHARS
from aifactory.spec import ConfigError
from aifactory.spec.images import node_image_parameter

REPO = Path(__file__).resolve().parents[2]
BUCKET = "factory-artifacts-eu-north-1"
BUILT = "ami-0aaaaaaaaaaaaaaaa"
BUILT_HEAD = "ami-0cccccccccccccccc"
PARENT = "ami-0bbbbbbbbbbbbbbbb"


def _stack(tmp_path: Path, example: str, node_images: dict[str, Any], pins: dict[str, str]) -> str:
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{example}.yaml").read_text())
    document["config"]["aifactory:nodeImages"] = node_images
    document["config"]["aifactory:images"].update(pins)
    path = tmp_path / f"Pulumi.{example}-built.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


def _of(result: PlanResult, kind: str) -> list[Any]:
    return [r for r in result.resources if r.type == f"aws:{kind}"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> PlanResult:
    """slurm-aws (sovereign, no egress) building and booting its NVIDIA image from its bucket."""
    node_images = {"build": True, "boot": True, "artifactBucket": BUCKET}
    pins = {"node-slurm-nvidia": BUILT, "node-slurm-head": BUILT_HEAD}
    return plan_stack(_stack(tmp_path_factory.mktemp("slurm"), "slurm-aws", node_images, pins))


def test_one_pipeline_per_family_on_the_pinned_parent(slurm: PlanResult) -> None:
    pins = slurm.plan.spec.images
    pipelines = _of(slurm, "imagebuilder/imagePipeline:ImagePipeline")
    recipes = _of(slurm, "imagebuilder/imageRecipe:ImageRecipe")
    # The p5 nodes' image and the head's: the same Ubuntu parent and recipe version.
    assert sorted(r.name.rsplit("-", 1)[-1] for r in recipes) == ["head", "nvidia"]
    assert {r.inputs["parentImage"] for r in recipes} == {pins["slurm-head"]}
    assert {r.inputs["version"] for r in recipes} == {node_image_recipe().recipe_version}
    assert all("schedule" not in p.inputs for p in pipelines) and len(pipelines) == 2
    assert all(p.inputs["imageTestsConfiguration"]["imageTestsEnabled"] is True for p in pipelines)


def test_the_component_is_the_in_region_document(slurm: PlanResult) -> None:
    for component in _of(slurm, "imagebuilder/component:Component"):
        document = yaml.safe_load(component.inputs["data"])
        fetch = document["phases"][0]["steps"][0]
        assert fetch["action"] == "S3Download"
        assert all(i["source"].startswith(f"s3://{BUCKET}/") for i in fetch["inputs"])
        assert "https://" not in component.inputs["data"]
        assert component.inputs["kmsKeyId"]


def test_distributed_in_the_region_to_the_pin_parameter(slurm: PlanResult) -> None:
    distributions = _of(slurm, "imagebuilder/distributionConfiguration:DistributionConfiguration")
    assert len(distributions) == 2
    for distribution in distributions:
        key = "node-slurm-" + distribution.name.rsplit("-", 1)[-1]
        (target,) = distribution.inputs["distributions"]
        assert target["region"] == slurm.plan.spec.region
        assert target["ssmParameterConfigurations"] == [
            {"parameterName": node_image_parameter(key), "dataType": "aws:ec2:image"}
        ]
        assert target["amiDistributionConfiguration"]["kmsKeyId"]
        assert slurm.outputs["nodeImages"][key]["parameter"] == node_image_parameter(key)


def test_built_in_a_private_subnet_with_least_privilege(slurm: PlanResult) -> None:
    infrastructures = {
        i.name.rsplit("-", 1)[-1]: i
        for i in _of(slurm, "imagebuilder/infrastructureConfiguration:InfrastructureConfiguration")
    }
    types = node_image_recipe().build_instance_types
    assert {f: i.inputs["instanceTypes"] for f, i in infrastructures.items()} == {
        "nvidia": [types["nvidia"]],
        "head": [types["head"]],
    }
    infrastructure = infrastructures["nvidia"]
    private = {r.id for r in _of(slurm, "ec2/subnet:Subnet") if not r.inputs.get("mapPublicIpOnLaunch")}
    assert infrastructure.inputs["subnetId"] in private
    assert infrastructure.inputs["instanceMetadataOptions"]["httpTokens"] == "required"
    role = next(r for r in _of(slurm, "iam/role:Role") if r.name.endswith("-node-images-build"))
    attached = {
        r.inputs["policyArn"].rsplit("/", 1)[1]
        for r in _of(slurm, "iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.parent == role.parent and r.name.startswith(role.name)
    }
    assert attached == set(BUILD_INSTANCE_POLICIES)
    (inline,) = [r for r in _of(slurm, "iam/rolePolicy:RolePolicy") if r.name.startswith(role.name)]
    statements = json.loads(inline.inputs["policy"])["Statement"]
    assert {a for s in statements for a in s["Action"]} == {"s3:ListBucket", "s3:GetObject"}
    assert all(BUCKET in s["Resource"] for s in statements)


def test_without_egress_image_builder_has_its_endpoint(slurm: PlanResult) -> None:
    services = {r.inputs["serviceName"] for r in _of(slurm, "ec2/vpcEndpoint:VpcEndpoint")}
    assert "com.amazonaws.eu-north-1.imagebuilder" in services
    assert slurm.violations == [] and slurm.preflight == []


def test_fleets_and_the_head_boot_the_pinned_builds(slurm: PlanResult) -> None:
    templates = _of(slurm, "ec2/launchTemplate:LaunchTemplate")
    assert templates and {t.inputs["imageId"] for t in templates} == {BUILT}
    (head,) = _of(slurm, "ec2/instance:Instance")
    assert head.inputs["ami"] == BUILT_HEAD
    # The version follows the boot (25.11, the recipe's series), with no scheduler.version set.
    assert slurm.plan.spec.scheduler is not None and slurm.plan.spec.scheduler.version == "25.11"


def test_an_eks_build_with_egress_fetches_from_the_vendors(tmp_path: Path) -> None:
    result = plan_stack(_stack(tmp_path, "commercial-us", {"build": True}, {"eks-1.35-standard": PARENT}))
    (recipe,) = _of(result, "imagebuilder/imageRecipe:ImageRecipe")
    assert recipe.inputs["parentImage"] == PARENT
    (component,) = _of(result, "imagebuilder/component:Component")
    assert yaml.safe_load(component.inputs["data"])["phases"][0]["steps"][0]["action"] == "WebDownload"
    assert not any(
        r.inputs.get("serviceName", "").endswith(".imagebuilder") for r in _of(result, "ec2/vpcEndpoint:VpcEndpoint")
    )
    # Building changes no fleet: without `boot` the node groups keep the public pins.
    images = {
        t.inputs["imageId"] for t in _of(result, "ec2/launchTemplate:LaunchTemplate") if not t.name.endswith("-system")
    }
    assert images == {result.plan.spec.images["eks-1.35-nvidia"]}
    # The example's own advisories stay; the pipelines add none and no preflight finding.
    assert [v for v in result.violations if "NodeImages" in v["urn"]] == [] and result.preflight == []


def test_a_sovereign_build_without_a_bucket_registers_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_stack(_stack(tmp_path, "slurm-aws", {"build": True}, {}))
    assert [i.path for i in caught.value.errors] == ["aifactory:nodeImages.artifactBucket"]


def test_the_component_document_fits_image_builders_inline_limit(slurm: PlanResult) -> None:
    components = _of(slurm, "imagebuilder/component:Component")
    assert len(components) == 2  # the node family's and the head's (nodeImages.build with Slurm)
    assert all(len(c.inputs["data"]) <= COMPONENT_DATA_MAX_CHARS for c in components)
    assert [f for f in slurm.preflight if f["rule"].startswith("limits.")] == []
