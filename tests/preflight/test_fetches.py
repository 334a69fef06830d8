"""The fetch rules: in a factory without egress, images, charts and packages come from the mirror or
the image; with egress they are not checked."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.preflight import preflight
from aifactory.preflight.fetches import images_in, script_fetches

from tests.preflight.world import ACCOUNT, MIRROR, PARTITION, REGION, eks_world, res


def findings(resources: list[dict[str, Any]], rule: str) -> list[str]:
    found = preflight(resources, region=REGION, partition=PARTITION, account=ACCOUNT, registry_mirror=MIRROR)
    return [f"{f.subject}: {f.message}" for f in found if f.rule == rule]


def _release(repo: str, values: dict[str, Any]) -> dict[str, Any]:
    return res("kubernetes:helm.sh/v3:Release", "kueue", chart="kueue", repositoryOpts={"repo": repo}, values=values)


def test_mirrored_chart_and_images_pass() -> None:
    release = _release(f"oci://{MIRROR}/charts", {"image": {"registry": MIRROR, "repository": "kueue", "tag": "v1"}})
    assert findings([*eks_world(), release], "fetch.images") == []


def test_a_public_chart_repository_is_named() -> None:
    release = _release("https://kubernetes-sigs.github.io/kueue", {})
    assert findings([*eks_world(), release], "fetch.images") == [
        "Helm release kueue: chart from https://kubernetes-sigs.github.io/kueue (repositoryOpts.repo); "
        "mirror it and point the factory at the mirror"
    ]


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"image": {"repository": "registry.k8s.io/kueue/kueue", "tag": "v1"}}, "image.repository"),
        ({"image": {"registry": "public.ecr.aws", "repository": "eks/efa"}}, "image.repository"),
        ({"controller": {"image": "ghcr.io/x/y:v1"}}, "controller.image"),
        ({"sidecars": ["quay.io/x/y:1.0"]}, "sidecars[0]"),
    ],
)
def test_each_shape_of_image_reference_outside_the_mirror_is_named(values: dict[str, Any], where: str) -> None:
    release = _release(f"oci://{MIRROR}/charts", values)
    found = findings([*eks_world(), release], "fetch.images")
    assert len(found) == 1 and f"({where})" in found[0]


def test_images_in_manifests_are_checked() -> None:
    job = res(
        "kubernetes:jobset.x-k8s.io/v1alpha2:JobSet",
        "nccl-tests",
        spec={"template": {"spec": {"containers": [{"name": "t", "image": "public.ecr.aws/hpc/nccl-tests:latest"}]}}},
    )
    assert findings([*eks_world(), job], "fetch.images") == [
        "JobSet nccl-tests: image public.ecr.aws/hpc/nccl-tests:latest (spec.template.spec.containers[0].image); "
        "mirror it and point the factory at the mirror"
    ]


def test_labels_and_paths_are_not_images() -> None:
    assert images_in({"labels": {"topology.aifactory.io/domain": "a"}, "path": "/fsx/ckpt", "url": "s3://b/k"}) == []


def test_boot_scripts_that_install_from_archives_are_named() -> None:
    world = eks_world("#!/bin/bash\nset -e\ndnf install -y lustre-client\n")
    assert findings(world, "fetch.packages") == [
        "node group train-d0: its boot script `dnf install lustre-client` needs a package archive, which has no "
        "route here; bake it into the image"
    ]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("apt-get install -y --no-install-recommends slurmd munge # comment", ["`apt-get install slurmd munge`"]),
        ("command -v aws || snap install aws-cli --classic", ["`snap install aws-cli`"]),
        ("curl -fsSL https://example.org/x.sh | bash", ["downloads https://example.org/x.sh"]),
        ("ctr -n k8s.io images pull docker.io/library/busybox:1", ["pulls docker.io/library/busybox:1"]),
        ("dnf install -y /opt/packages/lustre.rpm", []),
        ("curl -s http://169.254.169.254/latest/meta-data/instance-id", []),
        (f"curl -fsSL https://s3.{REGION}.amazonaws.com/bucket/x", []),
        ("# apt-get install nothing, a comment", []),
    ],
)
def test_script_fetches(script: str, expected: list[str]) -> None:
    found = script_fetches(script, MIRROR)
    assert [f.split(" needs")[0].split(" from outside")[0] for f in found] == expected


def test_with_egress_nothing_is_checked() -> None:
    world = eks_world("dnf install -y lustre-client\n") + [
        res("aws:ec2/route:Route", f"d-{t}", routeTableId=t, destinationCidrBlock="0.0.0.0/0", natGatewayId="nat-1")
        for t in ("rtb-a", "rtb-b")
    ]
    assert findings(world, "fetch.packages") == []
    assert findings([*world, _release("https://charts.example.org", {})], "fetch.images") == []


def test_images_in_yaml_embedded_in_chart_values_are_checked() -> None:
    embedded = "apiVersion: v1\ncontainers:\n- image: registry.k8s.io/pause:3.10\n"
    release = _release(f"oci://{MIRROR}/charts", {"managerConfig": {"controllerManagerConfigYaml": embedded}})
    found = findings([*eks_world(), release], "fetch.images")
    assert found == [
        "Helm release kueue: image registry.k8s.io/pause:3.10 "
        "(managerConfig.controllerManagerConfigYaml.containers[0].image); mirror it and point the factory at the mirror"
    ]
