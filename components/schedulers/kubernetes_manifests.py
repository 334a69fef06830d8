"""The factory's Kubernetes scheduling objects, as plain dicts (pure: no Pulumi).

Kueue objects are authored in `kueue.x-k8s.io/v1beta2` (storage version since Kueue v0.16; v0.19
still serves v1beta1 with a deprecation warning) and the manager configuration in
`config.kueue.x-k8s.io/v1beta2` (kubernetes-sigs/kueue config/components/crd/bases @v0.19.2,
CHANGELOG-0.15.md / CHANGELOG-0.16.md). JobSet objects are `jobset.x-k8s.io/v1alpha2` (v0.12.0).

Everything here takes plain parameters (fleet capacities, topology levels, file-system ids as
strings) so it can be rendered and schema-checked without a cloud or the placement planner.
"""

from __future__ import annotations

import re
import shlex
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal

from ..catalog.hardware import Hardware, ec2_instance_type, fleet_hardware
from ..catalog.instance_types import InstanceType, get_instance_type
from ..kubernetes_names import AWS_TOPOLOGY_NAMES, DATAHALL_TOPOLOGY_NAME, KUEUE_API, TOPOLOGY_NAME, aws_topology_levels
from ..planning.efa_layout import efa_device_count
from ..spec.model import Taint
from ..spec.production import PODS_READY_MINUTES
from ..spec.scheduler import Queue

Manifest = dict[str, Any]

REGISTRY_HOST = re.compile(r"^(oci://)?(?P<host>[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?)/(?P<path>.+)$")
"""An image or OCI chart reference that names its registry host (`host[:port]/path`)."""


def mirror_image(image: str, mirror: str) -> str:
    """`nvcr.io/nvidia/x:tag` -> `<mirror>/nvcr.io/nvidia/x:tag`: the upstream host stays in the path,
    so images from different registries cannot collide in the mirror (an ECR pull-through cache
    rule per upstream, or a plain copy with the same names)."""
    if image.startswith(f"{mirror}/"):
        return image
    match = REGISTRY_HOST.match(image)
    if match is None:
        raise ValueError(f"'{image}' has no registry host")
    return f"{mirror}/{match.group('host')}/{match.group('path')}"


KUEUE_CONFIG_API = "config.kueue.x-k8s.io/v1beta2"
JOBSET_API = "jobset.x-k8s.io/v1alpha2"

FLEET_LABEL = "aifactory.io/fleet"
TEAM_LABEL = "aifactory.io/team"
LINE_LABEL = "aifactory.io/line"
"""On every object and pod of a production line, its name."""
SYSTEM_NAMESPACE = "aifactory-system"

# Kueue requires the hostname level last (Topology CEL rule, apis/kueue/v1beta2/topology_types.go
# @v0.19.2).
AWS_TOPOLOGY_LEVELS: tuple[str, ...] = aws_topology_levels(3)
DEFAULT_TOPOLOGY = TOPOLOGY_NAME
"""The one Topology's name when the caller gives the levels (0.1's name)."""

# Extended resources advertised by the device plugins: NVIDIA k8s-device-plugin (`nvidia.com/gpu`),
# the Neuron device plugin (`aws.amazon.com/neuron`, one per Neuron device) and the EFA device plugin
# (`vpc.amazonaws.com/efa`) (EKS user guide ml/device-management-efa.adoc, ml/ml-eks-optimized-ami.adoc).
NEURON_VENDOR = "aws"
"""The catalog's accelerator vendor of Trainium and Inferentia."""
ACCELERATOR_RESOURCE = {"nvidia": "nvidia.com/gpu", NEURON_VENDOR: "aws.amazon.com/neuron"}
EFA_RESOURCE = "vpc.amazonaws.com/efa"
# The EFA driver pre-allocates 5128 x 2 MiB hugepages; EFA pods request hugepages-2Mi next to the
# EFA devices (EKS user guide ml/node-efa.adoc). 5120Mi is AWS's nccl-tests figure.
EFA_HUGEPAGES = "5120Mi"

# EC2 terminates capacity-block instances 30 minutes before the block ends and EKS scales the
# node group down 40 minutes before (EKS user guide ml/capacity-blocks-mng.adoc).
EKS_CAPACITY_BLOCK_SCALEDOWN = timedelta(minutes=40)
# EC2's expiration warning comes with that scale-down, 40 minutes before the end, and tells that the
# instances "will begin to terminate in 10 minutes" (EC2 user guide, "Monitor Capacity Blocks using EventBridge").
CAPACITY_BLOCK_WARNING_LEAD = timedelta(minutes=10)


# The taint every accelerated node carries so that only pods asking for accelerators land there.
# The NVIDIA device plugin chart tolerates `nvidia.com/gpu` by default (values.yaml @v0.20.0).
ACCELERATOR_TAINT = {
    "nvidia": Taint(key="nvidia.com/gpu", value="true", effect="NoSchedule"),
    NEURON_VENDOR: Taint(key="aws.amazon.com/neuron", value="true", effect="NoSchedule"),
}


