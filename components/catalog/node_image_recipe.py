"""The locked recipe of the built node images (data/node_image_recipe.yaml) and its consistency rules.

The table pins every version a node image installs; `recipe_problems` checks those versions against
the compatibility statements of their sources (kept in the same table, each with its source), so a
version that moves alone (a driver below its CUDA's minimum, an NCCL outside the plugin's range, an
installer that ships another plugin) is refused by `node_image_recipe()` and by the tests.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

SEMANTIC_VERSION = re.compile(r"^\d+\.\d+\.\d+\Z")
"""Image Builder recipe and component versions are <major>.<minor>.<patch> (Image Builder user guide,
"Semantic versioning")."""
SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
PINNED_VERSION = re.compile(r"^\d+(\.\d+)+(-\d+)?\Z")
"""One release: dotted numbers and a package revision (`2.26.2-1`); never `latest`, a wildcard or a range."""


class _Table(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Pinned(_Table):
    version: str
    source: str = Field(pattern=r"^https://")


class Nccl(Pinned):
    cuda: str
    """The CUDA major.minor the NCCL package is built against (`+cuda12.8`)."""


class Dcgm(Pinned):
    cuda_major: int


class NvidiaStack(_Table):
    driver: Pinned
    cuda: Pinned
    nccl: Nccl
    aws_ofi_nccl: Pinned
    dcgm: Dcgm


class NeuronStack(_Table):
    sdk: Pinned
    driver: str
    collectives: str
    runtime: str
    tools: str


class Tarball(Pinned):
    tarball: str
    sha256: str


class Upstream(_Table):
    efa_installer: str
    slurm: str
    cuda_repository: dict[str, str]
    lustre_repository: str
    lustre_repository_key: str
    neuron_repository: dict[str, str]


class CudaFloor(_Table):
    cuda: str
    driver: str


class NcclRange(_Table):
    min: str
    max: str


class EfaContents(_Table):
    aws_ofi_nccl: str
    libfabric: str


class NeuronRelease(_Table):
    driver: str
    collectives: str
    runtime: str
    tools: str


class Compatibility(_Table):
    cuda_minimum_driver: dict[str, str]
    architecture_minimum: dict[str, CudaFloor]
    aws_ofi_nccl_supports_nccl: dict[str, NcclRange]
    aws_ofi_nccl_libfabric_minimum: dict[str, str]
    efa_installer_ships: dict[str, EfaContents]
    dcgm_minimum_driver_branch: int
    neuron_release: dict[str, NeuronRelease]
    slurm_minimum: str


class NodeImageRecipe(_Table):
    recipe_version: str
    nvidia: NvidiaStack
    neuron: NeuronStack
    efa_installer: Tarball
    lustre_client: Pinned
    slurm: Tarball
    upstream: Upstream
    build_instance_types: dict[str, str]
    compatibility: Compatibility


def version_key(text: str) -> tuple[int, ...]:
    """`2.26.2-1` -> (2, 26, 2, 1): the numeric parts of a version, compared left to right."""
    parts = re.findall(r"\d+", text)
    if not parts:
        raise ValueError(f"'{text}' is not a version")
    return tuple(int(p) for p in parts)


def _major_minor(text: str) -> str:
    return ".".join(text.split(".")[:2])


def recipe_problems(recipe: NodeImageRecipe) -> list[str]:
    """Every way the pinned versions contradict the compatibility statements; [] for a locked recipe."""
    compat = recipe.compatibility
    nv = recipe.nvidia
    pinned_versions = {
        "nvidia.driver": nv.driver.version,
        "nvidia.cuda": nv.cuda.version,
        "nvidia.nccl": nv.nccl.version,
        "nvidia.awsOfiNccl": nv.aws_ofi_nccl.version,
        "nvidia.dcgm": nv.dcgm.version,
        "neuron.sdk": recipe.neuron.sdk.version,
        "neuron.driver": recipe.neuron.driver,
        "neuron.collectives": recipe.neuron.collectives,
        "neuron.runtime": recipe.neuron.runtime,
        "neuron.tools": recipe.neuron.tools,
        "efaInstaller": recipe.efa_installer.version,
        "lustreClient": recipe.lustre_client.version,
        "slurm": recipe.slurm.version,
    }
    unpinned = [
        f"{name} '{value}' is not one pinned release"
        for name, value in pinned_versions.items()
        if not PINNED_VERSION.match(value)
    ]
    if unpinned:
        return unpinned  # the rules below compare releases
    problems: list[str] = []
    if not SEMANTIC_VERSION.match(recipe.recipe_version):
        problems.append(f"recipeVersion '{recipe.recipe_version}' is not <major>.<minor>.<patch>")
    driver = version_key(nv.driver.version)
    cuda = nv.cuda.version
    floor = compat.cuda_minimum_driver.get(cuda)
    if floor is None:
        problems.append(f"CUDA {cuda} has no minimum driver in compatibility.cudaMinimumDriver")
    elif driver < version_key(floor):
        problems.append(f"driver {nv.driver.version} is below CUDA {cuda}'s minimum driver {floor}")
    for arch, minimum in compat.architecture_minimum.items():
        if version_key(cuda) < version_key(minimum.cuda) or driver < version_key(minimum.driver):
            problems.append(
                f"{arch} needs CUDA >= {minimum.cuda} and driver >= {minimum.driver}; "
                f"the recipe has CUDA {cuda}, driver {nv.driver.version}"
            )
    if nv.nccl.cuda.split(".")[0] != cuda.split(".")[0] or version_key(nv.nccl.cuda) > version_key(cuda):
        problems.append(f"NCCL {nv.nccl.version} is built for CUDA {nv.nccl.cuda}, not for the recipe's CUDA {cuda}")
    supported = compat.aws_ofi_nccl_supports_nccl.get(nv.aws_ofi_nccl.version)
    if supported is None:
        problems.append(f"aws-ofi-nccl {nv.aws_ofi_nccl.version} has no NCCL range in compatibility")
    elif not version_key(supported.min) <= version_key(nv.nccl.version) <= version_key(supported.max):
        problems.append(
            f"NCCL {nv.nccl.version} is outside aws-ofi-nccl {nv.aws_ofi_nccl.version}'s supported "
            f"{supported.min} to {supported.max}"
        )
    efa = recipe.efa_installer
    ships = compat.efa_installer_ships.get(efa.version)
    if ships is None:
        problems.append(f"EFA installer {efa.version} is not in compatibility.efaInstallerShips")
    else:
        if ships.aws_ofi_nccl != nv.aws_ofi_nccl.version:
            problems.append(
                f"EFA installer {efa.version} ships aws-ofi-nccl {ships.aws_ofi_nccl}, "
                f"not the recipe's {nv.aws_ofi_nccl.version}"
            )
        libfabric = compat.aws_ofi_nccl_libfabric_minimum.get(nv.aws_ofi_nccl.version)
        if libfabric is None:
            problems.append(f"aws-ofi-nccl {nv.aws_ofi_nccl.version} has no minimum libfabric in compatibility")
        elif version_key(ships.libfabric) < version_key(libfabric):
            problems.append(
                f"EFA installer {efa.version} ships libfabric {ships.libfabric}, below aws-ofi-nccl "
                f"{nv.aws_ofi_nccl.version}'s minimum {libfabric}"
            )
    if nv.dcgm.cuda_major != int(cuda.split(".")[0]):
        problems.append(f"DCGM's CUDA {nv.dcgm.cuda_major} flavour does not match CUDA {cuda}")
    if driver[0] < compat.dcgm_minimum_driver_branch:
        problems.append(f"DCGM needs driver R{compat.dcgm_minimum_driver_branch} or later")
    neuron = recipe.neuron
    release = compat.neuron_release.get(neuron.sdk.version)
    pinned = {
        "driver": neuron.driver,
        "collectives": neuron.collectives,
        "runtime": neuron.runtime,
        "tools": neuron.tools,
    }
    if release is None:
        problems.append(f"Neuron SDK {neuron.sdk.version} is not in compatibility.neuronRelease")
    else:
        for part, value in pinned.items():
            if getattr(release, part) != value:
                problems.append(
                    f"Neuron SDK {neuron.sdk.version} ships {part} {getattr(release, part)}, not the recipe's {value}"
                )
    if version_key(recipe.slurm.version)[:2] < version_key(compat.slurm_minimum):
        problems.append(f"Slurm {recipe.slurm.version} is older than {compat.slurm_minimum}")
    if _major_minor(recipe.lustre_client.version) not in ("2.10", "2.12", "2.15"):
        problems.append(f"Lustre client {recipe.lustre_client.version} is not an FSx for Lustre LTS version")
    for name, tarball in (("efaInstaller", efa), ("slurm", recipe.slurm)):
        if f"-{tarball.version}." not in tarball.tarball:
            problems.append(f"{name}.tarball '{tarball.tarball}' is not the tarball of version {tarball.version}")
        if not SHA256.match(tarball.sha256):
            problems.append(f"{name}.sha256 is not a SHA-256 digest (64 lowercase hex digits)")
    return problems


def parse_recipe(raw: Any) -> NodeImageRecipe:
    """The table from its YAML; ValueError listing every inconsistency."""
    recipe = NodeImageRecipe.model_validate(raw)
    problems = recipe_problems(recipe)
    if problems:
        raise ValueError("node image recipe is inconsistent: " + "; ".join(problems))
    return recipe


def recipe_data() -> Any:
    """The table as YAML data (tests edit a copy of it)."""
    return yaml.safe_load(resources.files("aifactory.catalog").joinpath("data/node_image_recipe.yaml").read_text())


@functools.cache
def node_image_recipe() -> NodeImageRecipe:
    return parse_recipe(recipe_data())
