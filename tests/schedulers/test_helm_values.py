"""Pinned releases, and the sovereign rule: no chart or image reference outside the registry mirror."""

from __future__ import annotations

import yaml
from aifactory.schedulers.helm_values import helm_releases, mirror_image, mirror_release, outside_mirror
from aifactory.schedulers.kubernetes_manifests import kueue_configuration
from aifactory.spec.scheduler import ChartVersions

MIRROR = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/aifactory"


def releases() -> dict:
    return {r.name: r for r in helm_releases(ChartVersions(), kueue_configuration(), "eu-central-1")}


def test_versions_are_pinned_to_the_supported_lines() -> None:
    r = releases()
    assert r["kueue"].version.startswith("0.19.") and r["jobset"].version.startswith("0.12.")
    major, minor, patch = (int(x) for x in r["nvidia-device-plugin"].version.split("."))
    assert (major, minor, patch) >= (0, 19, 3)
    assert all(rel.version for rel in r.values())


def test_device_plugins_and_dcgm_fit_efa_gpu_nodes() -> None:
    r = releases()
    assert r["nvidia-device-plugin"].values["mofedEnabled"] is False
    for name in ("efa", "dcgm-exporter", "nvidia-device-plugin"):
        assert any(t["key"] == "nvidia.com/gpu" for t in r[name].values["tolerations"]), name
    assert r["dcgm-exporter"].values["serviceMonitor"]["enabled"] is False


def test_kueue_gets_the_factory_configuration() -> None:
    text = releases()["kueue"].values["managerConfig"]["controllerManagerConfigYaml"]
    assert yaml.safe_load(text) == kueue_configuration()


def test_commercial_releases_pull_from_public_registries() -> None:
    assert outside_mirror(releases()["nvidia-device-plugin"], MIRROR)


def test_sovereign_releases_reference_only_the_mirror() -> None:
    for release in releases().values():
        mirrored = mirror_release(release, MIRROR)
        assert outside_mirror(mirrored, MIRROR) == [], release.name
        assert mirrored.chart.startswith(f"oci://{MIRROR}/charts/") and mirrored.repository is None


def test_walker_finds_a_public_image_hidden_in_values() -> None:
    mirrored = mirror_release(releases()["efa"], MIRROR)
    leaky = type(mirrored)(
        **{
            **mirrored.__dict__,
            "values": {**mirrored.values, "sidecar": {"image": "docker.io/library/busybox:1"}},
        }
    )
    assert outside_mirror(leaky, MIRROR) == ["docker.io/library/busybox:1"]


def test_mirror_keeps_the_upstream_host_in_the_path() -> None:
    assert mirror_image("nvcr.io/nvidia/k8s-device-plugin", MIRROR) == f"{MIRROR}/nvcr.io/nvidia/k8s-device-plugin"
    assert mirror_image(f"{MIRROR}/x/y", MIRROR) == f"{MIRROR}/x/y"


def test_cilium_only_with_hybrid_nodes_and_only_on_them() -> None:
    from aifactory.schedulers.helm_values import HYBRID_COMPUTE_TYPE, helm_releases
    from aifactory.spec.scheduler import ChartVersions

    charts = ChartVersions()
    assert "cilium" not in {r.name for r in helm_releases(charts, {}, "us-east-1")}
    (cilium,) = [r for r in helm_releases(charts, {}, "us-east-1", ["192.168.64.0/18"]) if r.name == "cilium"]
    assert (cilium.chart, cilium.version, cilium.repository) == ("cilium", "1.16.6", "https://helm.cilium.io")
    values = cilium.values
    for affinity in (values["affinity"], values["operator"]["affinity"]):
        terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [HYBRID_COMPUTE_TYPE]}]
    assert values["ipam"] == {
        "mode": "cluster-pool",
        "operator": {"clusterPoolIPv4MaskSize": 25, "clusterPoolIPv4PodCIDRList": ["192.168.64.0/18"]},
    }
    assert values["kubeProxyReplacement"] is False


def test_cilium_comes_from_the_mirror_in_a_sovereign_stack() -> None:
    from aifactory.schedulers.helm_values import cilium_release, mirror_image, mirror_release, outside_mirror

    mirror = "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"
    release = mirror_release(cilium_release("1.16.6", ["10.244.0.0/16"]), mirror)
    assert release.chart == f"oci://{mirror}/charts/cilium" and release.repository is None
    assert release.values["image"]["repository"] == mirror_image("quay.io/cilium/cilium", mirror)
    assert release.values["operator"]["image"]["repository"] == mirror_image("quay.io/cilium/operator", mirror)
    assert release.values["image"]["repository"].startswith(mirror + "/")
    assert outside_mirror(release, mirror) == []


