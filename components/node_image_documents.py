"""The AWSTOE component document of one node image build, rendered from the recipe table.

One document per build (`planning/node_images.ImageBuild`): a `build` phase that fetches the recipe's
artifacts (WebDownload from the vendors with egress; S3Download from the stack's artifact bucket
otherwise), checks their checksums and installs every pinned version, and a `validate` phase that
checks the installed versions against the recipe. Document shape: Image Builder user guide, "Use
component documents to build a component" (schemaVersion 1.0, phases of named steps with an action
and inputs) and "Action modules supported by AWSTOE" (ExecuteBash, WebDownload, S3Download).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from .catalog.node_image_recipe import NodeImageRecipe, node_image_recipe
from .planning.node_images import ImageBuild
from .rendering import render
from .schedulers.slurm import (
    ACCOUNTING_BINARIES,
    HEAD_BINARIES,
    HEAD_IMAGE_PACKAGES,
    NODE_BINARIES,
    POWER_BINARIES,
)
from .schedulers.slurm_config import SLURM_PREFIX, SLURM_UID, SlurmRuntime

SCHEMA_VERSION = "1.0"
WORK_DIR = "/var/tmp/aifactory"
ACTIONS = frozenset({"ExecuteBash", "WebDownload", "S3Download"})
"""The AWSTOE action modules the documents use."""
PHASES = ("build", "validate")
MAX_DOCUMENT_CHARS = 16000
"""Image Builder API reference, CreateComponent: `data` is at most 16,000 characters."""


@dataclass(frozen=True)
class Artifact:
    file: str
    sha256: str
    upstream: str
    """The vendor's URL of the file, used only with internet egress."""


def artifacts(build: ImageBuild, recipe: NodeImageRecipe) -> tuple[Artifact, ...]:
    efa = recipe.efa_installer
    # The head has no EFA: its image takes the Slurm tarball only.
    found = [] if build.head else [Artifact(efa.tarball, efa.sha256, f"{recipe.upstream.efa_installer}/{efa.tarball}")]
    if build.scheduler == "slurm":
        slurm = recipe.slurm
        found.append(Artifact(slurm.tarball, slurm.sha256, f"{recipe.upstream.slurm}/{slurm.tarball}"))
    return tuple(found)


def _bash(name: str, template: str, **context: object) -> dict[str, Any]:
    script = render(f"node_images/{template}.sh.j2", **context)
    return {"name": name, "action": "ExecuteBash", "inputs": {"commands": [script]}}


def _download(build: ImageBuild, files: tuple[Artifact, ...]) -> dict[str, Any]:
    if build.in_region_only:
        base = f"s3://{build.artifact_bucket}/{build.artifact_prefix}"
        inputs: list[dict[str, Any]] = [
            {"source": f"{base}/{a.file}", "destination": f"{WORK_DIR}/{a.file}"} for a in files
        ]
        # The staged package repository of the build's OS and family (AWSTOE S3Download: a key prefix
        # ending in `*` downloads every object under it into the destination folder).
        inputs.append(
            {"source": f"{base}/repository/{build.base_os}/{build.family}/*", "destination": f"{WORK_DIR}/repository/"}
        )
        return {"name": "FetchArtifacts", "action": "S3Download", "inputs": inputs}
    return {
        "name": "FetchArtifacts",
        "action": "WebDownload",
        "inputs": [
            {"source": a.upstream, "destination": f"{WORK_DIR}/{a.file}", "checksum": a.sha256, "algorithm": "SHA256"}
            for a in files
        ],
    }


def component_document(build: ImageBuild, recipe: NodeImageRecipe | None = None) -> dict[str, Any]:
    """The AWSTOE document of `build` as data."""
    recipe = recipe or node_image_recipe()
    files = artifacts(build, recipe)
    upstream = recipe.upstream
    context: dict[str, object] = {
        "build": build,
        "recipe": recipe,
        "work": WORK_DIR,
        "cuda_repository": upstream.cuda_repository[build.base_os],
        "neuron_repository": upstream.neuron_repository[build.base_os],
        "lustre_repository": upstream.lustre_repository,
        "lustre_repository_key": upstream.lustre_repository_key,
        "libfabric": recipe.compatibility.efa_installer_ships[recipe.efa_installer.version].libfabric,
        "slurm_prefix": SLURM_PREFIX,
        "slurm_uid": SLURM_UID,
        "slurm_run_dir": SlurmRuntime().run_dir,
        "slurm_units": ("slurmctld.service", "slurmdbd.service") if build.head else ("slurmd.service",),
        "head_packages": HEAD_IMAGE_PACKAGES,
        "head_binaries": tuple(dict.fromkeys(HEAD_BINARIES + ACCOUNTING_BINARIES + POWER_BINARIES)),
        "node_binaries": NODE_BINARIES,
    }
    steps = [
        _download(build, files),
        _bash("VerifyArtifacts", "verify_artifacts", artifacts=files, **context),
        _bash("ConfigureRepositories", "configure_repositories", **context),
    ]
    if build.head:
        steps.append(_bash("InstallHeadPackages", "install_head", **context))
    else:
        steps += [
            _bash("InstallAccelerator", "install_accelerator", **context),
            _bash("InstallEfa", "install_efa", **context),
            _bash("InstallLustreClient", "install_lustre", **context),
        ]
    if build.scheduler == "slurm":
        steps.append(_bash("BuildSlurm", "build_slurm", **context))
    return {
        "name": f"aifactory-{build.key}",
        "description": f"aifactory node image {build.key}, recipe {build.recipe_version}",
        "schemaVersion": SCHEMA_VERSION,
        "phases": [
            {"name": "build", "steps": steps},
            {"name": "validate", "steps": [_bash("CheckVersions", "check_versions", **context)]},
        ],
    }


def document_yaml(document: dict[str, Any]) -> str:
    """The document as Image Builder's `data` takes it (YAML; scripts as literal blocks)."""
    text = yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=120)
    if len(text) > MAX_DOCUMENT_CHARS:
        raise ValueError(f"component document {document['name']} is {len(text)} characters, over {MAX_DOCUMENT_CHARS}")
    return text


class _LiteralDumper(yaml.SafeDumper):
    pass


def _literal_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _literal_str)
