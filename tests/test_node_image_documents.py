"""AWSTOE documents of the node image builds: golden per (family x scheduler x source), the shape the
AWSTOE action modules take, every script through `bash -n` and shellcheck, and no URL outside the
stack's own bucket when the build is in-region only."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from aifactory.catalog.node_image_recipe import node_image_recipe
from aifactory.node_image_documents import ACTIONS, MAX_DOCUMENT_CHARS, PHASES, component_document, document_yaml
from aifactory.planning.node_images import ImageBuild

from tests.golden import check_text
from tests.validators import shellcheck

GOLDEN = Path(__file__).parent / "golden" / "node_images"
BUCKET = "factory-artifacts-eu-north-1"
CASES = [
    *itertools.product(("nvidia", "neuron"), ("kubernetes", "slurm"), (True, False)),
    # The Slurm head's own build: no accelerator, no EFA, slurmctld and slurmdbd.
    ("head", "slurm", True),
    ("head", "slurm", False),
]
IDS = [f"{f}-{s}-{'in-region' if r else 'upstream'}" for f, s, r in CASES]

# AWSTOE document shape (Image Builder user guide, "Use component documents", and "Action modules
# supported by AWSTOE": ExecuteBash `commands`, WebDownload source/destination/checksum/algorithm,
# S3Download source/destination). Unknown keys are errors, as AWSTOE's validation treats them.
_STEP_NAME = {"type": "string", "pattern": "^[A-Za-z0-9]+$"}
_DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "schemaVersion", "phases"],
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "schemaVersion": {"const": "1.0"},
        "phases": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "steps"],
                "properties": {
                    "name": {"enum": ["build", "validate", "test"]},
                    "steps": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["name", "action", "inputs"],
                                    "properties": {
                                        "name": _STEP_NAME,
                                        "action": {"const": "ExecuteBash"},
                                        "inputs": {
                                            "type": "object",
                                            "additionalProperties": False,
                                            "required": ["commands"],
                                            "properties": {"commands": {"type": "array", "items": {"type": "string"}}},
                                        },
                                    },
                                },
                                {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["name", "action", "inputs"],
                                    "properties": {
                                        "name": _STEP_NAME,
                                        "action": {"const": "WebDownload"},
                                        "inputs": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "additionalProperties": False,
                                                "required": ["source", "destination", "checksum", "algorithm"],
                                                "properties": {
                                                    "source": {"type": "string", "pattern": "^https://"},
                                                    "destination": {"type": "string", "pattern": "^/"},
                                                    "checksum": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                                    "algorithm": {"const": "SHA256"},
                                                },
                                            },
                                        },
                                    },
                                },
                                {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["name", "action", "inputs"],
                                    "properties": {
                                        "name": _STEP_NAME,
                                        "action": {"const": "S3Download"},
                                        "inputs": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "additionalProperties": False,
                                                "required": ["source", "destination"],
                                                "properties": {
                                                    "source": {"type": "string", "pattern": "^s3://"},
                                                    "destination": {"type": "string", "pattern": "^/"},
                                                },
                                            },
                                        },
                                    },
                                },
                            ]
                        },
                    },
                },
            },
        },
    },
}


def build_of(family: str, scheduler: str, in_region: bool) -> ImageBuild:
    key = f"node-{'eks-1.35' if scheduler == 'kubernetes' else 'slurm'}-{family}"
    return ImageBuild(
        key=key,
        family=family,  # type: ignore[arg-type]
        scheduler=scheduler,  # type: ignore[arg-type]
        base_os="al2023" if scheduler == "kubernetes" else "ubuntu2404",
        parent_key="eks-1.35-standard" if scheduler == "kubernetes" else "slurm-head",
        parent_image="ami-0123456789abcdef0",
        parameter=f"/aifactory/node-images/{node_image_recipe().recipe_version}/{key}",
        build_instance_type="m7i.2xlarge" if family == "head" else "g6.8xlarge",
        artifact_bucket=BUCKET if in_region else None,
        recipe_version=node_image_recipe().recipe_version,
    )


def scripts(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (step["name"], command)
        for phase in document["phases"]
        for step in phase["steps"]
        if step["action"] == "ExecuteBash"
        for command in step["inputs"]["commands"]
    ]


def urls(document: dict[str, Any]) -> list[str]:
    """Every URL the document names: download sources, and any `scheme://` in its scripts."""
    found = [
        str(i["source"])
        for phase in document["phases"]
        for step in phase["steps"]
        if step["action"] != "ExecuteBash"
        for i in step["inputs"]
    ]
    for _, script in scripts(document):
        found += re.findall(r"[a-z][a-z0-9+.-]*://[^\s'\"]*", script)
    return found


@pytest.mark.parametrize(("family", "scheduler", "in_region"), CASES, ids=IDS)
def test_golden(family: str, scheduler: str, in_region: bool) -> None:
    build = build_of(family, scheduler, in_region)
    name = f"{build.key}-{'in-region' if in_region else 'upstream'}.yaml"
    check_text(GOLDEN / name, document_yaml(component_document(build)), __file__)


@pytest.mark.parametrize(("family", "scheduler", "in_region"), CASES, ids=IDS)
def test_the_document_has_the_awstoe_shape(family: str, scheduler: str, in_region: bool) -> None:
    document = yaml.safe_load(document_yaml(component_document(build_of(family, scheduler, in_region))))
    jsonschema.validate(document, _DOCUMENT_SCHEMA)
    assert [p["name"] for p in document["phases"]] == list(PHASES)
    actions = {s["action"] for p in document["phases"] for s in p["steps"]}
    assert actions <= ACTIONS
    assert ("BuildSlurm" in {s["name"] for s in document["phases"][0]["steps"]}) == (scheduler == "slurm")


def test_the_shape_check_refuses_a_download_without_checksum() -> None:
    document = component_document(build_of("nvidia", "slurm", False))
    del document["phases"][0]["steps"][0]["inputs"][0]["checksum"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, _DOCUMENT_SCHEMA)


@pytest.mark.parametrize(("family", "scheduler", "in_region"), CASES, ids=IDS)
def test_every_script_parses_and_passes_shellcheck(family: str, scheduler: str, in_region: bool) -> None:
    for name, script in scripts(component_document(build_of(family, scheduler, in_region))):
        text = "#!/bin/bash\n" + script
        parsed = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, check=False)
        assert parsed.returncode == 0, f"{name}: {parsed.stderr}"
        assert shellcheck(text) == [], name


@pytest.mark.parametrize(
    ("family", "scheduler"), [*itertools.product(("nvidia", "neuron"), ("kubernetes", "slurm")), ("head", "slurm")]
)
def test_an_in_region_build_names_no_url_outside_its_bucket(family: str, scheduler: str) -> None:
    found = urls(component_document(build_of(family, scheduler, True)))
    assert found, "the scan must see the downloads"
    outside = [u for u in found if not (u.startswith(f"s3://{BUCKET}/") or u.startswith("file://"))]
    assert outside == []


def test_the_url_scan_sees_the_upstream_sources_of_an_egress_build() -> None:
    """The scan is not blind: the same build with egress names the vendors' hosts."""
    recipe = node_image_recipe()
    found = urls(component_document(build_of("nvidia", "slurm", False)))
    assert f"{recipe.upstream.slurm}/{recipe.slurm.tarball}" in found
    assert any(u.startswith(recipe.upstream.cuda_repository["ubuntu2404"]) for u in found)