def _neuron(fleets: list) -> list:
    return [r for r in helm_releases(ChartVersions(), {}, "us-east-2", (), fleets) if r.name == "neuron-device-plugin"]


def test_neuron_device_plugin_only_with_neuron_fleets() -> None:
    from aifactory.schedulers.kubernetes_manifests import FleetCapacity

    assert _neuron([FleetCapacity("train", "p5.48xlarge", 2)]) == []
    assert _neuron([]) == []
    (release,) = _neuron([FleetCapacity("train", "p5.48xlarge", 2), FleetCapacity("trn", "trn2.48xlarge", 2)])
    # aws-neuron/neuron-helm-charts 1.9.0: the OCI chart in ECR Public, pinned.
    assert (release.chart, release.version, release.repository) == (
        "oci://public.ecr.aws/neuron/neuron-helm-chart",
        "1.9.0",
        None,
    )
    assert release.values["devicePlugin"]["enabled"] is True
    assert release.values["scheduler"] == {"enabled": False} and release.values["npd"] == {"enabled": False}
    assert release.images == {"devicePlugin.image.repository": "public.ecr.aws/neuron/neuron-device-plugin"}


def test_neuron_device_plugin_tolerates_every_taint_of_the_neuron_fleets() -> None:
    from aifactory.schedulers.kubernetes_manifests import FleetCapacity
    from aifactory.spec.model import Taint

    team = Taint(key="example.com/team", value="llm", effect="NoExecute")
    (release,) = _neuron(
        [FleetCapacity("a", "trn2.48xlarge", 2, taints=(team,)), FleetCapacity("b", "trn1.32xlarge", 2)]
    )
    tolerations = release.values["devicePlugin"]["tolerations"]
    assert tolerations == [
        {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "example.com/team", "operator": "Exists", "effect": "NoExecute"},
    ]
    # A pod with these tolerations lands on every Neuron node: each node taint is tolerated.
    for fleet in (FleetCapacity("a", "trn2.48xlarge", 2, taints=(team,)), FleetCapacity("b", "trn1.32xlarge", 2)):
        for taint in fleet.node_taints:
            assert any(t["key"] == taint.key and t["effect"] == taint.effect for t in tolerations), taint


def test_neuron_device_plugin_comes_from_the_mirror_in_a_sovereign_stack() -> None:
    from aifactory.schedulers.kubernetes_manifests import FleetCapacity

    (release,) = _neuron([FleetCapacity("trn", "trn2.48xlarge", 2)])
    assert outside_mirror(release, MIRROR) == [release.chart, "public.ecr.aws/neuron/neuron-device-plugin"]
    mirrored = mirror_release(release, MIRROR)
    assert outside_mirror(mirrored, MIRROR) == []
    assert mirrored.chart == f"oci://{MIRROR}/charts/neuron-helm-chart"
    assert mirrored.values["devicePlugin"]["image"]["repository"] == (
        f"{MIRROR}/public.ecr.aws/neuron/neuron-device-plugin"
    )
    assert mirrored.values["devicePlugin"]["tolerations"] == release.values["devicePlugin"]["tolerations"]


def test_node_daemonsets_name_the_addons_and_releases_the_factory_installs() -> None:
    from aifactory.schedulers.helm_values import RELEASE_DAEMONSETS, node_daemonsets
    from aifactory.schedulers.kubernetes import ADDONS
    from aifactory.schedulers.kubernetes_manifests import NEURON_VENDOR, FleetCapacity

    fleets = [FleetCapacity("train", "p5.48xlarge", 2), FleetCapacity("trn", "trn2.48xlarge", 2)]
    installed = {r.name for r in helm_releases(ChartVersions(), {}, "us-east-1", fleets=fleets)}
    for vendor in RELEASE_DAEMONSETS:
        names = node_daemonsets(vendor)
        assert len(names) == len(set(names))
        assert set(names) <= set(ADDONS) | installed
        assert "coredns" not in names and "kueue" not in names  # Deployments, on the system nodes
    assert "nvidia-device-plugin" in node_daemonsets("nvidia")
    assert "neuron-device-plugin" in node_daemonsets(NEURON_VENDOR)
