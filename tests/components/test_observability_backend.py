"""sovereign-eu under the mocks: the in-cluster metrics backend registers from the mirror, before what needs
its CRDs, and every object it applies validates; a stack without `aifactory:observability` gets none of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from aifactory.cli.engine import PlannedResource
from aifactory.cli.planrun import PlanResult, plan_stack
from aifactory.schedulers.helm_values import DCGM_RELEASE
from aifactory.schedulers.observability_stack import KPS_RELEASE, KUEUE_RELEASE

from tests.crd_validation import validate_custom_resource

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "kubernetes:helm.sh/v3:Release"
MONITORING = "kubernetes:monitoring.coreos.com/v1:"
MIRROR = "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"


@pytest.fixture(scope="module")
def sovereign() -> PlanResult:
    return plan_stack(str(ROOT / "stacks" / "Pulumi.sovereign-eu.yaml"))


def _releases(result: PlanResult) -> dict[str, PlannedResource]:
    return {r.inputs["name"]: r for r in result.resources if r.type == RELEASE}


def test_backend_release_is_pinned_and_mirrored(sovereign: PlanResult) -> None:
    release = _releases(sovereign)[KPS_RELEASE]
    assert release.inputs["chart"] == f"oci://{MIRROR}/charts/kube-prometheus-stack"
    assert release.inputs["version"] == "81.4.5"
    assert release.inputs["namespace"] == "monitoring"


def test_the_tsdb_is_bounded_within_the_system_nodes_root_volume(sovereign: PlanResult) -> None:
    """Prometheus deletes old blocks at `retentionSize`, below its emptyDir's `sizeLimit`, which leaves most of
    the system node's root volume to the images and the controllers."""
    spec = _releases(sovereign)[KPS_RELEASE].inputs["values"]["prometheus"]["prometheusSpec"]
    limit_gib = int(spec["storageSpec"]["emptyDir"]["sizeLimit"].removesuffix("Gi"))
    retention_gib = int(spec["retentionSize"].removesuffix("GB"))  # Prometheus sizes are powers of two
    (template,) = [
        r
        for r in sovereign.resources
        if r.type == "aws:ec2/launchTemplate:LaunchTemplate" and r.name.endswith("-system")
    ]
    root_gib = template.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"]
    assert retention_gib < limit_gib <= root_gib // 2


def test_kueue_and_the_objects_wait_for_the_backends_crds(sovereign: PlanResult) -> None:
    releases = _releases(sovereign)
    backend = releases[KPS_RELEASE].urn
    assert backend in releases[KUEUE_RELEASE].dependencies
    monitoring = [r for r in sovereign.resources if r.type.startswith(MONITORING)]
    assert {r.inputs["kind"] for r in monitoring} == {"ServiceMonitor", "PrometheusRule"}
    for resource in monitoring:
        assert backend in resource.dependencies
        validate_custom_resource(resource.inputs)


def test_kueue_and_dcgm_export_what_the_rules_read(sovereign: PlanResult) -> None:
    releases = _releases(sovereign)
    assert releases[KUEUE_RELEASE].inputs["values"]["enablePrometheus"] is True
    assert (
        "enableClusterQueueResources: true"
        in (releases[KUEUE_RELEASE].inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    )
    assert releases[DCGM_RELEASE].inputs["values"]["arguments"][0] == "-f"


def test_a_stack_without_the_key_gets_no_backend() -> None:
    result = plan_stack(str(ROOT / "stacks" / "Pulumi.trn2-us.yaml"))
    assert KUEUE_RELEASE in _releases(result) and KPS_RELEASE not in _releases(result)
    assert not [r for r in result.resources if r.type.startswith(MONITORING)]
