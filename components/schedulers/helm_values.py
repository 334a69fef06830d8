"""Pinned Helm releases of the cluster software, and their values (pure: no Pulumi).

Chart locations, versions and value keys are from the charts themselves:
- Kueue: `oci://registry.k8s.io/kueue/charts/kueue`, kubernetes-sigs/kueue charts/kueue @v0.19.2;
- JobSet: `oci://registry.k8s.io/jobset/charts/jobset`, kubernetes-sigs/jobset charts/jobset @v0.12.0;
- NVIDIA device plugin: NVIDIA/k8s-device-plugin deployments/helm/nvidia-device-plugin (>= 0.19.3:
  0.19.0-0.19.2 turned MOFED on by default, mounting every /dev/infiniband/uverbs* into GPU pods and
  clashing with the EFA device plugin; CHANGELOG.md @v0.20.0);
- EFA device plugin: aws/eks-charts stable/aws-efa-k8s-device-plugin (chart v0.5.30, plugin
  v0.5.20; plugin >= v0.5.10 stops counting p6-b200's two NVLink `ibp*` devices as EFA,
  aws/sagemaker-hyperpod-cli PR #282);
- FSx CSI driver: kubernetes-sigs/aws-fsx-csi-driver charts/aws-fsx-csi-driver @1.17.0;
- DCGM exporter: NVIDIA/dcgm-exporter deployment/ @4.8.2;
- Cilium (hybrid nodes only): `cilium` in https://helm.cilium.io, values from the EKS user guide,
  "Configure a CNI for hybrid nodes".
- Neuron device plugin (Neuron fleets only): `oci://public.ecr.aws/neuron/neuron-helm-chart`,
  aws-neuron/neuron-helm-charts charts/neuron-helm-chart @1.9.0 (values.yaml, README.md).

In a sovereign factory `mirror_release` rewrites every chart and image to the registry mirror.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from ..spec.scheduler import ChartVersions
from .kubernetes_manifests import ACCELERATOR_TAINT, NEURON_VENDOR, REGISTRY_HOST, FleetCapacity, mirror_image

GPU_TOLERATIONS = [
    {"key": ACCELERATOR_TAINT["nvidia"].key, "operator": "Exists", "effect": "NoSchedule"},
    {"key": ACCELERATOR_TAINT[NEURON_VENDOR].key, "operator": "Exists", "effect": "NoSchedule"},
]
# Controllers run on the small system node group (no accelerators, no taint), selected by this label.
SYSTEM_NODE_LABEL = {"aifactory.io/node-role": "system"}
FSX_CONTROLLER_SERVICE_ACCOUNT = "fsx-csi-controller-sa"
DCGM_RELEASE = "dcgm-exporter"
DCGM_NAMESPACE = "kube-system"
DCGM_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}
"""Where the exporter runs: the label the factory puts on its NVIDIA node groups (`kubernetes.node_group`)."""
DCGM_METRICS_PORT = 9400
"""The exporter's metrics port, the chart Service's `metrics` port (NVIDIA/dcgm-exporter
deployment/templates/service.yaml)."""

# What runs on every GPU node besides its training pods, for its maxPods: the DaemonSets of the managed
# add-ons (aws-node, kube-proxy, the Pod Identity agent, the node monitoring agent; `kubernetes.ADDONS`
# without CoreDNS, a Deployment) and of the releases here that schedule onto accelerator nodes (the
# FSx CSI node plugin, the device plugins, the DCGM exporter). Counted whether or not a pod uses
# host networking: kubelet's maxPods counts every pod.
ADDON_DAEMONSETS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "eks-node-monitoring-agent")
RELEASE_DAEMONSETS = {
    "nvidia": ("nvidia-device-plugin", "efa", "aws-fsx-csi-driver", "dcgm-exporter"),
    NEURON_VENDOR: ("neuron-device-plugin", "efa", "aws-fsx-csi-driver"),
}


def node_daemonsets(vendor: str) -> tuple[str, ...]:
    """The add-ons and releases with a pod on each node of an accelerator `vendor`."""
    return ADDON_DAEMONSETS + RELEASE_DAEMONSETS[vendor]


@dataclass(frozen=True)
class HelmRelease:
    """One chart release: `chart` is `oci://…/name` or a name in `repository` (an HTTP chart repo)."""

    name: str
    namespace: str
    chart: str
    version: str
    repository: str | None
    values: Mapping[str, Any]
    # dotted value paths of every image repository the chart pulls, with the upstream default
    images: Mapping[str, str]
    # dotted paths of image values a chart splits into `<path>.registry` and `<path>.repository`
    # (Kubeflow Trainer's `image`), with the upstream `host/repository`
    split_images: Mapping[str, str] = field(default_factory=dict)


def _set(values: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = values
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


HYBRID_COMPUTE_TYPE = {"key": "eks.amazonaws.com/compute-type", "operator": "In", "values": ["hybrid"]}
"""EKS labels every hybrid node `eks.amazonaws.com/compute-type: hybrid`; the VPC CNI (aws-node) carries an
anti-affinity to it by default, so it never runs there (EKS user guide, "Configure a CNI for hybrid nodes")."""
HYBRID_AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [HYBRID_COMPUTE_TYPE]}]
        }
    }
}
CILIUM_POD_MASK = 25
"""Per-node pod block of Cilium's cluster pool: a /25, 128 pod addresses (more than kubelet's 110 pods)."""


def cilium_release(version: str, remote_pod_cidrs: Sequence[str]) -> HelmRelease:
    """Cilium on the hybrid nodes only, as the EKS user guide configures it ("Configure a CNI for hybrid
    nodes"): agent and operator with affinity to hybrid nodes, cluster-pool IPAM over the cluster's remote
    pod networks (which must not change once deployed), VXLAN overlay by default, no Envoy, and no
    kube-proxy replacement (the kube-proxy add-on keeps serving Services)."""
    return HelmRelease(
        "cilium",
        "kube-system",
        "cilium",
        version,
        "https://helm.cilium.io",
        {
            "affinity": HYBRID_AFFINITY,
            "ipam": {
                "mode": "cluster-pool",
                "operator": {
                    "clusterPoolIPv4MaskSize": CILIUM_POD_MASK,
                    "clusterPoolIPv4PodCIDRList": list(remote_pod_cidrs),
                },
            },
            "loadBalancer": {"serviceTopology": True},
            "operator": {"affinity": HYBRID_AFFINITY, "unmanagedPodWatcher": {"restart": False}},
            "envoy": {"enabled": False},
            "kubeProxyReplacement": False,
        },
        {"image.repository": "quay.io/cilium/cilium", "operator.image.repository": "quay.io/cilium/operator"},
    )


NEURON_CHART = "oci://public.ecr.aws/neuron/neuron-helm-chart"


def neuron_release(version: str, fleets: Sequence[FleetCapacity]) -> HelmRelease:
    """The Neuron device plugin for the Neuron `fleets`, from AWS's Neuron Helm chart.

    The plugin advertises `aws.amazon.com/neuron` (whole devices, what the Kueue quotas count) and
    `aws.amazon.com/neuroncore` (Neuron docs containers/tutorials/k8s-neuron-device-plugin). The chart's
    default affinity already selects the Neuron instance types (its `neuronInstances` list has trn1,
    trn1n and trn2) and keeps off hybrid, Fargate and Auto Mode nodes, so it stays; its tolerations are
    replaced by the fleets' own taints, every key tolerated whatever its value. Off:
    - the scheduler extension: it picks connected devices for pods that take part of a node (Neuron docs
      deploy/infrastructure/scheduler: "optional and primarily beneficial for workloads that require
      specific subsets of Neuron devices or cores"); the fabric test takes whole nodes, and on EKS the
      extension runs only as a second kube-scheduler that pods must name in `schedulerName` (Neuron docs
      containers/tutorials/k8s-multiple-scheduler: EKS does not support it in the default scheduler);
    - the node problem detector, on by default: its Neuron health conditions act only with the recovery
      agent, which needs its own IAM permissions (chart README); AWS's device plugin install sets it off
      too (`--set "npd.enabled=false"`, Neuron docs containers/tutorials/k8s-neuron-device-plugin).
    """
    tolerations: dict[tuple[str, str], dict[str, str]] = {}
    for fleet in fleets:
        for taint in fleet.node_taints:
            tolerations[(taint.key, taint.effect)] = {"key": taint.key, "operator": "Exists", "effect": taint.effect}
    return HelmRelease(
        "neuron-device-plugin",
        "kube-system",
        NEURON_CHART,
        version,
        None,
        {
            "devicePlugin": {"enabled": True, "tolerations": list(tolerations.values())},
            "scheduler": {"enabled": False},
            "npd": {"enabled": False},
        },
        {"devicePlugin.image.repository": "public.ecr.aws/neuron/neuron-device-plugin"},
    )


def helm_releases(
    charts: ChartVersions,
    kueue_config: Mapping[str, Any],
    region: str,
    remote_pod_cidrs: Sequence[str] = (),
    fleets: Sequence[FleetCapacity] = (),
) -> list[HelmRelease]:
    """The releases every Kubernetes factory runs, pinned to `charts`, with Cilium for hybrid nodes and
    the Neuron device plugin for Neuron fleets."""
    hybrid = [cilium_release(charts.cilium, remote_pod_cidrs)] if remote_pod_cidrs else []
    neuron_fleets = [f for f in fleets if f.vendor == NEURON_VENDOR]
    neuron = [neuron_release(charts.neuron_helm_chart, neuron_fleets)] if neuron_fleets else []
    return [*_common_releases(charts, kueue_config, region), *hybrid, *neuron]


def _common_releases(charts: ChartVersions, kueue_config: Mapping[str, Any], region: str) -> list[HelmRelease]:
    kueue_tag = f"v{charts.kueue}"
    return [
        HelmRelease(
            "kueue",
            "kueue-system",
            "oci://registry.k8s.io/kueue/charts/kueue",
            charts.kueue,
            None,
            {
                "managerConfig": {"controllerManagerConfigYaml": yaml.safe_dump(dict(kueue_config), sort_keys=False)},
                "controllerManager": {
                    "manager": {"image": {"tag": kueue_tag, "pullPolicy": "IfNotPresent"}},
                    "nodeSelector": SYSTEM_NODE_LABEL,
                    "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
                    "replicas": 2,
                },
            },
            {"controllerManager.manager.image.repository": "registry.k8s.io/kueue/kueue"},
        ),
        HelmRelease(
            "jobset",
            "jobset-system",
            "oci://registry.k8s.io/jobset/charts/jobset",
            charts.jobset,
            None,
            {"controller": {"nodeSelector": SYSTEM_NODE_LABEL}},
            {"image.repository": "registry.k8s.io/jobset/jobset"},
        ),
        HelmRelease(
            "nvidia-device-plugin",
            "kube-system",
            "nvidia-device-plugin",
            charts.nvidia_device_plugin,
            "https://nvidia.github.io/k8s-device-plugin",
            {
                # EFA devices belong to the EFA device plugin: keep MOFED off explicitly.
                "mofedEnabled": False,
                "failOnInitError": True,
                # nodeadm labels nvidia.com/gpu.present only from kubelet 1.35; the fleets' node
                # groups set it themselves, so the chart's default affinity matches on any version.
                "tolerations": GPU_TOLERATIONS,
            },
            {"image.repository": "nvcr.io/nvidia/k8s-device-plugin"},
        ),
        HelmRelease(
            "efa",
            "kube-system",
            "aws-efa-k8s-device-plugin",
            charts.efa_device_plugin,
            "https://aws.github.io/eks-charts",
            {"tolerations": GPU_TOLERATIONS},
            # The chart's default image is EKS's registry in us-west-2 (values.yaml).
            {"image.repository": ("602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/aws-efa-k8s-device-plugin")},
        ),
        HelmRelease(
            "aws-fsx-csi-driver",
            "kube-system",
            "aws-fsx-csi-driver",
            charts.fsx_csi_driver,
            "https://kubernetes-sigs.github.io/aws-fsx-csi-driver",
            {
                "controller": {
                    "region": region,
                    "nodeSelector": SYSTEM_NODE_LABEL,
                    "serviceAccount": {"create": True, "name": FSX_CONTROLLER_SERVICE_ACCOUNT},
                },
                "node": {"tolerateAllTaints": True},
            },
            {
                "image.repository": "public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver",
                "sidecars.livenessProbe.image.repository": "public.ecr.aws/csi-components/livenessprobe",
                "sidecars.nodeDriverRegistrar.image.repository": (
                    "public.ecr.aws/csi-components/csi-node-driver-registrar"
                ),
                "sidecars.provisioner.image.repository": "public.ecr.aws/csi-components/csi-provisioner",
                "sidecars.resizer.image.repository": "public.ecr.aws/csi-components/csi-resizer",
            },
        ),
        HelmRelease(
            DCGM_RELEASE,
            DCGM_NAMESPACE,
            "dcgm-exporter",
            charts.dcgm_exporter,
            "https://nvidia.github.io/dcgm-exporter/helm-charts",
            {
                # On by default in the chart; needs the Prometheus Operator's CRDs, which the
                # factory does not install.
                "serviceMonitor": {"enabled": False},
                "tolerations": GPU_TOLERATIONS,
                "nodeSelector": DCGM_NODE_SELECTOR,
                "kubeletPath": "/var/lib/kubelet/pod-resources",
            },
            {"image.repository": "nvcr.io/nvidia/k8s/dcgm-exporter"},
        ),
    ]


_HOST = REGISTRY_HOST
_URL = re.compile(r"^https?://(?P<host>[^/]+)(?P<path>/.*)?$")


def mirror_release(release: HelmRelease, mirror: str) -> HelmRelease:
    """The same release with its chart from `oci://<mirror>/charts/<name>` and every image from the mirror."""
    chart_name = release.chart.rsplit("/", 1)[-1]
    values = _deep_copy(release.values)
    for dotted, upstream in release.images.items():
        _set(values, dotted, mirror_image(upstream, mirror))
    images = {dotted: mirror_image(upstream, mirror) for dotted, upstream in release.images.items()}
    split = {}
    for dotted, upstream in release.split_images.items():
        _set(values, f"{dotted}.registry", mirror)
        _set(values, f"{dotted}.repository", upstream)
        split[dotted] = mirror_image(upstream, mirror)
    return replace(
        release,
        chart=f"oci://{mirror}/charts/{chart_name}",
        repository=None,
        values=values,
        images=images,
        split_images=split,
    )


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def registry_references(release: HelmRelease) -> Iterator[str]:
    """Every chart, image or URL reference in a release: the chart, its repository, every value
    string that names a registry host or URL (including inside the Kueue configuration YAML)."""
    yield release.chart
    if release.repository:
        yield release.repository
    yield from release.images.values()
    # A split image is judged whole (`<registry>/<repository>`), not by its two halves.
    yield from release.split_images.values()
    values = _deep_copy(release.values)
    for dotted in release.split_images:
        node = values
        for key in dotted.split("."):
            node = node.get(key, {})
        for half in ("registry", "repository"):
            node.pop(half, None)
    yield from _strings_with_hosts(values)


# Values that name Kubernetes API groups or taint keys: they look like `host/path`, name no registry.
_API_GROUP_KEYS = frozenset({"apiVersion", "frameworks", "key"})
# Values that hold IPv4 networks (`10.244.0.0/16` has the shape of `host/path`, names no registry).
_NETWORK_KEYS = frozenset({"clusterPoolIPv4PodCIDRList"})


def _strings_with_hosts(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, v in value.items():
            if key not in _API_GROUP_KEYS | _NETWORK_KEYS:
                yield from _strings_with_hosts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings_with_hosts(v)
    elif isinstance(value, str):
        if "\n" in value:
            yield from _strings_with_hosts(yaml.safe_load(value))
        elif _HOST.match(value) or _URL.match(value):
            yield value


def outside_mirror(release: HelmRelease, mirror: str) -> list[str]:
    """References of `release` that do not come from the mirror (empty for a sovereign-clean release)."""
    return [
        ref
        for ref in registry_references(release)
        if not (ref.startswith(f"{mirror}/") or ref.startswith(f"oci://{mirror}/"))
    ]
