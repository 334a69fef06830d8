"""`aifactory:nodeImages`: config-path errors for builds the stack cannot run, and the image keys a
build or a boot of built images needs."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.catalog.node_image_recipe import node_image_recipe
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
    for key in ("node-slurm-nvidia", "node-slurm-head"):
        assert node_image_parameter(key) in errors[f"aifactory:images.{key}"]
        assert node_image_parameter(key).startswith(f"/aifactory/node-images/{node_image_recipe().recipe_version}/")
    assert "the Slurm head node" in errors["aifactory:images.node-slurm-head"]
    config["aifactory:images"] = {
        **config["aifactory:images"],
        "node-slurm-nvidia": fake_ami("built"),
        "node-slurm-head": fake_ami("head"),
    }
    spec = spec_from_config(config)
    needs = {n.key: n.used_by for n in required_images(spec)}
    assert "node-slurm-nvidia" in needs and "dlami-nvidia" not in needs
    assert needs["node-slurm-head"] == ("the Slurm head node",)
    # The Ubuntu image stays pinned: it is the parent every Slurm pipeline builds on, the head's too.
    assert "the head node image pipeline" in needs["slurm-head"]


def _built(**scheduler: Any) -> dict[str, Any]:
    config = _config({"build": True, "boot": True}, scheduler={**SLURM, **scheduler})
    config["aifactory:images"] = {
        **config["aifactory:images"],
        "node-slurm-nvidia": fake_ami("built"),
        "node-slurm-head": fake_ami("head"),
    }
    return config


def test_the_slurm_version_defaults_to_the_series_the_nodes_boot() -> None:
    spec = spec_from_config(_built())
    assert spec.scheduler is not None and spec.scheduler.version == "25.11"  # the recipe's 25.11.8
    spec = spec_from_config(_config({}, scheduler=SLURM))
    assert spec.scheduler is not None and spec.scheduler.version == "23.11"  # Ubuntu 24.04's
    # Built but not booted: the nodes still boot the Deep Learning AMI and install Ubuntu's Slurm.
    spec = spec_from_config(_config({"build": True}, scheduler=SLURM))
    assert spec.scheduler is not None and spec.scheduler.version == "23.11"


def test_a_version_the_boot_cannot_install_is_refused() -> None:
    errors = _paths(_config({}, scheduler={**SLURM, "version": "25.11"}))
    problem = errors["aifactory:scheduler.version"]
    assert "install Ubuntu 24.04's Slurm 23.11 at boot" in problem
    assert "`aifactory:nodeImages: {build: true, boot: true}`" in problem
    assert 'set it to "23.11"' in problem
    # With built images the same version is the one they run.
    spec = spec_from_config(_built(version="25.11"))
    assert spec.scheduler is not None and spec.scheduler.version == "25.11"


def test_without_egress_the_images_carry_any_release() -> None:
    config = _config({}, scheduler={**SLURM, "version": "24.11"})
    config["aifactory:network"] = {**config["aifactory:network"], "egress": "none"}
    spec = spec_from_config(config)
    assert spec.scheduler is not None and spec.scheduler.version == "24.11"


def test_without_node_images_the_required_images_are_unchanged() -> None:
    spec = spec_from_config(_config({}, scheduler=SLURM))
    assert {n.key for n in required_images(spec)} == {"dlami-nvidia", "slurm-head"}


def test_a_region_without_the_build_instance_type_is_warned(monkeypatch: pytest.MonkeyPatch) -> None:
    from aifactory.spec import node_images
    from aifactory.spec.loading import validate_config

    config = _config({"build": True}, scheduler=SLURM)
    assert validate_config(config)[1] == ()
    monkeypatch.setattr(node_images, "offered_in_region", lambda instance_type, region: False)
    nvidia, head = validate_config(config)[1]
    assert all(i.is_warning and i.path == "aifactory:nodeImages.build" for i in (nvidia, head))
    assert "g6.8xlarge" in nvidia.problem
    assert "the head image builds on m7i.2xlarge" in head.problem