@dataclass(frozen=True)
class FleetCapacity:
    """What a fleet gives the scheduler: `nodes` instances of `instance_type`, or `nodes` of the customer's
    own `server`s (a hybrid fleet: EKS Hybrid Nodes, no EFA)."""

    name: str
    instance_type: str | None
    nodes: int
    efa: bool = True
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    capacity_block_end: datetime | None = None
    server: str | None = None

    @property
    def hardware(self) -> Hardware:
        return fleet_hardware(self)

    @property
    def kind(self) -> Literal["ec2", "hybrid"]:
        return "hybrid" if self.server is not None else "ec2"

    @property
    def ec2_type(self) -> InstanceType:
        """The EC2 instance type; KeyError for a hybrid fleet (its servers are not EC2 instances)."""
        return ec2_instance_type(self)

    @property
    def vendor(self) -> str:
        return self.hardware.accelerator.vendor

    @property
    def accelerator_resource(self) -> str:
        return ACCELERATOR_RESOURCE[self.vendor]

    @property
    def accelerators_per_node(self) -> int:
        return self.hardware.gpus

    @property
    def accelerators(self) -> int:
        return self.nodes * self.accelerators_per_node

    @property
    def efa_per_node(self) -> int:
        """EFA devices of a node: the interfaces its launch template declares (`efa_layout`)."""
        if self.instance_type is None or not self.efa:
            return 0
        instance_type = get_instance_type(self.instance_type)
        return efa_device_count(instance_type) if instance_type.efa_capable else 0

    @property
    def node_labels(self) -> dict[str, str]:
        return {**self.labels, FLEET_LABEL: self.name}

    @property
    def node_taints(self) -> tuple[Taint, ...]:
        return (ACCELERATOR_TAINT[self.vendor], *self.taints)


class QuotaError(ValueError):
    """The queues ask for more accelerators than their fleets hold."""


def allocate_quotas(queues: Sequence[Queue], fleets: Sequence[FleetCapacity]) -> dict[str, dict[str, int]]:
    """Split every queue's `gpu_quota` over the fleets it may use, never beyond a fleet's accelerators.

    A max-flow (source -> queue -> fleet -> sink, BFS augmenting paths): it finds a split whenever
    one exists, whatever the order of the queues. Returns queue -> fleet -> accelerators, with every
    fleet the queue may use present (0 where it got none). Raises QuotaError when no split exists.
    """
    by_name = {f.name: f for f in fleets}
    allowed = {q.name: [f for f in (q.fleets or list(by_name)) if f in by_name] for q in queues}
    nodes = ["source", *(f"q:{q.name}" for q in queues), *(f"f:{f.name}" for f in fleets), "sink"]
    cap: dict[str, dict[str, int]] = {n: {} for n in nodes}
    infinite = sum(q.gpu_quota for q in queues) + 1
    for q in queues:
        cap["source"][f"q:{q.name}"] = q.gpu_quota
        for f in allowed[q.name]:
            cap[f"q:{q.name}"][f"f:{f}"] = infinite
    for fleet in fleets:
        cap[f"f:{fleet.name}"]["sink"] = fleet.accelerators
    for a in nodes:
        for b in list(cap[a]):
            cap[b].setdefault(a, 0)
    flow = {a: dict.fromkeys(cap[a], 0) for a in nodes}
    while True:
        parent: dict[str, str] = {"source": "source"}
        todo = deque(["source"])
        while todo and "sink" not in parent:
            a = todo.popleft()
            for b, c in cap[a].items():
                if b not in parent and c - flow[a][b] > 0:
                    parent[b] = a
                    todo.append(b)
        if "sink" not in parent:
            break
        path = ["sink"]
        while path[-1] != "source":
            path.append(parent[path[-1]])
        path.reverse()
        push = min(cap[a][b] - flow[a][b] for a, b in pairwise(path))
        for a, b in pairwise(path):
            flow[a][b] += push
            flow[b][a] -= push
    short = [q for q in queues if flow["source"][f"q:{q.name}"] < q.gpu_quota]
    if short:
        detail = ", ".join(f"{q.name} wants {q.gpu_quota}, fits {flow['source'][f'q:{q.name}']}" for q in short)
        raise QuotaError(f"the fleets cannot hold the queues' quotas ({detail})")
    return {q.name: {f: max(flow[f"q:{q.name}"][f"f:{f}"], 0) for f in allowed[q.name]} for q in queues}


def resource_flavor(fleet: FleetCapacity, topology_name: str | None) -> Manifest:
    """One ResourceFlavor per fleet: its node labels, tolerations for its taints, TAS topology.

    Kueue adds the flavor's nodeLabels as node selectors and its tolerations to admitted pods; with
    `topologyName` at least one node label is required (ResourceFlavor CEL rule @v0.19.2). Without
    a topology (an EC2 type DescribeInstanceTopology does not support) the flavor has none.
    """
    spec: dict[str, Any] = {
        "nodeLabels": {FLEET_LABEL: fleet.name},
        "tolerations": [t.toleration() for t in fleet.node_taints],
    }
    if topology_name is not None:
        spec["topologyName"] = topology_name
    return {
        "apiVersion": KUEUE_API,
        "kind": "ResourceFlavor",
        "metadata": {"name": fleet.name, "labels": {FLEET_LABEL: fleet.name}},
        "spec": spec,
    }


