"""The node image builds a stack plans: one per accelerator family of its EC2 fleets (and with Slurm
one for the head), on the pinned parent of its scheduler, none without `nodeImages.build`."""

from __future__ import annotations

from pathlib import Path

import yaml
from aifactory.planning.node_images import ARTIFACT_PREFIX, plan_node_images
from aifactory.spec.loading import spec_from_config

REPO = Path(__file__).resolve().parents[2]


def _config(example: str, node_images: dict[str, object]) -> dict[str, object]:
    config: dict[str, object] = yaml.safe_load((REPO / "stacks" / f"Pulumi.{example}.yaml").read_text())["config"]
    config["aifactory:nodeImages"] = node_images
    return config


def test_no_build_plans_no_pipeline() -> None:
    assert plan_node_images(spec_from_config(_config("slurm-aws", {}))) == ()


def test_a_neuron_eks_stack_builds_one_neuron_image_on_al2023() -> None:
    config = _config("trn2-us", {"build": True})
    version = config["aifactory:scheduler"]["version"]  # type: ignore[index]
    config["aifactory:images"] = {**config["aifactory:images"], f"eks-{version}-standard": "ami-0bbbbbbbbbbbbbbbb"}  # type: ignore[dict-item]
    (build,) = plan_node_images(spec_from_config(config))
    assert (build.key, build.family, build.base_os) == (f"node-eks-{version}-neuron", "neuron", "al2023")
    assert build.parent_image == "ami-0bbbbbbbbbbbbbbbb" and build.build_instance_type.startswith("trn")
    assert not build.in_region_only


def test_an_in_region_slurm_build_reads_its_recipe_prefix() -> None:
    build, head = plan_node_images(spec_from_config(_config("slurm-aws", {"build": True, "artifactBucket": "arts"})))
    assert (build.key, build.base_os, build.parent_key) == ("node-slurm-nvidia", "ubuntu2404", "slurm-head")
    assert build.in_region_only and build.artifact_prefix == f"{ARTIFACT_PREFIX}/{build.recipe_version}"
    # The head's own build: the same Ubuntu parent and recipe, on a CPU instance.
    assert (head.key, head.family, head.base_os, head.parent_key) == (
        "node-slurm-head",
        "head",
        "ubuntu2404",
        "slurm-head",
    )
    assert head.head and not build.head and head.build_instance_type == "m7i.2xlarge"
    assert head.recipe_version == build.recipe_version and head.in_region_only