def test_the_documents_carry_the_recipe_versions() -> None:
    recipe = node_image_recipe()
    text = document_yaml(component_document(build_of("nvidia", "slurm", True)))
    for pinned in (recipe.nvidia.driver.version, recipe.nvidia.nccl.version, recipe.slurm.sha256, recipe.slurm.version):
        assert pinned in text


def test_a_document_over_image_builders_limit_is_refused() -> None:
    document = component_document(build_of("nvidia", "slurm", False))
    assert len(document_yaml(document)) <= MAX_DOCUMENT_CHARS
    document["description"] = "x" * MAX_DOCUMENT_CHARS
    with pytest.raises(ValueError, match="over 16000"):
        document_yaml(document)


def test_the_head_image_builds_the_same_slurm_with_its_daemons_and_no_accelerator() -> None:
    recipe = node_image_recipe()
    head = component_document(build_of("head", "slurm", False))
    node = component_document(build_of("nvidia", "slurm", False))
    steps = [s["name"] for s in head["phases"][0]["steps"]]
    assert steps == ["FetchArtifacts", "VerifyArtifacts", "ConfigureRepositories", "InstallHeadPackages", "BuildSlurm"]
    # One tarball, the nodes' very one (same file, same checksum).
    [download] = head["phases"][0]["steps"][0]["inputs"]
    assert (download["checksum"], download["source"]) == (
        recipe.slurm.sha256,
        f"{recipe.upstream.slurm}/{recipe.slurm.tarball}",
    )
    assert download in node["phases"][0]["steps"][0]["inputs"]
    text = dict(scripts(head))
    build = text["BuildSlurm"]
    # slurmdbd's MySQL plugin needs the client library; no NVML without a GPU.
    assert "libmariadb-dev" in build and "--with-nvml" not in build
    assert "--prefix='/usr' --sysconfdir=/etc/slurm" in build
    assert "install -m 0644 'etc/slurmctld.service'" in build and "'etc/slurmdbd.service'" in build
    assert "etc/slurmd.service" in dict(scripts(node))["BuildSlurm"]
    assert (
        "useradd --system --uid '401'" in build and "useradd --system --uid '401'" in dict(scripts(node))["BuildSlurm"]
    )
    check = text["CheckVersions"]
    assert f"[ \"$(slurmctld -V)\" = 'slurm {recipe.slurm.version}' ]" in check
    assert f"[ \"$(slurmdbd -V)\" = 'slurm {recipe.slurm.version}' ]" in check
    assert "nvidia-smi" not in check and "fi_info" not in check and "lfs " not in check
    assert "snap install aws-cli --classic" in text["InstallHeadPackages"]
