"""The node image recipe is one locked table: consistent as checked in, and refused when any one
version moves without the versions that depend on it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aifactory.catalog.node_image_recipe import node_image_recipe, parse_recipe, recipe_data, recipe_problems


def test_the_checked_in_recipe_is_consistent() -> None:
    recipe = node_image_recipe()
    assert recipe_problems(recipe) == []
    assert recipe.slurm.version.startswith("25.11.")


def _moved(path: tuple[str, ...], value: Any) -> Any:
    data = copy.deepcopy(recipe_data())
    node = data
    for key in path[:-1]:
        node = node[key]
    assert path[-1] in node, path
    node[path[-1]] = value
    return data


# Each row moves one version alone to a value that exists upstream; the recipe must be refused.
MOVES = [
    (("nvidia", "driver", "version"), "535.183.06", "below CUDA 12.8's minimum driver"),
    (("nvidia", "cuda", "version"), "12.9", "below CUDA 12.9's minimum driver"),
    (("nvidia", "cuda", "version"), "13.0", "built for CUDA 12.8"),
    (("nvidia", "nccl", "version"), "2.27.7-1", "outside aws-ofi-nccl 1.14.2"),
    (("nvidia", "nccl", "cuda"), "12.9", "built for CUDA 12.9"),
    (("nvidia", "awsOfiNccl", "version"), "1.16.3", "ships aws-ofi-nccl 1.14.2"),
    (("nvidia", "dcgm", "cudaMajor"), 13, "DCGM's CUDA 13 flavour"),
    (("efaInstaller", "version"), "1.43.2", "ships aws-ofi-nccl 1.16.3"),
    (("efaInstaller", "sha256"), "0" * 63, "not a SHA-256 digest"),
    (("neuron", "driver"), "2.26.5.0", "ships driver 2.25.4.0"),
    (("neuron", "sdk", "version"), "2.28.0", "not in compatibility.neuronRelease"),
    (("slurm", "version"), "25.11.9", "not the tarball of version 25.11.9"),
    (("slurm", "version"), "24.11.6", "older than 25.11"),
    (("lustreClient", "version"), "2.16", "not an FSx for Lustre LTS version"),
    (("recipeVersion",), "1.0", "not <major>.<minor>.<patch>"),
    # An installer with a libfabric older than the plugin builds against: the plugin's release notes
    # require 1.22.0amzn4.0 or later.
    (
        ("compatibility", "efaInstallerShips", "1.41.0", "libfabric"),
        "1.21.0amzn1.0",
        "below aws-ofi-nccl 1.14.2's minimum 1.22.0amzn4.0",
    ),
    (("compatibility", "awsOfiNcclLibfabricMinimum"), {}, "has no minimum libfabric"),
]


@pytest.mark.parametrize(("path", "value", "problem"), MOVES, ids=[".".join(m[0]) + "=" + str(m[1]) for m in MOVES])
def test_one_version_moving_alone_is_refused(path: tuple[str, ...], value: Any, problem: str) -> None:
    with pytest.raises(ValueError, match="node image recipe is inconsistent") as caught:
        parse_recipe(_moved(path, value))
    assert problem in str(caught.value)


def test_versions_moving_together_are_accepted() -> None:
    """The plugin, its installer and an NCCL inside its range move as one: accepted."""
    data = _moved(("efaInstaller", "version"), "1.43.2")
    data["efaInstaller"]["tarball"] = "aws-efa-installer-1.43.2.tar.gz"
    data["nvidia"]["awsOfiNccl"]["version"] = "1.16.3"
    data["nvidia"]["nccl"]["version"] = "2.27.7-1"
    assert recipe_problems(parse_recipe(data)) == []


def test_a_version_without_a_source_is_refused() -> None:
    data = _moved(("nvidia", "driver", "source"), "release notes")
    with pytest.raises(ValueError, match="source"):
        parse_recipe(data)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("nvidia", "driver", "version"), "latest"),
        (("nvidia", "nccl", "version"), "2.26.*"),
        (("slurm", "version"), ">=25.11"),
    ],
)
def test_an_unpinned_version_is_refused(path: tuple[str, ...], value: str) -> None:
    with pytest.raises(ValueError, match="is not one pinned release"):
        parse_recipe(_moved(path, value))
