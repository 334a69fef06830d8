"""`aifactory:nodeImages`: config-path errors for builds the stack cannot run, and the image keys a
build or a boot of built images needs."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.spec import ConfigError
from aifactory.spec.images import node_image_parameter, required_images
from aifactory.spec.loading import spec_from_config

from tests.stackfiles import base, fake_ami

SLURM = {"kind": "slurm", "partitions": [{"name": "train", "fleets": ["train"], "default": True}]}
EKS = {"kind": "kubernetes", "version": "1.35"}


def _config(
    node_images: dict[str, Any], *, sovereign: bool = False, scheduler: dict[str, Any] | None = None
) -> dict[str, Any]:
    config = base(sovereign)
    config["aifactory:nodeImages"] = node_images
    if scheduler is not None:
        config["aifactory:scheduler"] = scheduler
    return config


def _paths(config: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        spec_from_config(config)
    return {i.path: f"{i.problem}. Fix: {i.fix}" for i in caught.value.errors}


def test_a_commercial_build_with_egress_needs_no_bucket() -> None:
    spec = spec_from_config(_config({"build": True}, scheduler=SLURM))
    assert spec.node_images.build and spec.node_images.artifact_bucket is None


@pytest.mark.parametrize("sovereign", [True, False])
def test_an_offline_build_needs_an_in_region_bucket(sovereign: bool) -> None:
    config = _config({"build": True}, sovereign=sovereign, scheduler=SLURM)
    if not sovereign:
        config["aifactory:network"] = {**config["aifactory:network"], "egress": "none"}
    errors = _paths(config)
    assert "in-region sources only" in errors["aifactory:nodeImages.artifactBucket"]
    config["aifactory:nodeImages"]["artifactBucket"] = "factory-artifacts"
    assert spec_from_config(config).node_images.artifact_bucket == "factory-artifacts"


def test_boot_without_build_is_refused() -> None:
    errors = _paths(_config({"boot": True}, scheduler=SLURM))
    assert "no pipeline builds them" in errors["aifactory:nodeImages.boot"]


def test_a_build_without_a_scheduler_is_refused() -> None:
    assert "no scheduler" in _paths(_config({"build": True}))["aifactory:nodeImages.build"]


def test_a_bucket_name_outside_the_s3_rules_is_refused() -> None:
    errors = _paths(_config({"build": True, "artifactBucket": "Bad_Bucket"}, scheduler=SLURM))
    assert "aifactory:nodeImages.artifactBucket" in errors


def test_an_eks_build_needs_the_standard_parent_pinned() -> None:
    errors = _paths(_config({"build": True}, scheduler=EKS))
    assert "the nvidia node image pipeline" in errors["aifactory:images.eks-1.35-standard"]
    config = _config({"build": True}, scheduler=EKS)
    config["aifactory:images"] = {**config["aifactory:images"], "eks-1.35-standard": fake_ami("std")}
    spec_from_config(config)


def test_booting_built_slurm_images_needs_the_recipes_slurm_series() -> None:
    errors = _paths(_config({"build": True, "boot": True}, scheduler={**SLURM, "version": "23.11"}))
    assert "run Slurm 25.11.8" in errors["aifactory:scheduler.version"]
    assert 'version: "25.11"' in errors["aifactory:scheduler.version"]


def test_boot_needs_the_built_images_pinned_from_the_pipeline_parameter() -> None:
    config = _config({"build": True, "boot": True}, scheduler={**SLURM, "version": "25.11"})
    errors = _paths(config)
    problem = errors["aifactory:images.node-slurm-nvidia"]
    assert node_image_parameter("node-slurm-nvidia") in problem
    assert node_image_parameter("node-slurm-nvidia").startswith("/aifactory/node-images/1.0.0/")
    config["aifactory:images"] = {**config["aifactory:images"], "node-slurm-nvidia": fake_ami("built")}
    spec = spec_from_config(config)
    keys = {n.key for n in required_images(spec)}
    assert "node-slurm-nvidia" in keys and "dlami-nvidia" not in keys


def test_without_node_images_the_required_images_are_unchanged() -> None:
    spec = spec_from_config(_config({}, scheduler=SLURM))
    assert {n.key for n in required_images(spec)} == {"dlami-nvidia", "slurm-head"}


def test_a_region_without_the_build_instance_type_is_warned(monkeypatch: pytest.MonkeyPatch) -> None:
    from aifactory.spec import node_images
    from aifactory.spec.loading import validate_config

    config = _config({"build": True}, scheduler=SLURM)
    assert validate_config(config)[1] == ()
    monkeypatch.setattr(node_images, "offered_in_region", lambda instance_type, region: False)
    (issue,) = validate_config(config)[1]
    assert issue.is_warning and issue.path == "aifactory:nodeImages.build"
    assert "g6.8xlarge" in issue.problem
