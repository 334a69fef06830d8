"""`aifactory:images`: the machine images a stack boots, resolved once and pinned in its config.

Every image the factory boots comes from a public SSM parameter that AWS (or Canonical) moves to a
new image with every release. Read at every run, a new release would replace every Slurm instance
and roll every node group, so the stack records the ids instead (`aifactory images pin <stack>`
writes them) and the program reads no parameter at all. `required_images` is the one place that
says which images a stack needs and where each comes from: the config rule below and the `pin`
command both use it, so the two cannot disagree.

Keys (each value an `ami-…` id unless noted):

- `eks-<version>-nvidia`, `eks-<version>-neuron`: EKS-optimized AL2023 accelerated node AMI of a
  Kubernetes version (EKS user guide, "Retrieve recommended Amazon Linux AMI IDs");
- `eks-<version>-system-release`: the AMI release version (e.g. `1.35.0-20260115`) of the EKS system
  node group, which boots the standard AL2023 AMI through `amiType` (same page, the sibling
  `release_version` parameter);
- `dlami-nvidia`, `dlami-neuron`: the Ubuntu 24.04 Deep Learning AMI of Slurm compute nodes and
  autoscaling-group fleets (DLAMI developer guide, "Find a DLAMI ID"; Neuron DLAMI docs, "SSM
  parameters");
- `slurm-head`: the Ubuntu 24.04 server AMI of the Slurm head node (Canonical, "Find Ubuntu images
  on AWS"), also the parent image of built Slurm node images;
- `eks-<version>-standard`: the EKS-optimized AL2023 (standard) AMI, the parent image of built EKS node
  images (`aifactory:nodeImages.build`);
- `node-eks-<version>-<family>`, `node-slurm-<family>`: an image built by the stack's own Image Builder
  pipeline (`spec/node_images.py`), read from the SSM parameter the pipeline's distribution writes;
  fleets boot it with `aifactory:nodeImages.boot`;
- `node-slurm-head`: the Slurm head node's image, built by the same kind of pipeline with the same
  pinned Slurm (slurmctld, slurmdbd), so head and nodes run one release; the head boots it with
  `aifactory:nodeImages.boot`.

A fleet's own `amiId` still overrides its key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..catalog.instance_types import instance_types
from ..catalog.node_image_recipe import node_image_recipe
from .errors import ConfigIssue, config_path, did_you_mean
from .scheduler import KubernetesScheduler, SlurmScheduler

if TYPE_CHECKING:
    from .model import FactorySpec, Fleet

ImageKind = Literal["ami", "release"]

# EC2 resource ids: the type prefix and 8 (older) or 17 hexadecimal characters (EC2 user guide,
# "Resource IDs").
AMI_ID = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
# EKS-optimized AMI release versions: `<kubernetes major.minor.patch>-<YYYYMMDD>` (EKS user guide,
# "Amazon EKS optimized Amazon Linux AMI versions"; UpdateNodegroupVersion `releaseVersion`).
RELEASE_VERSION = re.compile(r"^\d+\.\d+\.\d+-\d{8}\Z")
_VALUE_PATTERNS: dict[ImageKind, re.Pattern[str]] = {"ami": AMI_ID, "release": RELEASE_VERSION}
_VALUE_EXAMPLES: dict[ImageKind, str] = {"ami": "ami-0123456789abcdef0", "release": "1.35.0-20260115"}

# Public SSM parameters naming the current image of each role.
_EKS_AMI = "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/{flavour}/recommended/image_id"
_EKS_RELEASE = "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/standard/recommended/release_version"
# Ubuntu 24.04 images, whose Slurm (23.11) matches the head node's; the Neuron parameter follows the
# documented 22.04 pattern for 24.04 (unverified here).
_DLAMI = {
    "nvidia": "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id",
    "neuron": "/aws/service/neuron/dlami/multi-framework/ubuntu-24.04/latest/image_id",
}
# The head runs the same Ubuntu 24.04 release as the compute nodes' Deep Learning AMI, so slurmctld
# and slurmd come from the same Slurm series.
_SLURM_HEAD = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"

# Written by the distribution of the stack's own pipelines (`components/node_images.py`), one per recipe
# version, so a new recipe is a new parameter and an image of the old one is never pinned for it.
_NODE_IMAGE = "/aifactory/node-images/{recipe}/{key}"

_EKS_KEY = re.compile(r"^eks-(?P<version>\d+\.\d+)-(?P<role>nvidia|neuron|standard|system-release)\Z")
_DLAMI_KEY = re.compile(r"^dlami-(?P<family>nvidia|neuron)\Z")
_NODE_KEY = re.compile(r"^node-(?:eks-\d+\.\d+-(?:nvidia|neuron)|slurm-(?:nvidia|neuron|head))\Z")
SLURM_HEAD_KEY = "slurm-head"
BuildFamily = Literal["nvidia", "neuron", "head"]
"""What a pipeline builds for: an accelerator family's nodes, or (Slurm) the CPU head node."""
HEAD_FAMILY: BuildFamily = "head"
BUILT_SLURM_HEAD_KEY = f"node-slurm-{HEAD_FAMILY}"
KEY_FORMS = ("eks-<version>-nvidia", "eks-<version>-neuron", "eks-<version>-standard",
             "eks-<version>-system-release", "dlami-nvidia", "dlami-neuron", SLURM_HEAD_KEY,
             "node-eks-<version>-<family>", "node-slurm-<family>", BUILT_SLURM_HEAD_KEY)  # fmt: skip