def fleet_topologies(
    fleets: Sequence[FleetCapacity], topology_levels: Sequence[str] | None, topology_name: str = DEFAULT_TOPOLOGY
) -> tuple[dict[str, tuple[str, ...]], dict[str, str | None]]:
    """(Topology name -> levels, fleet -> the Topology its flavor names).

    `topology_levels` (a data hall's block/rack/host, or a caller's own) are the Topology of the
    customer's racked servers (hybrid fleets, Topology `DATAHALL_TOPOLOGY_NAME`); with no hybrid fleet,
    every fleet shares them under `topology_name`. Every other
    fleet gets the EC2 layers of its instance type: the `topology.k8s.aws/network-node-layer-N` labels
    EKS sets (N up to 3, or 4 on four-layer types), and a type without EC2 topology gets none (EC2 user
    guide, "Prerequisites for Amazon EC2 topology"; EKS user guide, "Place distributed AI/ML workloads
    with network topology labels"). EC2 instances beside a hall are not racked, so they never get the
    hall's levels.
    """
    hybrid = [f for f in fleets if f.kind == "hybrid"]
    racked, name = (hybrid, DATAHALL_TOPOLOGY_NAME) if hybrid else (list(fleets), topology_name)
    topologies: dict[str, tuple[str, ...]] = {}
    of: dict[str, str | None] = {}
    if topology_levels:
        topologies[name] = tuple(topology_levels)
        of.update({f.name: name for f in racked})
    layers_used: set[int] = set()
    for fleet in fleets:
        if fleet.name in of:
            continue
        layers = fleet.ec2_type.network_node_layers if fleet.kind == "ec2" else None
        of[fleet.name] = None if layers is None else AWS_TOPOLOGY_NAMES[layers]
        if layers is not None:
            layers_used.add(layers)
    topologies.update({AWS_TOPOLOGY_NAMES[n]: aws_topology_levels(n) for n in sorted(layers_used)})
    return topologies, of


def topology(name: str, levels: Sequence[str]) -> Manifest:
    """A Kueue Topology from node-label levels, broadest first; the hostname level, if any, last."""
    return {
        "apiVersion": KUEUE_API,
        "kind": "Topology",
        "metadata": {"name": name},
        "spec": {"levels": [{"nodeLabel": level} for level in levels]},
    }


def _share(total: int, accelerators: int, per_node: int) -> int:
    """The part of a per-node `total` that goes with `accelerators` of the node's `per_node`."""
    return total * accelerators // per_node


def flavor_quota(fleet: FleetCapacity, accelerators: int, borrowing_limit: int | None) -> list[dict[str, Any]]:
    """The resource quotas of one flavor for `accelerators` of `fleet`, in covered-resource order.

    CPU, memory and EFA come with the accelerators in the node's proportion (rounded down), so
    the quotas of all queues on a fleet never exceed what its nodes have.
    """
    it = fleet.hardware
    per_node = fleet.accelerators_per_node
    amounts = [
        (fleet.accelerator_resource, accelerators, 1),
        ("cpu", _share(it.vcpus, accelerators, per_node), it.vcpus),
        ("memory", _share(it.memory_gib, accelerators, per_node), it.memory_gib),
        (EFA_RESOURCE, _share(fleet.efa_per_node, accelerators, per_node), fleet.efa_per_node),
    ]
    out = []
    for resource, amount, node_amount in amounts:
        entry: dict[str, Any] = {
            "name": resource,
            "nominalQuota": f"{amount}Gi" if resource == "memory" else amount,
        }
        if borrowing_limit is not None:
            borrowed = min(borrowing_limit, fleet.accelerators)
            limit = borrowed if resource == fleet.accelerator_resource else _share(node_amount, borrowed, per_node)
            entry["borrowingLimit"] = f"{limit}Gi" if resource == "memory" else limit
        out.append(entry)
    return out


