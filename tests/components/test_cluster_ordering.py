"""The cluster side is created in an order the API server accepts: a custom object after the Helm release
that installs its CRD, a namespaced object after the Namespace the factory creates for it.

A custom object applied before its CRD is refused (`no matches for kind`); Pulumi creates a resource only
after everything in its `dependencies` (Pulumi docs, "Resource options: dependsOn"), so each one must name
the release whose chart ships the CRD. Checked on what the mock engine records for every example stack."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import pytest
from aifactory.cli.engine import PlannedResource
from aifactory.cli.planrun import plan_stack

from tests.stackfiles import EXAMPLE_STACKS

RELEASE = "kubernetes:helm.sh/v3:Release"
# API group -> the release whose chart installs its CRDs (each chart's crds/ or templates/crd/).
CRD_RELEASE = {
    "kueue.x-k8s.io": "kueue",
    "jobset.x-k8s.io": "jobset",
    "trainer.kubeflow.org": "kubeflow-trainer",
    "leaderworkerset.x-k8s.io": "lws",
    "argoproj.io": "argo-workflows",
    "monitoring.coreos.com": "kube-prometheus-stack",
}
CORE_GROUPS = ("core/", "apps/", "batch/", "rbac.authorization.k8s.io/", "policy/", "scheduling.k8s.io/")


@cache
def _resources(stack: str) -> tuple[PlannedResource, ...]:
    return tuple(plan_stack(stack).resources)


def _kubernetes_objects(stack: str) -> list[PlannedResource]:
    return [r for r in _resources(stack) if r.type.startswith("kubernetes:") and r.type != RELEASE and r.custom]


def _group(resource: PlannedResource) -> str:
    return resource.type.split(":")[1].split("/")[0]


@cache
def _by_urn(stack: str) -> dict[str, PlannedResource]:
    return {r.urn: r for r in _resources(stack)}


def _dependency_names(resource: PlannedResource, stack: str) -> dict[str, PlannedResource]:
    by_urn = _by_urn(stack)
    return {by_urn[u].name: by_urn[u] for u in resource.dependencies if u in by_urn}


def _before_their_crd(objects: list[PlannedResource], stack: str) -> list[str]:
    late = []
    for obj in objects:
        if any(obj.type.startswith(f"kubernetes:{g}") for g in CORE_GROUPS):
            continue
        group = _group(obj)
        assert group in CRD_RELEASE, f"{obj.type}: which release installs its CRD?"
        releases = {d.inputs.get("name") for d in _dependency_names(obj, stack).values() if d.type == RELEASE}
        if CRD_RELEASE[group] not in releases:
            late.append(f"{obj.name} ({obj.type}) does not wait for {CRD_RELEASE[group]}")
    return late


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_custom_object_waits_for_the_release_with_its_crd(stack: str) -> None:
    assert _before_their_crd(_kubernetes_objects(stack), stack) == []


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_namespaced_object_waits_for_its_namespace(stack: str) -> None:
    objects = _kubernetes_objects(stack)
    namespaces = {o.inputs["metadata"]["name"]: o.urn for o in objects if o.type == "kubernetes:core/v1:Namespace"}
    late = [
        f"{o.name} in {o.inputs['metadata']['namespace']}"
        for o in objects
        if (ns := o.inputs.get("metadata", {}).get("namespace")) in namespaces and namespaces[ns] not in o.dependencies
    ]
    assert not late


def test_an_object_without_its_release_is_caught() -> None:
    """The check fails on commercial-us with its LeaderWorkerSet registered without depending on anything."""
    stack = "commercial-us"
    objects = _kubernetes_objects(stack)
    broken = [replace(o, dependencies=()) if _group(o) == "leaderworkerset.x-k8s.io" else o for o in objects]
    assert _before_their_crd(broken, stack) == [
        "commercial-us-eks-leaderworkerset-product-chat-ft-serve "
        "(kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet) does not wait for lws"
    ]