@dataclass(frozen=True)
class ImageSource:
    """Where the image of one key comes from: the public SSM parameter and the kind of value."""

    key: str
    parameter: str
    kind: ImageKind

    @property
    def path(self) -> str:
        return config_path("images", self.key)

    def accepts(self, value: str) -> bool:
        return bool(_VALUE_PATTERNS[self.kind].match(value))

    def value_problem(self, value: str) -> str | None:
        if self.accepts(value):
            return None
        if self.kind == "ami":
            return f"'{value}' is not an AMI id (ami- and 8 or 17 lowercase hex digits)"
        return f"'{value}' is not an EKS AMI release version like {_VALUE_EXAMPLES['release']}"


@dataclass(frozen=True)
class ImageNeed:
    """One image the stack boots and what boots it."""

    source: ImageSource
    used_by: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.source.key


def image_source(key: str) -> ImageSource | None:
    """The SSM parameter behind a key of `aifactory:images`; None for a key of no known form."""
    if key == SLURM_HEAD_KEY:
        return ImageSource(key, _SLURM_HEAD, "ami")
    if _NODE_KEY.match(key):
        return ImageSource(key, node_image_parameter(key), "ami")
    dlami = _DLAMI_KEY.match(key)
    if dlami:
        return ImageSource(key, _DLAMI[dlami["family"]], "ami")
    eks = _EKS_KEY.match(key)
    if eks:
        version, role = eks["version"], eks["role"]
        if role == "system-release":
            return ImageSource(key, _EKS_RELEASE.format(version=version), "release")
        return ImageSource(key, _EKS_AMI.format(version=version, flavour=role), "ami")
    return None


def eks_node_key(version: str, family: str) -> str:
    return f"eks-{version}-{family}"


def eks_system_release_key(version: str) -> str:
    return f"eks-{version}-system-release"


def dlami_key(family: str) -> str:
    return f"dlami-{family}"


def node_image_parameter(key: str) -> str:
    """The SSM parameter a stack's pipeline writes the AMI id of a built image to."""
    return _NODE_IMAGE.format(recipe=node_image_recipe().recipe_version, key=key)


def built_image_key(spec: FactorySpec, family: BuildFamily) -> str:
    """The images key of the node image the stack's pipeline builds for `family`."""
    if isinstance(spec.scheduler, KubernetesScheduler):
        return f"node-eks-{spec.scheduler.version}-{family}"
    return f"node-slurm-{family}"


def build_parent_key(spec: FactorySpec) -> str:
    """The images key of the parent image the stack's pipelines build on: AL2023 (EKS) or Ubuntu 24.04."""
    if isinstance(spec.scheduler, KubernetesScheduler):
        return f"eks-{spec.scheduler.version}-standard"
    return SLURM_HEAD_KEY


def built_families(spec: FactorySpec) -> tuple[BuildFamily, ...]:
    """What the stack's pipelines build for: the accelerator families of its EC2 fleets, in catalog order,
    and with Slurm the head node, so slurmctld and slurmd come from one build of the recipe's Slurm."""
    if not spec.node_images.build or spec.scheduler is None:
        return ()
    used = {
        instance_types()[f.instance_type].ami_family for f in spec.ec2_fleets if f.instance_type in instance_types()
    }
    families: tuple[BuildFamily, ...] = tuple(family for family in ("nvidia", "neuron") if family in used)
    return (*families, HEAD_FAMILY) if isinstance(spec.scheduler, SlurmScheduler) else families