def cluster_queue(queue: Queue, split: Mapping[str, int], fleets: Mapping[str, FleetCapacity]) -> Manifest:
    """A ClusterQueue for a queue: one resource group per accelerator kind, one flavor per fleet.

    Preemption for training: a higher-priority job may preempt lower-priority ones in its queue,
    and a queue reclaims its lent quota from any borrower in the cohort; with fair sharing on in the
    manager configuration, `borrowWithinCohort` must stay unset (Kueue concepts/cluster_queue.md
    @v0.19.2).
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for fleet_name, accelerators in split.items():
        fleet = fleets[fleet_name]
        groups.setdefault(fleet.accelerator_resource, []).append(
            {"name": fleet.name, "resources": flavor_quota(fleet, accelerators, queue.borrowing_limit)}
        )
    spec: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": queue.namespace}},
        "queueingStrategy": "BestEffortFIFO",
        "resourceGroups": [
            {"coveredResources": [resource, "cpu", "memory", EFA_RESOURCE], "flavors": flavors}
            for resource, flavors in groups.items()
        ],
        "preemption": {"withinClusterQueue": "LowerPriority", "reclaimWithinCohort": "Any"},
        "flavorFungibility": {"whenCanBorrow": "MayStopSearch", "whenCanPreempt": "TryNextFlavor"},
        "fairSharing": {"weight": 1},
    }
    if queue.cohort:
        spec["cohortName"] = queue.cohort
    return {"apiVersion": KUEUE_API, "kind": "ClusterQueue", "metadata": {"name": queue.name}, "spec": spec}


def local_queue(queue: Queue) -> Manifest:
    """The LocalQueue teams submit to (`kueue.x-k8s.io/queue-name: <queue>`), named like its ClusterQueue."""
    return {
        "apiVersion": KUEUE_API,
        "kind": "LocalQueue",
        "metadata": {"name": queue.name, "namespace": queue.namespace},
        "spec": {"clusterQueue": queue.name},
    }


def namespace(name: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {TEAM_LABEL: name}}}


def team_namespaces(queues: Sequence[Queue]) -> list[str]:
    return list(dict.fromkeys(q.namespace for q in queues))


def workload_priority_classes(priorities: Sequence[str]) -> list[Manifest]:
    """WorkloadPriorityClasses from the ordered priorities, highest first: 1000 apart, lowest 1000."""
    count = len(priorities)
    return [
        {
            "apiVersion": KUEUE_API,
            "kind": "WorkloadPriorityClass",
            "metadata": {"name": name},
            "value": (count - i) * 1000,
            "description": f"aifactory priority {i + 1} of {count}",
        }
        for i, name in enumerate(priorities)
    ]


# Kubeflow Trainer's TrainJob integration, by the name Kueue registers it under
# (pkg/controller/jobs/trainjob/trainjob_controller.go `FrameworkName` @v0.19.2).
TRAINJOB_FRAMEWORK = "trainer.kubeflow.org/trainjob"
# A running workload whose pods stop being ready (a node failed) gets `recoveryTimeout` to be ready
# again before Kueue evicts and requeues it (site docs tasks/manage/setup_wait_for_pods_ready.md
# @v0.19.2; the default is `timeout`). 15 minutes covers the node group replacing an instance and the
# JobSet recreating every pod, which then resumes from the last checkpoint; longer, and a job that
# cannot recover holds its quota for nothing.
TRAINING_RECOVERY_TIMEOUT = "15m"


def kueue_configuration(pods_ready_minutes: int = PODS_READY_MINUTES, trainjobs: bool = False) -> Manifest:
    """The Kueue manager Configuration (config.kueue.x-k8s.io/v1beta2).

    Starts from the chart's defaults (charts/kueue/values.yaml @v0.19.2) and adds:
    - `waitForPodsReady` with `blockAdmission`: all-or-nothing gang admission; a workload whose
      pods are not all ready within the timeout is evicted and requeued with backoff, and
      admissions wait meanwhile so two gangs cannot deadlock on half the nodes each
      (site docs tasks/manage/setup_wait_for_pods_ready.md);
    - `fairSharing` (in v1beta2 its presence enables it; `preemptionStrategies` is required);
    - the job frameworks the factory installs: batch/job and JobSet, and with `trainjobs` Kubeflow
      Trainer's TrainJob and a `recoveryTimeout` for training pods lost with a node.
    """
    pods_ready: dict[str, Any] = {
        "timeout": f"{pods_ready_minutes}m",
        "blockAdmission": True,
        "requeuingStrategy": {
            "timestamp": "Eviction",
            "backoffBaseSeconds": 60,
            "backoffMaxSeconds": 3600,
        },
    }
    frameworks = ["batch/job", "jobset.x-k8s.io/jobset"]
    if trainjobs:
        pods_ready["recoveryTimeout"] = TRAINING_RECOVERY_TIMEOUT
        frameworks.append(TRAINJOB_FRAMEWORK)
    return {
        "apiVersion": KUEUE_CONFIG_API,
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {
            "groupKindConcurrency": {
                "Job.batch": 5,
                "Pod": 5,
                "Workload.kueue.x-k8s.io": 5,
                "LocalQueue.kueue.x-k8s.io": 1,
                "ClusterQueue.kueue.x-k8s.io": 1,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 50, "burst": 100},
        "waitForPodsReady": pods_ready,
        "fairSharing": {"preemptionStrategies": ["LessThanOrEqualToFinalShare", "LessThanInitialShare"]},
        "integrations": {"frameworks": frameworks},
    }


# FSx for Lustre CSI driver name and static-provisioning shape (kubernetes-sigs/aws-fsx-csi-driver
# examples/kubernetes/static_provisioning/specs/pv.yaml; docs/install.md).
FSX_CSI_DRIVER = "fsx.csi.aws.com"
FSX_CLAIM = "fsx"


def fsx_volumes(
    file_system_id: str, dns_name: str, mount_name: str, capacity_gib: int, namespaces: Sequence[str]
) -> list[Manifest]:
    """A static PersistentVolume (Retain) and a bound claim `fsx` per team namespace.

    A PV binds to one claim, so each namespace gets its own PV of the same file system, pre-bound
    by `claimRef`; `Retain` keeps the data when a claim is deleted.
    """
    out: list[Manifest] = []
    for ns in namespaces:
        pv_name = f"fsx-{ns}"
        out.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv_name, "labels": {TEAM_LABEL: ns}},
                "spec": {
                    "capacity": {"storage": f"{capacity_gib}Gi"},
                    "volumeMode": "Filesystem",
                    "accessModes": ["ReadWriteMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "mountOptions": ["flock"],
                    "claimRef": {"namespace": ns, "name": FSX_CLAIM},
                    "csi": {
                        "driver": FSX_CSI_DRIVER,
                        "volumeHandle": file_system_id,
                        "volumeAttributes": {"dnsname": dns_name, "mountname": mount_name},
                    },
                },
            }
        )
        out.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": FSX_CLAIM, "namespace": ns},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "volumeName": pv_name,
                    "resources": {"requests": {"storage": f"{capacity_gib}Gi"}},
                },
            }
        )
    return out


# AWS's nccl-tests container (EFA installer, aws-ofi-nccl, NCCL, nccl-tests built with MPI, Open MPI,
# sshd), built from aws-samples/awsome-distributed-training micro-benchmarks/nccl-tests/
# nccl-tests.Dockerfile and published in its public registry; pinned by its version tag.
NCCL_TESTS_IMAGE = "public.ecr.aws/hpc-cloud/nccl-tests:cuda13.0.2-efa1.48.0-ofiv1.19.0-ncclv2.30.4-1-testsv2.18.3"
# AWS's Neuron deep learning container for training on trn1/trn2 (aws-neuron/deep-learning-containers
# README, "pytorch-training-neuronx", Neuron SDK 2.27.1): aws-neuronx-tools (nccom-test), the Neuron
# collectives and runtime, the EFA user-space libraries, Open MPI and sshd "for MPI operator in k8s"
# (docker/pytorch/training Dockerfile.neuronx); pinned by its version tag.
NCCOM_TEST_IMAGE = "public.ecr.aws/neuron/pytorch-training-neuronx:2.9.0-neuronx-py312-sdk2.27.1-ubuntu24.04"
EXPECTED_BUSBW_ANNOTATION = "aifactory.io/expected-allreduce-busbw-gbps"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
REQUIRED_TOPOLOGY = "kueue.x-k8s.io/podset-required-topology"
_KEY_PORT = 8022
# Any free port on the first host (Neuron docs tools/neuron-sys-tools/nccom-test, "MPI Execution").
_NEURON_ROOT_COMM_PORT = 45654

# libfabric's EFA provider with device RDMA and fork-safe verbs (libfabric fi_efa(7)), for NCCL's
# aws-ofi-nccl plugin and the Neuron collectives alike.
LIBFABRIC_EFA_ENV = {
    "FI_PROVIDER": "efa",
    "FI_EFA_USE_DEVICE_RDMA": "1",
    "FI_EFA_FORK_SAFE": "1",
}
# NCCL over EFA through the aws-ofi-nccl plugin: the plugin's tuner; buffer sizes from AWS's nccl-tests
# example (awsome-distributed-training micro-benchmarks/nccl-tests/kubernetes/nccl-tests.yaml).
NCCL_EFA_ENV = {
    **LIBFABRIC_EFA_ENV,
    "NCCL_DEBUG": "INFO",
    "NCCL_BUFFSIZE": "8388608",
    "NCCL_P2P_NET_CHUNKSIZE": "524288",
    "NCCL_TUNER_PLUGIN": "/opt/aws-ofi-nccl/install/lib/libnccl-ofi-tuner.so",
    "LD_LIBRARY_PATH": "/opt/amazon/openmpi/lib:/opt/nccl/build/lib:/opt/amazon/efa/lib:"
    "/opt/aws-ofi-nccl/install/lib:/usr/local/nvidia/lib",
}


def _benchmark_checks(fleet: FleetCapacity, nodes: int) -> str:
    """The fleet's instance type, after the checks every cross-node benchmark needs."""
    if fleet.instance_type is None:
        raise ValueError(f"a fabric test runs on EC2 fleets; fleet '{fleet.name}' is the customer's {fleet.server}")
    if fleet.efa_per_node == 0:
        raise ValueError(f"fleet '{fleet.name}' has no EFA interfaces")
    if not 2 <= nodes <= fleet.nodes:
        raise ValueError(f"nodes must be between 2 and the fleet's {fleet.nodes}")
    return fleet.instance_type


