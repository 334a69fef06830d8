"""Every image and chart a sovereign stack pulls comes through its registry mirror: the Helm releases
and Kubernetes objects of the plan and the manifests `render` writes (the nccl-tests JobSet)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.cli.planrun import PlanResult, plan_stack
from aifactory.cli.render import kubernetes_files

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Public registries and chart hosts a factory could name; a string starting with one is a reference
# wherever it sits in chart values (including YAML embedded in a value).
PUBLIC = re.compile(
    r"^(oci://|https?://)?("
    r"public\.ecr\.aws|registry\.k8s\.io|k8s\.gcr\.io|gcr\.io|[a-z0-9-]+\.pkg\.dev|ghcr\.io|nvcr\.io|"
    r"helm\.ngc\.nvidia\.com|(registry-1\.)?docker\.io|quay\.io|[a-z0-9-]+\.github\.io|"
    r"[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com)(/|:|$)"
)


def _walk(value: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value


def _value_refs(values: Any) -> Iterator[str]:
    """Image references in chart values: `image`, `repository` (with `registry`) and any string that
    starts with a public registry or chart host."""
    if isinstance(values, dict):
        registry, repository = values.get("registry"), values.get("repository")
        split = isinstance(repository, str) and isinstance(registry, str) and bool(registry)
        if isinstance(repository, str):
            yield f"{registry}/{repository}" if split else repository
        if isinstance(values.get("image"), str):
            yield values["image"]
        for k, v in values.items():
            # A split image (Kubeflow Trainer's `image.registry` + `image.repository`) is one reference.
            if not (split and k in ("registry", "repository")):
                yield from _value_refs(v)
    elif isinstance(values, list):
        for v in values:
            yield from _value_refs(v)
    elif isinstance(values, str):
        if "\n" in values:
            yield from _value_refs(yaml.safe_load(values))
        elif PUBLIC.match(values):
            yield values


def references(result: PlanResult) -> dict[str, set[str]]:
    """Every chart and image of the plan and of the rendered manifests, by kind."""
    charts: set[str] = set()
    images: set[str] = set()
    for resource in result.resources:
        if resource.type == HELM_RELEASE:
            charts.add(resource.inputs["chart"])
            repo = (resource.inputs.get("repositoryOpts") or {}).get("repo")
            if repo:
                charts.add(repo)
            images.update(_value_refs(resource.inputs.get("values", {})))
        elif resource.type.startswith("kubernetes:"):
            images.update(v for k, v in _walk(resource.inputs) if k == "image" and isinstance(v, str))
    for name, text in kubernetes_files(result, result.placement).items():
        if name.endswith(".yaml") and "/helm/" not in name:
            for doc in yaml.safe_load_all(text):
                images.update(v for k, v in _walk(doc) if k == "image" and isinstance(v, str))
    return {"charts": charts, "images": images}


@pytest.fixture(scope="module")
def sovereign() -> PlanResult:
    return plan_stack("sovereign-eu")


def test_every_image_and_chart_of_the_sovereign_stack_is_under_its_mirror(sovereign: PlanResult) -> None:
    assert sovereign.spec.sovereignty is not None
    mirror = sovereign.spec.sovereignty.registry_mirror
    refs = references(sovereign)
    # The six releases and their images, and the nccl-tests image of the rendered JobSet.
    assert len(refs["charts"]) >= 6 and len(refs["images"]) >= 10
    outside = sorted(
        ref
        for kind in ("charts", "images")
        for ref in refs[kind]
        if not (ref.startswith(f"{mirror}/") or ref.startswith(f"oci://{mirror}/"))
    )
    assert outside == []
    assert any("/public.ecr.aws/hpc-cloud/nccl-tests:" in ref for ref in refs["images"])


def test_the_enumeration_sees_upstream_references_in_a_commercial_stack() -> None:
    # The same walk over a stack without a mirror finds the upstream registries, so it can fail.
    refs = references(plan_stack("commercial-us"))
    upstream = {ref for kind in refs.values() for ref in kind if PUBLIC.match(ref)}
    assert any(ref.startswith("public.ecr.aws/hpc-cloud/nccl-tests:") for ref in upstream)
    assert any(ref.startswith("oci://registry.k8s.io/") for ref in upstream)
    assert any(ref.startswith("https://nvidia.github.io/") for ref in upstream)
    assert any(ref.startswith("registry.k8s.io/kubectl:") for ref in upstream)


def test_a_sovereign_trainium_stack_pulls_the_neuron_plugin_and_nccom_test_through_its_mirror(
    tmp_path: Path,
) -> None:
    # sovereign-eu moved to us-east-2 (EC2 offers no trn2 in eu-north-1) with a Trainium2 fleet.
    example = (Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.sovereign-eu.yaml").read_text()
    config = yaml.safe_load(example.replace("eu-north-1", "us-east-2"))["config"]
    config["aifactory:fleets"] = [
        {
            "name": "trn",
            "instanceType": "trn2.48xlarge",
            "count": 4,
            "availabilityZone": "us-east-2a",
            "capacity": {"type": "capacity-reservation", "reservationId": "cr-07f6e5d4c3b2a1908"},
        }
    ]
    config["aifactory:network"]["availabilityZones"] = ["us-east-2a", "us-east-2b"]
    config["aifactory:storage"].pop("efaEnabled")  # trn2 is no FSx EFA client
    config["aifactory:scheduler"]["queues"] = [{"name": "lab", "namespace": "lab", "gpuQuota": 64}]
    # The example's production line trains with CUDA images on p5en; this stack is about the Neuron side.
    del config["aifactory:production"]
    config["aifactory:images"] = {
        "eks-1.35-neuron": "ami-0d2f4a6c8e0b13579",
        "eks-1.35-system-release": "1.35.0-20261118",
    }
    path = tmp_path / "Pulumi.sovereign-trn.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    result = plan_stack(str(path))
    mirror = config["aifactory:sovereignty"]["registryMirror"]
    refs = references(result)
    outside = sorted(r for kind in refs.values() for r in kind if not r.startswith((f"{mirror}/", f"oci://{mirror}/")))
    assert outside == []
    assert f"oci://{mirror}/charts/neuron-helm-chart" in refs["charts"]
    assert f"{mirror}/public.ecr.aws/neuron/neuron-device-plugin" in refs["images"]
    assert any(r.startswith(f"{mirror}/public.ecr.aws/neuron/pytorch-training-neuronx:") for r in refs["images"])