def head_image_key(spec: FactorySpec) -> str:
    """The images key the Slurm head boots: the built head image with `nodeImages.boot`, else Ubuntu's."""
    return BUILT_SLURM_HEAD_KEY if spec.node_images.boot else SLURM_HEAD_KEY


def fleet_image_key(spec: FactorySpec, fleet: Fleet) -> str | None:
    """The images key a fleet boots from; None when it sets its own `amiId` or its type is unknown."""
    # Hybrid fleets boot the customer's own OS on their own servers: no image.
    entry = instance_types().get(fleet.instance_type) if fleet.kind == "ec2" and fleet.instance_type else None
    if fleet.ami_id or entry is None:
        return None
    family = entry.ami_family
    if spec.node_images.boot and spec.scheduler is not None:
        return built_image_key(spec, family)
    if isinstance(spec.scheduler, KubernetesScheduler):
        return eks_node_key(spec.scheduler.version, family)
    return dlami_key(family)


def required_images(spec: FactorySpec) -> tuple[ImageNeed, ...]:
    """Every image the stack boots, in a stable order, with what boots it."""
    users: dict[str, list[str]] = {}
    for i, fleet in enumerate(spec.fleets):
        key = fleet_image_key(spec, fleet)
        if key is not None:
            users.setdefault(key, []).append(f"fleet '{fleet.name}' ({config_path('fleets', i)})")
    if isinstance(spec.scheduler, KubernetesScheduler):
        users.setdefault(eks_system_release_key(spec.scheduler.version), []).append("the EKS system node group")
    if isinstance(spec.scheduler, SlurmScheduler):
        users.setdefault(head_image_key(spec), []).append("the Slurm head node")
    for family in built_families(spec):
        users.setdefault(build_parent_key(spec), []).append(f"the {family} node image pipeline")
    needs = []
    for key, used_by in users.items():
        source = image_source(key)
        assert source is not None, key  # every key above has a known form
        needs.append(ImageNeed(source, tuple(used_by)))
    return tuple(needs)


def pinned_image(spec: FactorySpec, key: str) -> str:
    """The pinned value of a key the stack needs (validated: `images_pinned` refused the spec otherwise)."""
    try:
        return spec.images[key]
    except KeyError:
        raise ValueError(f"aifactory:images.{key} is not pinned; run `aifactory images pin <stack>`") from None


def fleet_image(spec: FactorySpec, fleet: Fleet) -> str:
    """The AMI a fleet's launch templates carry: its own `amiId`, else its pinned key."""
    if fleet.ami_id:
        return fleet.ami_id
    key = fleet_image_key(spec, fleet)
    if key is None:
        raise ValueError(f"fleet '{fleet.name}' has an instance type outside the catalog")
    return pinned_image(spec, key)


# --- rules (run by `loading.check_spec`) -------------------------------------------------------


def images_well_formed(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Every key has a known form and every value the form of its kind."""
    needed = [n.key for n in required_images(spec)]
    for key, value in spec.images.items():
        source = image_source(key)
        if source is None:
            yield ConfigIssue(
                config_path("images", key),
                f"'{key}' is not an image key (known forms: {', '.join(KEY_FORMS)})",
                did_you_mean(key, needed) if needed else "remove it",
            )
            continue
        problem = source.value_problem(value)
        if problem is not None:
            yield ConfigIssue(
                source.path,
                problem,
                f"run `aifactory images pin <stack>` to record the id from {source.parameter}, "
                f"or write one like {_VALUE_EXAMPLES[source.kind]}",
            )


def images_pinned(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Every image the stack boots is pinned: the program reads no SSM parameter."""
    for need in required_images(spec):
        if need.key not in spec.images:
            verb = "boots" if len(need.used_by) == 1 else "boot"
            yield ConfigIssue(
                need.source.path,
                f"{' and '.join(need.used_by)} {verb} an image that is not pinned "
                f"(it would come from the SSM parameter {need.source.parameter})",
                "run `aifactory images pin <stack>` to record the current id in the stack file, "
                "then review and commit it",
            )