def _worker_hosts(name: str, nodes: int) -> list[str]:
    """The workers' DNS names (JobSet `enableDNSHostnames`: `<jobset>-<job>-<index>-<pod>.<jobset>`)."""
    return [f"{name}-worker-0-{i}.{name}" for i in range(nodes)]


def _ssh_launcher_start(workers: Sequence[str]) -> list[str]:
    """The launcher's first lines: a fresh SSH key, its public half served on `_KEY_PORT` inside the pod
    network, then a wait for every worker's sshd."""
    return [
        "set -euo pipefail",
        "mkdir -p /root/.ssh /srv/key",
        "ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519",
        "cp /root/.ssh/id_ed25519.pub /srv/key/authorized_keys",
        f"(cd /srv/key && python3 -m http.server {_KEY_PORT}) &",
        f"for host in {' '.join(shlex.quote(w) for w in workers)}; do",
        "  until (exec 3<>/dev/tcp/$host/22) 2>/dev/null; do sleep 2; done",
        "done",
    ]


def _ssh_worker_fetch_key(name: str) -> list[str]:
    return [
        "set -euo pipefail",
        "mkdir -p /root/.ssh /run/sshd",
        f"until curl -sf {shlex.quote(f'http://{name}-launcher-0-0.{name}:{_KEY_PORT}/authorized_keys')} "
        "-o /root/.ssh/authorized_keys; do sleep 2; done",
        "ssh-keygen -A",
    ]


