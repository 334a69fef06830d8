"""Pure: the node images a stack builds, one per accelerator family of its EC2 fleets.

Each build is an EC2 Image Builder pipeline (`components/node_images.py`) on the stack's pinned parent
image, from the recipe table (`catalog/data/node_image_recipe.yaml`), whose output AMI id goes to
the SSM parameter `aifactory images pin` reads (`spec/images.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..catalog.node_image_recipe import node_image_recipe
from ..spec.images import BuildFamily, build_parent_key, built_families, built_image_key, node_image_parameter
from ..spec.model import FactorySpec
from ..spec.scheduler import KubernetesScheduler

BaseOs = Literal["al2023", "ubuntu2404"]
"""EKS nodes build on the EKS-optimized AL2023 AMI (nodeadm, kubelet); Slurm nodes on Ubuntu 24.04, the
head node's release."""

ARTIFACT_PREFIX = "aifactory-node-images"
"""Key prefix of the artifacts in `nodeImages.artifactBucket`: `<prefix>/<recipe version>/<file>`."""


@dataclass(frozen=True)
class ImageBuild:
    key: str
    """The `aifactory:images` key the built image is pinned under (`node-slurm-nvidia`)."""
    family: BuildFamily
    """`nvidia`, `neuron`, or `head`: the Slurm head node (slurmctld, slurmdbd; no accelerator, no EFA)."""
    scheduler: Literal["kubernetes", "slurm"]
    base_os: BaseOs
    parent_key: str
    parent_image: str | None
    """The pinned parent AMI; None only while the stack is not pinned (the factory refuses to build then)."""
    parameter: str
    build_instance_type: str
    artifact_bucket: str | None
    """With a bucket every artifact comes from it (in-region), none from the internet."""
    recipe_version: str

    @property
    def artifact_prefix(self) -> str:
        return f"{ARTIFACT_PREFIX}/{self.recipe_version}"

    @property
    def head(self) -> bool:
        return self.family == "head"

    @property
    def in_region_only(self) -> bool:
        return self.artifact_bucket is not None


def plan_node_images(spec: FactorySpec) -> tuple[ImageBuild, ...]:
    recipe = node_image_recipe()
    kubernetes = isinstance(spec.scheduler, KubernetesScheduler)
    parent = build_parent_key(spec)
    return tuple(
        ImageBuild(
            key=built_image_key(spec, family),
            family=family,
            scheduler="kubernetes" if kubernetes else "slurm",
            base_os="al2023" if kubernetes else "ubuntu2404",
            parent_key=parent,
            parent_image=spec.images.get(parent),
            parameter=node_image_parameter(built_image_key(spec, family)),
            build_instance_type=recipe.build_instance_types[family],
            artifact_bucket=spec.node_images.artifact_bucket,
            recipe_version=recipe.recipe_version,
        )
        for family in built_families(spec)
    )
