"""Kubeflow Trainer v2 objects of the production lines, as plain dicts (pure: no Pulumi).

Objects are `trainer.kubeflow.org/v1alpha1`, the API Kubeflow Trainer v2.3.0 serves
(kubeflow/trainer manifests/base/crds @v2.3.0, copied to tests/fixtures/crds). A line gets one
`ClusterTrainingRuntime` (its fleet's node selector and taints, EFA devices and NCCL settings of the
instance type, the FSx claim, the JobSet failure policy) and one `TrainJob` template submitted through
its Kueue `LocalQueue`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..planning.storage_sizing import DATASETS_DIR
from ..spec.production import ProductionLine
from ..spec.scheduler import ChartVersions
from .helm_values import SYSTEM_NODE_LABEL, HelmRelease
from .kubernetes_manifests import (
    EFA_HUGEPAGES,
    EFA_RESOURCE,
    FLEET_LABEL,
    FSX_CLAIM,
    LINE_LABEL,
    NCCL_EFA_ENV,
    PRIORITY_LABEL,
    QUEUE_LABEL,
    FleetCapacity,
    Manifest,
)

TRAINER_API = "trainer.kubeflow.org/v1alpha1"
TRAINER_NAMESPACE = "kubeflow-system"
TRAINER_RELEASE = "kubeflow-trainer"
# Kubeflow Trainer release notes v2.3.0: `helm install kubeflow-trainer
# oci://ghcr.io/kubeflow/charts/kubeflow-trainer --version 2.3.0`. Its Chart.yaml @v2.3.0 depends on
# the JobSet chart 0.12.0 (condition `jobset.install`), the version the factory already pins
# (`ChartVersions.jobset`), so the factory's own JobSet release stays and the dependency is off.
TRAINER_CHART = "oci://ghcr.io/kubeflow/charts/kubeflow-trainer"
TRAINER_JOBSET_VERSION = "0.12.0"
TRAINER_IMAGE_REGISTRY = "ghcr.io"
TRAINER_IMAGE_REPOSITORY = "kubeflow/trainer/trainer-controller-manager"

# The Trainer's torch plugin drives the pods of the replicated job named `node`, and the Trainer
# finds the trainer container by the ancestor-step label (charts/kubeflow-trainer/files/runtimes/
# torch-distributed.yaml @v2.3.0).
NODE_JOB = "node"
NODE_CONTAINER = "node"
ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
FRAMEWORK_LABEL = "trainer.kubeflow.org/framework"

# JobSet failurePolicy.restartStrategy (jobset api/jobset/v1alpha2/jobset_types.go @v0.12.0, the
# enum the Trainer CRD embeds): `Recreate` deletes and recreates the child Jobs without waiting, so
# pods of the failed attempt may still hold the rendezvous port or write a checkpoint while the new
# ones start; `BlockingRecreate` waits until every old Job's pods are gone first. A node failure
# fails its pod, the Job (backoffLimit 0), then the JobSet restarts every Job: all ranks start
# together on the surviving and replacement nodes and resume from the last checkpoint.
RESTART_STRATEGY = "BlockingRecreate"

# The environment every training pod gets, read by the line's training and evaluation commands.
DATASET_ENV = "AIFACTORY_DATASET_DIR"
CHECKPOINT_ENV = "AIFACTORY_CHECKPOINT_DIR"
CHECKPOINT_INTERVAL_ENV = "AIFACTORY_CHECKPOINT_INTERVAL_MINUTES"
# EC2 user guide, "Elastic Fabric Adapter", supported instance types: RDMA read (the device RDMA
# libfabric's FI_EFA_USE_DEVICE_RDMA turns on, fi_efa(7)) is offered on the p4d/p4de, p5/p5e/p5en,
# p6 and trn1/trn1n/trn2 families; g6 has EFA without RDMA.
EFA_RDMA_FAMILIES = frozenset({"p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "p6-b300", "trn1", "trn1n", "trn2"})


def trainer_release(charts: ChartVersions) -> HelmRelease:
    """The Kubeflow Trainer controller, pinned, on the system nodes, without its own JobSet."""
    if charts.jobset != TRAINER_JOBSET_VERSION:
        raise ValueError(
            f"Kubeflow Trainer {charts.kubeflow_trainer} is built on JobSet {TRAINER_JOBSET_VERSION}; "
            f"the factory pins JobSet {charts.jobset}"
        )
    return HelmRelease(
        TRAINER_RELEASE,
        TRAINER_NAMESPACE,
        TRAINER_CHART,
        charts.kubeflow_trainer,
        None,
        {
            "jobset": {"install": False},
            # The chart's LeaderWorkerSet 0.8.0 sub-chart must never install over the LeaderWorkerSet release
            # the factory pins for serving (`production_serving`). Its condition is
            # `dataCache.lws.install,dataCache.enabled` and Helm reads only the first path that is set
            # (kubeflow/trainer charts/kubeflow-trainer/Chart.yaml @2.3.0), so both are set off.
            "dataCache": {"enabled": False, "lws": {"install": False}},
            "image": {
                "registry": TRAINER_IMAGE_REGISTRY,
                "repository": TRAINER_IMAGE_REPOSITORY,
                "tag": f"v{charts.kubeflow_trainer}",
            },
            "manager": {"nodeSelector": SYSTEM_NODE_LABEL},
            # The runtimes are the factory's (`cluster_training_runtime`), not the chart's examples.
            "runtimes": {"defaultEnabled": False},
        },
        {},
        split_images={"image": f"{TRAINER_IMAGE_REGISTRY}/{TRAINER_IMAGE_REPOSITORY}"},
    )


def dataset_dir(dataset: str, mount_path: str, import_path: str | None) -> str:
    """The dataset as the pods see it: an S3 prefix under the import link maps under `<mount>/datasets/`."""
    if dataset.startswith("/"):
        return dataset
    root = import_path.rstrip("/") if import_path is not None else None
    if root is None or not (dataset.rstrip("/") == root or dataset.startswith(root + "/")):
        raise ValueError(f"dataset {dataset} is not under the data repository link {import_path}")
    rest = dataset[len(root) :].strip("/")
    base = f"{mount_path.rstrip('/')}/{DATASETS_DIR}"
    return f"{base}/{rest}" if rest else base


def runtime_name(line: ProductionLine) -> str:
    return f"{line.name}-{line.training.runtime}"


def _env(line: ProductionLine, fleet: FleetCapacity, dataset: str) -> list[dict[str, str]]:
    efa: Mapping[str, str] = {}
    if fleet.efa_per_node:
        efa = dict(NCCL_EFA_ENV)
        if fleet.ec2_type.family not in EFA_RDMA_FAMILIES:
            efa = {k: v for k, v in efa.items() if k != "FI_EFA_USE_DEVICE_RDMA"}
    values = {
        **efa,
        DATASET_ENV: dataset,
        CHECKPOINT_ENV: line.training.checkpoint.directory,
        CHECKPOINT_INTERVAL_ENV: str(line.training.checkpoint.interval_minutes),
    }
    return [{"name": k, "value": v} for k, v in values.items()]


def _node_resources(fleet: FleetCapacity, accelerators: int) -> dict[str, Any]:
    amounts: dict[str, Any] = {fleet.accelerator_resource: accelerators}
    if fleet.efa_per_node:
        # EKS user guide ml/node-efa.adoc: a pod asks for the node's EFA devices and the hugepages the
        # EFA driver uses; Kubernetes extended resources are requested and limited alike.
        amounts |= {EFA_RESOURCE: fleet.efa_per_node, "hugepages-2Mi": EFA_HUGEPAGES}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def cluster_training_runtime(line: ProductionLine, fleet: FleetCapacity, dataset: str, mount_path: str) -> Manifest:
    """The line's runtime: torch distributed on `fleet`'s nodes over EFA, FSx mounted, restart on failure."""
    training = line.training
    tolerations = [taint.toleration() for taint in fleet.node_taints]
    return {
        "apiVersion": TRAINER_API,
        "kind": "ClusterTrainingRuntime",
        "metadata": {
            "name": runtime_name(line),
            "labels": {FRAMEWORK_LABEL: "torch", LINE_LABEL: line.name, FLEET_LABEL: fleet.name},
        },
        "spec": {
            "mlPolicy": {"numNodes": training.nodes, "torch": {}},
            "template": {
                "spec": {
                    "failurePolicy": {"maxRestarts": training.max_restarts, "restartStrategy": RESTART_STRATEGY},
                    "replicatedJobs": [
                        {
                            "name": NODE_JOB,
                            "template": {
                                "metadata": {"labels": {ANCESTOR_LABEL: "trainer"}},
                                "spec": {
                                    # Any pod failure fails the Job, so the JobSet's policy decides.
                                    "backoffLimit": 0,
                                    "template": {
                                        "metadata": {"labels": {LINE_LABEL: line.name}},
                                        "spec": {
                                            "nodeSelector": {FLEET_LABEL: fleet.name},
                                            "tolerations": tolerations,
                                            "containers": [
                                                {
                                                    "name": NODE_CONTAINER,
                                                    "image": training.image,
                                                    "env": _env(line, fleet, dataset),
                                                    "resources": _node_resources(fleet, training.gpus_per_node),
                                                    "volumeMounts": [
                                                        {"name": "fsx", "mountPath": mount_path},
                                                        {"name": "dshm", "mountPath": "/dev/shm"},
                                                    ],
                                                }
                                            ],
                                            "volumes": [
                                                {"name": "fsx", "persistentVolumeClaim": {"claimName": FSX_CLAIM}},
                                                {"name": "dshm", "emptyDir": {"medium": "Memory"}},
                                            ],
                                        },
                                    },
                                },
                            },
                        }
                    ],
                }
            },
        },
    }


def train_job(line: ProductionLine, namespace: str, fleet: FleetCapacity) -> Manifest:
    """The line's TrainJob template (`kubectl create -f`: `generateName` gives every run its own name)."""
    training = line.training
    labels = {QUEUE_LABEL: training.queue, LINE_LABEL: line.name}
    if training.priority is not None:
        labels[PRIORITY_LABEL] = training.priority
    trainer: dict[str, Any] = {
        "image": training.image,
        "numNodes": training.nodes,
        "numProcPerNode": training.gpus_per_node,
        "resourcesPerNode": _node_resources(fleet, training.gpus_per_node),
    }
    if training.command is not None:
        trainer["command"] = list(training.command)
    return {
        "apiVersion": TRAINER_API,
        "kind": "TrainJob",
        "metadata": {"generateName": f"{line.name}-", "namespace": namespace, "labels": labels},
        "spec": {
            "runtimeRef": {
                "apiGroup": "trainer.kubeflow.org",
                "kind": "ClusterTrainingRuntime",
                "name": runtime_name(line),
            },
            "trainer": trainer,
        },
    }


def training_objects(
    lines: Sequence[ProductionLine],
    namespaces: Mapping[str, str],
    fleets: Mapping[str, FleetCapacity],
    mount_path: str,
    import_path: str | None,
) -> dict[str, list[Manifest]]:
    """line -> [its ClusterTrainingRuntime, its TrainJob template]; `namespaces` maps queue -> namespace."""
    out: dict[str, list[Manifest]] = {}
    for line in lines:
        fleet = fleets[line.training.fleet]
        dataset = dataset_dir(line.dataset, mount_path, import_path)
        out[line.name] = [
            cluster_training_runtime(line, fleet, dataset, mount_path),
            train_job(line, namespaces[line.training.queue], fleet),
        ]
    return out
