"""`aifactory:nodeImages`: node images built by EC2 Image Builder from the locked recipe.

`build: true` creates one Image Builder pipeline per accelerator family the stack's fleets use
(`components/node_images.py`), from the recipe in `catalog/data/node_image_recipe.yaml`. Each
pipeline writes its output AMI id into an SSM parameter, which only `aifactory images pin` reads;
`boot: true` makes the fleets boot the pinned `node-*` images instead of the public ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from ..catalog.node_image_recipe import node_image_recipe
from ..catalog.regions import offered_in_region
from .base import SpecModel
from .errors import ConfigIssue, config_path, warning
from .images import built_families
from .scheduler import DISTRIBUTION_SLURM_SERIES, SlurmScheduler, release_series
from .storage import BUCKET_NAME

if TYPE_CHECKING:
    from .model import FactorySpec

ARTIFACT_BUCKET = re.compile(rf"^{BUCKET_NAME}$")


class NodeImagesSpec(SpecModel):
    build: bool = Field(
        default=False,
        examples=[True],
        description="Create an EC2 Image Builder pipeline per accelerator family of the fleets, building the "
        "node image from the package's locked recipe (drivers, EFA, NCCL, Lustre client, Slurm).",
    )
    boot: bool = Field(
        default=False,
        examples=[True],
        description="Fleets boot the built images, pinned as `aifactory:images.node-*` by "
        "`aifactory images pin`, instead of the public EKS or Deep Learning AMIs. Needs `build`.",
    )
    artifact_bucket: str | None = Field(
        default=None,
        pattern=ARTIFACT_BUCKET.pattern,
        description="S3 bucket in the stack's region holding the recipe's artifacts (installers, tarballs, "
        "package repositories) under `aifactory-node-images/<recipe version>/`; the builds fetch nothing "
        "else. Required for sovereign stacks and stacks without egress.",
        examples=["factory-artifacts-eu-north-1"],
    )


def default_slurm_version(boot: bool) -> str:
    """`aifactory:scheduler.version` when the stack leaves it out: the series of the recipe's Slurm
    build when the head and nodes boot the built images (`nodeImages.boot`), else the series Ubuntu
    24.04 installs at boot on the Deep Learning AMIs and the head's Ubuntu image."""
    return release_series(node_image_recipe().slurm.version) if boot else DISTRIBUTION_SLURM_SERIES


def node_images_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """`boot` needs `build`; a build needs a scheduler; an offline or sovereign build needs the bucket."""
    images = spec.node_images
    if images.boot and not images.build:
        yield ConfigIssue(
            config_path("nodeImages", "boot"),
            "boots built images, but `build` is false, so no pipeline builds them",
            "set `aifactory:nodeImages.build: true` (run the pipelines and `aifactory images pin` before boot)",
        )
    if not images.build:
        return
    if spec.scheduler is None:
        yield ConfigIssue(
            config_path("nodeImages", "build"),
            "builds EKS or Slurm node images, but the stack has no scheduler",
            "set `aifactory:scheduler`, or remove `nodeImages`",
        )
    slurm = node_image_recipe().slurm.version
    scheduler = spec.scheduler
    if (
        images.boot
        and isinstance(scheduler, SlurmScheduler)
        and release_series(scheduler.version) != release_series(slurm)
    ):
        # The nodes' join script refuses a slurmd of another series than the cluster's (slurmd-join.sh.j2).
        yield ConfigIssue(
            config_path("scheduler", "version"),
            f"is {scheduler.version}, but the built node images run Slurm {slurm} (the recipe's), and slurmd "
            "joins only a cluster of its own release series",
            f'set `aifactory:scheduler.version: "{release_series(slurm)}"`',
        )
    if images.artifact_bucket is None and (spec.sovereign or spec.egress == "none"):
        why = "a sovereign stack" if spec.sovereign else "a stack without internet egress"
        yield ConfigIssue(
            config_path("nodeImages", "artifactBucket"),
            f"is required: {why} builds from in-region sources only, and the recipe's installers, tarballs and "
            "package repositories would otherwise come from the internet",
            'stage the artifacts in an S3 bucket of the stack\'s region (README, "Built node images") and set '
            "`aifactory:nodeImages.artifactBucket` to its name",
        )


def slurm_release_installed(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Without built images a head with egress installs Ubuntu 24.04's Slurm at boot
    (templates/slurm/head-user-data.sh.j2), so the cluster's series must be that one."""
    scheduler = spec.scheduler
    if not isinstance(scheduler, SlurmScheduler) or spec.node_images.boot or spec.egress == "none":
        return
    if release_series(scheduler.version) == DISTRIBUTION_SLURM_SERIES:
        return
    recipe = release_series(node_image_recipe().slurm.version)
    yield ConfigIssue(
        config_path("scheduler", "version"),
        f"is {scheduler.version}, but without built images the head and nodes install Ubuntu 24.04's Slurm "
        f"{DISTRIBUTION_SLURM_SERIES} at boot, and slurmd joins only a cluster of its own release series",
        f"boot the recipe's Slurm {recipe} (`aifactory:nodeImages: {{build: true, boot: true}}`, then run the "
        "pipelines and `aifactory images pin <stack>`), or remove `aifactory:scheduler.version` "
        f'(or set it to "{DISTRIBUTION_SLURM_SERIES}")',
    )


def build_instances_offered(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """A pipeline whose build instance type the region does not offer fails when it is started."""
    types = node_image_recipe().build_instance_types
    for family in built_families(spec):
        if offered_in_region(types[family], spec.region) is False:
            yield warning(
                config_path("nodeImages", "build"),
                f"the {family} image builds on {types[family]} (the recipe's build instance), which "
                f"{spec.region} does not offer, so its pipeline would fail when started",
                f"build the {family} image in a region that offers {types[family]} and set the fleets' "
                "`amiId`, or leave `build` off",
            )