def _launcher_worker_jobset(
    name: str,
    fleet: FleetCapacity,
    nodes: int,
    queue: Queue,
    topology_level: str | None,
    image: str,
    scripts: tuple[str, str],
    env: Mapping[str, str],
    priority: str | None,
) -> Manifest:
    """A JobSet of one launcher pod running `scripts[0]` and `nodes` worker pods running `scripts[1]`,
    each worker holding all the node's accelerators and EFA devices. The JobSet succeeds when the launcher
    does. The workers' pod set must fit in one `topology_level` domain (Kueue TAS; None for a fleet whose
    type has no topology)."""
    launcher_script, worker_script = scripts
    expected = get_instance_type(_benchmark_checks(fleet, nodes)).nccl_allreduce_busbw_gbps
    env_list = [{"name": k, "value": v} for k, v in env.items()]
    shm = {"name": "dshm", "emptyDir": {"medium": "Memory"}}
    labels = {QUEUE_LABEL: queue.name}
    if priority:
        labels[PRIORITY_LABEL] = priority
    worker_limits = {
        fleet.accelerator_resource: fleet.accelerators_per_node,
        EFA_RESOURCE: fleet.efa_per_node,
        "hugepages-2Mi": EFA_HUGEPAGES,
        "memory": "32Gi",
        "cpu": 32,
    }
    return {
        "apiVersion": JOBSET_API,
        "kind": "JobSet",
        "metadata": {
            "name": name,
            "namespace": queue.namespace,
            "labels": labels,
            "annotations": {EXPECTED_BUSBW_ANNOTATION: f"{expected:g}", "aifactory.io/fleet": fleet.name},
        },
        "spec": {
            "successPolicy": {"operator": "All", "targetReplicatedJobs": ["launcher"]},
            "failurePolicy": {"maxRestarts": 0},
            "network": {"enableDNSHostnames": True},
            "replicatedJobs": [
                {
                    "name": "launcher",
                    "replicas": 1,
                    "template": {
                        "spec": {
                            "parallelism": 1,
                            "completions": 1,
                            "backoffLimit": 0,
                            "template": {
                                "spec": {
                                    "restartPolicy": "Never",
                                    "containers": [
                                        {
                                            "name": "launcher",
                                            "image": image,
                                            "command": ["/bin/bash", "-c", launcher_script],
                                            "env": env_list,
                                            "resources": {
                                                "requests": {"cpu": 1, "memory": "2Gi"},
                                                "limits": {"cpu": 1, "memory": "2Gi"},
                                            },
                                        }
                                    ],
                                }
                            },
                        }
                    },
                },
                {
                    "name": "worker",
                    "replicas": 1,
                    "template": {
                        "spec": {
                            "parallelism": nodes,
                            "completions": nodes,
                            "backoffLimit": 0,
                            "template": {
                                "metadata": {
                                    "annotations": {REQUIRED_TOPOLOGY: topology_level} if topology_level else {}
                                },
                                "spec": {
                                    "restartPolicy": "Never",
                                    "containers": [
                                        {
                                            "name": "worker",
                                            "image": image,
                                            "command": ["/bin/bash", "-c", worker_script],
                                            "env": env_list,
                                            "ports": [{"containerPort": 22, "name": "ssh"}],
                                            "resources": {
                                                "requests": dict(worker_limits),
                                                "limits": dict(worker_limits),
                                            },
                                            "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                                        }
                                    ],
                                    "volumes": [shm],
                                },
                            },
                        }
                    },
                },
            ],
        },
    }


def nccl_tests_jobset(
    fleet: FleetCapacity,
    nodes: int,
    queue: Queue,
    topology_level: str | None,
    image: str = NCCL_TESTS_IMAGE,
    name: str = "nccl-tests",
    priority: str | None = None,
    registry_mirror: str | None = None,
) -> Manifest:
    """A JobSet that runs nccl-tests `all_reduce_perf` over EFA across `nodes` nodes of `fleet`.

    A launcher pod generates an SSH key, serves only the public half on port 8022 inside the pod
    network, waits for the workers' sshd and runs `mpirun`; each worker fetches the public key,
    runs sshd and holds all the node's GPUs and EFA devices. The JobSet succeeds when the launcher
    does. The workers' pod set must fit in one `topology_level` domain (Kueue TAS; None for a fleet
    whose type has no topology). With a `registry_mirror` (sovereign) the image is pulled from the mirror.
    """
    if registry_mirror:
        image = mirror_image(image, registry_mirror)
    if fleet.vendor != "nvidia":
        raise ValueError(f"nccl-tests needs NVIDIA GPUs; fleet '{fleet.name}' is {fleet.instance_type}")
    gpus = fleet.accelerators_per_node
    workers = _worker_hosts(name, nodes)
    passed = " ".join(f"-x {k}" for k in NCCL_EFA_ENV)
    launcher_script = "\n".join(
        [
            *_ssh_launcher_start(workers),
            f"mpirun --allow-run-as-root --tag-output -np {nodes * gpus} -N {gpus} "
            f"--host {shlex.quote(','.join(f'{w}:{gpus}' for w in workers))} --bind-to none {passed} "
            "--mca pml ^ucx --mca btl tcp,self --mca btl_tcp_if_exclude lo,docker0,veth_def_agent "
            "/opt/nccl-tests/build/all_reduce_perf -b 8 -e 16G -f 2 -g 1 -c 1 -n 100",
        ]
    )
    worker_script = "\n".join([*_ssh_worker_fetch_key(name), "exec /usr/sbin/sshd -D -e"])
    return _launcher_worker_jobset(
        name, fleet, nodes, queue, topology_level, image, (launcher_script, worker_script), NCCL_EFA_ENV, priority
    )


def nccom_test_jobset(
    fleet: FleetCapacity,
    nodes: int,
    queue: Queue,
    topology_level: str | None,
    image: str = NCCOM_TEST_IMAGE,
    name: str = "nccom-test",
    priority: str | None = None,
    registry_mirror: str | None = None,
) -> Manifest:
    """A JobSet that runs Neuron's `nccom-test` all-reduce over EFA across `nodes` nodes of a Trainium fleet.

    The same launcher and workers as `nccl_tests_jobset`. nccom-test's MPI mode starts a `neuron-bench`
    process on every host given to `--hosts`, divides the ranks (`-r`) equally over them (`-N` hosts) and
    needs `NEURON_RT_ROOT_COMM_ID` set to the first host's IP address and a free port; the invoking host
    may be another one that can start MPI processes on them (Neuron docs tools/neuron-sys-tools/nccom-test,
    "MPI Execution"; the flags are its two-instance example: 8 B to 1 GiB in steps of 2x, 50 measured and
    5 warm-up operations, fp32). One rank per NeuronCore. Workers pass their environment to the MPI
    processes sshd starts (`~/.ssh/environment`), as SSH sessions do not inherit the container's.
    """
    if registry_mirror:
        image = mirror_image(image, registry_mirror)
    accelerator = fleet.hardware.accelerator
    if fleet.vendor != NEURON_VENDOR or accelerator.neuron_cores is None:
        raise ValueError(f"nccom-test needs Neuron devices; fleet '{fleet.name}' is {fleet.instance_type}")
    if not accelerator.model.startswith("Trainium"):
        raise ValueError(
            f"nccom-test runs across instances only on Trainium; fleet '{fleet.name}' is {fleet.instance_type}"
        )
    ranks = nodes * fleet.accelerators_per_node * accelerator.neuron_cores
    workers = _worker_hosts(name, nodes)
    hosts = " ".join(shlex.quote(w) for w in workers)
    launcher_script = "\n".join(
        [
            *_ssh_launcher_start(workers),
            f"root=$(getent hosts {shlex.quote(workers[0])} | awk '{{print $1; exit}}')",
            f'export NEURON_RT_ROOT_COMM_ID="$root:{_NEURON_ROOT_COMM_PORT}"',
            f"nccom-test -r {ranks} -N {nodes} -b 8 -e 1GB -f 2 -n 50 -w 5 -d fp32 allr --hosts {hosts}",
        ]
    )
    worker_script = "\n".join(
        [
            *_ssh_worker_fetch_key(name),
            "env | grep -E '^(PATH|LD_LIBRARY_PATH|FI_[A-Z_]+|NEURON_[A-Z_]+)=' > /root/.ssh/environment",
            "exec /usr/sbin/sshd -D -e -o PermitUserEnvironment=yes",
        ]
    )
    return _launcher_worker_jobset(
        name, fleet, nodes, queue, topology_level, image, (launcher_script, worker_script), LIBFABRIC_EFA_ENV, priority
    )


@dataclass(frozen=True)
class FabricTest:
    """A fleet's cross-node fabric test: the JobSet and its instructions, or no JobSet and why."""

    jobset: Manifest | None
    readme: str


def fabric_test(
    fleet: FleetCapacity, nodes: int, queue: Queue, topology_level: str | None, registry_mirror: str | None = None
) -> FabricTest:
    """The benchmark that measures `fleet`'s EFA fabric: nccl-tests on NVIDIA GPUs, nccom-test on Trainium,
    none (with the reason) for a fleet it cannot run on."""
    if fleet.instance_type is None:
        why = f"fleet `{fleet.name}` is the customer's own {fleet.server} servers; they use their own fabric"
    elif fleet.efa_per_node == 0:
        why = f"fleet `{fleet.name}` ({fleet.instance_type}) has no EFA interfaces"
    elif nodes < 2:
        why = f"fleet `{fleet.name}` has fewer than two nodes in one placement domain"
    elif fleet.vendor == "nvidia":
        jobset = nccl_tests_jobset(fleet, nodes, queue, topology_level, registry_mirror=registry_mirror)
        return FabricTest(jobset, nccl_tests_readme(jobset))
    elif fleet.vendor == NEURON_VENDOR and fleet.hardware.accelerator.model.startswith("Trainium"):
        jobset = nccom_test_jobset(fleet, nodes, queue, topology_level, registry_mirror=registry_mirror)
        return FabricTest(jobset, nccom_test_readme(jobset))
    else:
        why = f"no cross-node collective benchmark runs on {fleet.instance_type} (fleet `{fleet.name}`)"
    return FabricTest(None, f"### No fabric test\n\n{why[0].upper()}{why[1:]}, so `render` writes no JobSet for it.\n")


def _acceptance_readme(jobset: Manifest, title: str, tool: str) -> str:
    """The acceptance test after `pulumi up`, for the README: submit, read the bus bandwidth, compare."""
    meta = jobset["metadata"]
    ns, name = meta["namespace"], meta["name"]
    expected = meta["annotations"][EXPECTED_BUSBW_ANNOTATION]
    fleet = meta["annotations"]["aifactory.io/fleet"]
    nodes = jobset["spec"]["replicatedJobs"][1]["template"]["spec"]["parallelism"]
    return "\n".join(
        [
            f"### Acceptance test: {title} on fleet `{fleet}`",
            "",
            "```bash",
            "aifactory render <stack> --out rendered/",
            f"kubectl apply -f rendered/kubernetes/{name}.yaml",
            f"kubectl -n {shlex.quote(ns)} wait --for=condition=Completed jobset/{name} --timeout=30m",
            f"kubectl -n {shlex.quote(ns)} logs -l jobset.sigs.k8s.io/jobset-name={name},"
            "jobset.sigs.k8s.io/replicatedjob-name=launcher | grep 'Avg bus bandwidth'",
            "```",
            "",
            f"Across {nodes} nodes the average bus bandwidth at large message sizes should be close to "
            f"**{expected} GB/s** (the catalog's figure for this instance type{tool}); much less points at EFA, "
            "the security group or the placement.",
        ]
    )


def nccl_tests_readme(jobset: Manifest) -> str:
    return _acceptance_readme(jobset, "nccl-tests all_reduce over EFA", "")


def nccom_test_readme(jobset: Manifest) -> str:
    # nccom-test prints the same `Avg bus bandwidth` line, in GiB/s (Neuron docs, nccom-test "Output description").
    return _acceptance_readme(jobset, "nccom-test all-reduce over EFA", ", an estimate; nccom-test reports GiB/s")


# A kubectl image from the Kubernetes project's registry, at the cluster's minor version.
KUBECTL_IMAGE = "registry.k8s.io/kubectl"


# Set on a capacity-block fleet's nodes when its drain starts; no flavor tolerates it.
ENDING_TAINT = Taint(key="aifactory.io/capacity-block-ending", value="true", effect="NoSchedule")


def capacity_block_drain(
    fleet: FleetCapacity,
    kubernetes_version: str,
    checkpoint_grace: timedelta,
    kubectl_image: str = KUBECTL_IMAGE,
    kubectl_patch: str = "0",
) -> list[Manifest]:
    """Drain a capacity-block fleet before EKS and EC2 take its instances back.

    EKS scales the node group to zero 40 minutes before the block ends and EC2 terminates the
    instances from 30 minutes before (EKS user guide ml/capacity-blocks-mng.adoc). So at
    `end - 40 min - checkpoint_grace` a CronJob:
    1. taints the fleet's nodes `aifactory.io/capacity-block-ending=true:NoSchedule`. Kueue's
       topology-aware scheduling honours node taints (hostname is the lowest Topology level) and
       the flavor does not tolerate this one, so no new workload is admitted onto the fleet —
       that is the admission limit, without editing the ClusterQueues Pulumi owns;
    2. drains the nodes with `--grace-period` = `checkpoint_grace`: the pods get SIGTERM and that
       long to write a checkpoint; Kueue then requeues their workloads onto other capacity.
    The schedule is the block end's UTC minute/hour/day/month, so it fires once for this block.
    """
    start = drain_time(fleet, checkpoint_grace)
    grace = int(checkpoint_grace.total_seconds())
    selector = f"{FLEET_LABEL}={fleet.name}"
    taint = f"{ENDING_TAINT.key}={ENDING_TAINT.value}:{ENDING_TAINT.effect}"
    script = "\n".join(
        [
            "set -eu",
            # Every value one shell word (shlex.quote leaves the ordinary ones as they are).
            f"kubectl taint nodes -l {shlex.quote(selector)} {shlex.quote(taint)} --overwrite",
            f"kubectl drain -l {shlex.quote(selector)} --ignore-daemonsets --delete-emptydir-data --force "
            f"--grace-period={grace} --timeout={grace + 120}s",
        ]
    )
    name = f"drain-{fleet.name}"
    sa = "capacity-block-drainer"
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": sa, "namespace": SYSTEM_NAMESPACE},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": sa},
            "rules": [
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch", "update"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "delete"]},
                {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
                {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["get"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": sa},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": sa},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": SYSTEM_NAMESPACE}],
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {
                "name": name,
                "namespace": SYSTEM_NAMESPACE,
                "labels": {FLEET_LABEL: fleet.name},
                "annotations": {"aifactory.io/capacity-block-end": str(fleet.capacity_block_end)},
            },
            "spec": {
                "schedule": f"{start.minute} {start.hour} {start.day} {start.month} *",
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 2,
                        "template": {
                            "spec": {
                                "serviceAccountName": sa,
                                "restartPolicy": "OnFailure",
                                "containers": [
                                    {
                                        "name": "drain",
                                        "image": f"{kubectl_image}:v{kubernetes_version}.{kubectl_patch}",
                                        "command": ["/bin/sh", "-c", script],
                                    }
                                ],
                            }
                        },
                    }
                },
            },
        },
    ]


EXPIRY_GROUP = "aifactory:capacity-block-expiry"
"""The Kubernetes group of the expiry handler's IAM role (its EKS access entry's kubernetesGroups)."""


def expiry_rbac() -> list[Manifest]:
    """What the expiry handler may do, bound to its group: read and patch nodes (taint, cordon), list pods,
    create evictions; nothing else (Kubernetes docs, "API-initiated eviction": the `pods/eviction`
    subresource's `create`)."""
    name = "aifactory-capacity-block-expiry"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "patch"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
                {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": EXPIRY_GROUP}],
        },
    ]


def drain_time(fleet: FleetCapacity, checkpoint_grace: timedelta) -> datetime:
    """When the drain of a capacity-block fleet starts (UTC)."""
    if fleet.capacity_block_end is None:
        raise ValueError(f"fleet '{fleet.name}' has no capacity-block end time")
    return fleet.capacity_block_end.astimezone(UTC) - EKS_CAPACITY_BLOCK_SCALEDOWN - checkpoint_grace


def scheduling_objects(
    queues: Sequence[Queue],
    fleets: Sequence[FleetCapacity],
    priorities: Sequence[str],
    topology_levels: Sequence[str] | None,
    topology_name: str = DEFAULT_TOPOLOGY,
    split: Mapping[str, Mapping[str, int]] | None = None,
) -> list[Manifest]:
    """Namespaces, Topologies, ResourceFlavors, ClusterQueues, LocalQueues and priority classes.

    `topology_levels` None: one Topology per EC2 layer count the fleets' types have (`fleet_topologies`).
    `split` is the queues' quota per fleet when already allocated (the factory plan's)."""
    split = split if split is not None else allocate_quotas(queues, fleets)
    by_name = {f.name: f for f in fleets}
    topologies, topology_of = fleet_topologies(fleets, topology_levels, topology_name)
    return [
        *(namespace(ns) for ns in team_namespaces(queues)),
        *(topology(name, levels) for name, levels in topologies.items()),
        *(resource_flavor(f, topology_of[f.name]) for f in fleets),
        *(cluster_queue(q, split[q.name], by_name) for q in queues),
        *(local_queue(q) for q in queues),
        *workload_priority_classes(priorities),
    ]
