"""Serving of the production lines: a vLLM `LeaderWorkerSet` per line, admitted by Kueue (pure: no Pulumi).

Objects are `leaderworkerset.x-k8s.io/v1`, the API LeaderWorkerSet v0.10.0 serves (kubernetes-sigs/lws
config/crd/bases, copied to tests/fixtures/crds). A line with `serving` gets, in its serving queue's
namespace (a LocalQueue serves only workloads of its own namespace, Kueue concepts/local_queue.md):

- `LeaderWorkerSet <line>-serve`: `replicas` groups of `size` pods. A replica within one node is one pod
  running `vllm serve` with tensor parallel over its accelerators. A larger replica takes whole nodes,
  one pod each: the leader starts the Ray head and `vllm serve` with tensor parallel = the node's
  accelerators and pipeline parallel = the group's nodes, the workers join its Ray cluster (vLLM docs
  deployment/frameworks/lws.md "Deploy and Serve", examples/online_serving/multi-node-serving.sh: vLLM's
  multi-node serving runs on Ray). LWS injects `LWS_LEADER_ADDRESS` and `LWS_GROUP_SIZE` into every pod
  (lws api/leaderworkerset/v1 leaderworkerset_types.go @v0.10.0).
- `Service <line>-serve`: the leader pods (worker index 0) on `serving.port`; the leader serves vLLM's
  OpenAI-compatible API there and reports readiness on `/health`.

The model location is one field: the environment variable `MODEL_URI` of the container that runs
`vllm serve` (the leader; the only container of a one-pod replica), passed to it as the model path.
It starts as the line's directory under the registry's artifact store as the FSx mount shows it, where
the registry publishes model versions; the cycle's rollout step sets it to the published version's
location, which rolls the groups over one at a time. The model is served under `serving.model` (default:
the line's name).

Kueue admits each group as one workload through the serving queue's LocalQueue (`kueue.x-k8s.io/
queue-name` on the LeaderWorkerSet; Kueue site/content/en/docs/tasks/run/leaderworkerset.md @v0.19.2),
at the serving WorkloadPriorityClass, above every training priority. The ClusterQueues of a line share a
cohort (`production_rules.serving_shares_training_cohort`): serving lends its idle nominal quota to
training and reclaims it by preemption (`reclaimWithinCohort: Any`, see `cluster_queue`): a queue
within its nominal quota preempts workloads of borrowing queues in its cohort, of any priority (Kueue
concepts/preemption.md "Classic Preemption", "Fair Sharing": the candidates are the same). The serving
queue sets no `lendingLimit`, so all of its idle quota lends (a lending limit would keep `nominalQuota -
lendingLimit` unused while serving is down), and no `borrowWithinCohort`, which Kueue allows only with
classical preemption, not with the fair sharing the factory's Kueue Configuration enables
(kueue.x-k8s.io_clusterqueues.yaml v1beta2 `preemption.borrowWithinCohort` @v0.19.2).

Kueue's `waitForPodsReady` applies to the groups too: a group whose pods are not all ready (the model
loaded) within its timeout is evicted and requeued. Kueue 0.19 has one timeout for every workload, so it is the
slowest line's `serving.readyMinutes` (`ClusterSettings.pods_ready_minutes`).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from ..planning.storage_sizing import CHECKPOINT_DIR, DATASETS_DIR
from ..spec.production import ProductionLine, ProductionSpec, Serving
from ..spec.production_rules import serving_layout
from ..spec.scheduler import Queue
from ..spec.storage import parse_s3_path
from .helm_values import SYSTEM_NODE_LABEL, HelmRelease
from .kubernetes_manifests import (
    EFA_HUGEPAGES,
    EFA_RESOURCE,
    FLEET_LABEL,
    FSX_CLAIM,
    KUEUE_API,
    LIBFABRIC_EFA_ENV,
    LINE_LABEL,
    PRIORITY_LABEL,
    QUEUE_LABEL,
    FleetCapacity,
    Manifest,
)

LWS_API = "leaderworkerset.x-k8s.io/v1"
# The name Kueue registers the LeaderWorkerSet integration under (pkg/controller/jobframework
# frameworkControllers; site/content/en/docs/tasks/run/leaderworkerset.md @v0.19.2: since v0.15 it
# needs no `pod` integration beside it).
LWS_FRAMEWORK = "leaderworkerset.x-k8s.io/leaderworkerset"
# kubernetes-sigs/lws site/content/en/docs/installation "Install by Helm": `helm install lws
# oci://registry.k8s.io/lws/charts/lws --version=<chart version>` into `lws-system`; the chart's values
# (charts/lws/values.yaml) take the manager image from `image.manager.repository`/`tag`.
LWS_CHART = "oci://registry.k8s.io/lws/charts/lws"
LWS_NAMESPACE = "lws-system"
LWS_IMAGE = "registry.k8s.io/lws/lws"
# Charts with the pre-install CRD hook (kubernetes-sigs/lws PR #886, charts/lws/README.md
# `crdUpgrade.image.repository`) pull it too; a sovereign stack mirrors it with the manager.
LWS_CRD_UPGRADE_IMAGE = "registry.k8s.io/lws/lws-upgrade-crd"
# Labels LWS sets on every pod (api/leaderworkerset/v1 leaderworkerset_types.go): the set's name and
# the pod's index in its group, 0 for the leader.
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
LWS_WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"

SERVING_PRIORITY = "aifactory-serving"
"""The WorkloadPriorityClass of every serving group, 1000 above the highest `scheduler.priorities` entry."""
MODEL_URI_ENV = "MODEL_URI"
"""The one field that says which model a line serves: an env var of the `vllm serve` container."""
SERVE_CONTAINER = "vllm"
# Ray's default head port (Ray docs "Configuring Ray": `ray start --head --port`, default 6379).
RAY_PORT = 6379
SHM_VOLUME = {"name": "dshm", "emptyDir": {"medium": "Memory"}}
MODEL_VOLUME = "models"


def serving_name(line: ProductionLine) -> str:
    return f"{line.name}-serve"


LWS_RELEASE = "lws"


def lws_release(version: str) -> HelmRelease:
    """The LeaderWorkerSet controller, pinned, on the system nodes (the image tag is the release's own,
    `v<chart version>`: the chart's default tag is the development one)."""
    return HelmRelease(
        LWS_RELEASE,
        LWS_NAMESPACE,
        LWS_CHART,
        version,
        None,
        {
            "image": {"manager": {"tag": f"v{version}", "pullPolicy": "IfNotPresent"}},
            "nodeSelector": SYSTEM_NODE_LABEL,
        },
        {"image.manager.repository": LWS_IMAGE, "crdUpgrade.image.repository": LWS_CRD_UPGRADE_IMAGE},
    )


def with_leaderworkerset(kueue_config: Manifest) -> Manifest:
    """The Kueue Configuration with the LeaderWorkerSet integration added to its frameworks."""
    integrations = dict(kueue_config.get("integrations", {}))
    frameworks = list(integrations.get("frameworks", []))
    if LWS_FRAMEWORK not in frameworks:
        frameworks.append(LWS_FRAMEWORK)
    return {**kueue_config, "integrations": {**integrations, "frameworks": frameworks}}


def serving_priority_class(priorities: Sequence[str]) -> Manifest:
    """Above every priority of `workload_priority_classes` (highest `len(priorities) * 1000`)."""
    return {
        "apiVersion": KUEUE_API,
        "kind": "WorkloadPriorityClass",
        "metadata": {"name": SERVING_PRIORITY},
        "value": (len(priorities) + 1) * 1000,
        "description": "aifactory serving: above every training priority",
    }


def mounted_location(location: str, mount_path: str, import_link: str | None, export_link: str | None) -> str:
    """`location` as the pods see it on the FSx mount: a path as it is; an `s3://` location under the
    import link under `<mount>/datasets`, under the export link under `<mount>/checkpoints` (the data
    repository associations of `storage.py`). `production_rules.registry_valid` admits nothing else."""
    s3 = parse_s3_path(location)
    if s3 is None:
        return location
    for link, directory in ((import_link, DATASETS_DIR), (export_link, CHECKPOINT_DIR)):
        linked = parse_s3_path(link) if link is not None else None
        if linked is not None and s3.uri.startswith(linked.uri):
            return f"{mount_path.rstrip('/')}/{directory}/{s3.uri[len(linked.uri) :]}".rstrip("/")
    raise ValueError(f"'{location}' is under neither data repository link of the file system")


def _uses_efa(fleet: FleetCapacity, accelerators: int) -> bool:
    """A pod on a whole EFA node takes its EFA devices: it is one node of a multi-node replica, or the
    node's only pod. A pod on part of a node leaves them to the others (its replica talks over NVLink)."""
    return bool(fleet.efa_per_node) and accelerators == fleet.accelerators_per_node


def _pod_resources(fleet: FleetCapacity, accelerators: int) -> dict[str, Any]:
    """The accelerators, and with `_uses_efa` the node's EFA devices and the hugepages EFA needs."""
    amounts: dict[str, Any] = {fleet.accelerator_resource: accelerators}
    if _uses_efa(fleet, accelerators):
        amounts |= {EFA_RESOURCE: fleet.efa_per_node, "hugepages-2Mi": EFA_HUGEPAGES}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def _vllm_args(line: ProductionLine, serving: Serving, tensor: int, pipeline: int) -> list[str]:
    args = [
        "--served-model-name",
        serving.model or line.name,
        "--port",
        str(serving.port),
        "--tensor-parallel-size",
        str(tensor),
    ]
    if pipeline > 1:
        args += ["--pipeline-parallel-size", str(pipeline), "--distributed-executor-backend", "ray"]
    return args + list(serving.args)


def leader_script(line: ProductionLine, serving: Serving, tensor: int, pipeline: int) -> str:
    """Ray head, a wait until every worker of the group has joined, then `vllm serve` on the group."""
    count = (
        'python3 -c \'import ray; ray.init(address="auto", logging_level="ERROR"); '
        'print(sum(1 for n in ray.nodes() if n["Alive"]))\''
    )
    serve = " ".join(shlex.quote(a) for a in _vllm_args(line, serving, tensor, pipeline))
    return "\n".join(
        [
            "set -eu",
            f"ray start --head --port={RAY_PORT}",
            f'until [ "$({count})" -ge "$LWS_GROUP_SIZE" ]; do sleep 5; done',
            f'exec vllm serve "${MODEL_URI_ENV}" {serve}',
        ]
    )


def worker_script() -> str:
    """Wait for the leader's Ray head, then join it and stay in the foreground."""
    return "\n".join(
        [
            "set -eu",
            f'until (exec 3<>"/dev/tcp/$LWS_LEADER_ADDRESS/{RAY_PORT}") 2>/dev/null; do sleep 2; done',
            f'exec ray start --address="$LWS_LEADER_ADDRESS:{RAY_PORT}" --block',
        ]
    )


def _pod_template(
    line: ProductionLine, queue: Queue, fleet: FleetCapacity, mount_path: str, container: dict[str, Any]
) -> Manifest:
    # libfabric's EFA provider for NCCL's pipeline traffic; NCCL uses EFA through the aws-ofi-nccl
    # plugin, which the serving image must carry (without it NCCL falls back to TCP sockets).
    efa = EFA_RESOURCE in container["resources"]["limits"]
    env = [{"name": k, "value": v} for k, v in LIBFABRIC_EFA_ENV.items()] if efa else []
    # The weights come from the file system, never a model hub: a sovereign factory has no way out.
    env.append({"name": "HF_HUB_OFFLINE", "value": "1"})
    container["env"] = [*container.get("env", []), *env]
    container["volumeMounts"] = [
        {"name": SHM_VOLUME["name"], "mountPath": "/dev/shm"},
        {"name": MODEL_VOLUME, "mountPath": mount_path, "readOnly": True},
    ]
    return {
        "metadata": {"labels": {LINE_LABEL: line.name, QUEUE_LABEL: queue.name, PRIORITY_LABEL: SERVING_PRIORITY}},
        "spec": {
            "nodeSelector": {FLEET_LABEL: fleet.name},
            "tolerations": [t.toleration() for t in fleet.node_taints],
            "containers": [container],
            "volumes": [SHM_VOLUME, {"name": MODEL_VOLUME, "persistentVolumeClaim": {"claimName": FSX_CLAIM}}],
        },
    }


def leader_worker_set(
    line: ProductionLine, queue: Queue, fleet: FleetCapacity, mount_path: str, model_uri: str
) -> Manifest:
    """The line's LeaderWorkerSet on `fleet`, admitted through `queue` (see the module docstring)."""
    serving = line.serving
    if serving is None:
        raise ValueError(f"line '{line.name}' has no serving")
    tensor, size = serving_layout(serving.gpus_per_replica, fleet.accelerators_per_node)
    resources = _pod_resources(fleet, tensor)
    serve_port = {"containerPort": serving.port, "name": "http"}
    readiness = {"httpGet": {"path": "/health", "port": serving.port}, "periodSeconds": 10, "failureThreshold": 3}
    model = [{"name": MODEL_URI_ENV, "value": model_uri}]
    image = serving.image
    template: dict[str, Any] = {"size": size, "restartPolicy": "RecreateGroupOnPodRestart"}
    if size == 1:
        # Without a leader template LWS runs the worker template as the leader (leaderworkerset_types.go).
        # Kubernetes expands `$(MODEL_URI)` in args from the container's env (Pod API, "Define a command").
        template["workerTemplate"] = _pod_template(
            line,
            queue,
            fleet,
            mount_path,
            {
                "name": SERVE_CONTAINER,
                "image": image,
                "command": ["vllm", "serve"],
                "args": [f"$({MODEL_URI_ENV})", *_vllm_args(line, serving, tensor, 1)],
                "env": model,
                "ports": [serve_port],
                "readinessProbe": readiness,
                "resources": resources,
            },
        )
    else:
        template["leaderTemplate"] = _pod_template(
            line,
            queue,
            fleet,
            mount_path,
            {
                "name": SERVE_CONTAINER,
                "image": image,
                "command": ["/bin/bash", "-c", leader_script(line, serving, tensor, size)],
                "env": model,
                "ports": [serve_port, {"containerPort": RAY_PORT, "name": "ray"}],
                "readinessProbe": readiness,
                "resources": resources,
            },
        )
        template["workerTemplate"] = _pod_template(
            line,
            queue,
            fleet,
            mount_path,
            {
                "name": "ray-worker",
                "image": image,
                "command": ["/bin/bash", "-c", worker_script()],
                "resources": resources,
            },
        )
    return {
        "apiVersion": LWS_API,
        "kind": "LeaderWorkerSet",
        "metadata": {
            "name": serving_name(line),
            "namespace": queue.namespace,
            "labels": {LINE_LABEL: line.name, QUEUE_LABEL: queue.name, PRIORITY_LABEL: SERVING_PRIORITY},
        },
        "spec": {
            "replicas": serving.replicas,
            # A group is whole or gone: a lost Ray worker breaks its leader's engine.
            "leaderWorkerTemplate": template,
            # One group at a time, no surge: a rollout needs no quota beyond the replicas'.
            "rolloutStrategy": {
                "type": "RollingUpdate",
                "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0},
            },
            # Workers start with the leader; they wait for its Ray head themselves (`worker_script`).
            "startupPolicy": "LeaderCreated",
        },
    }


def leader_service(line: ProductionLine, queue: Queue) -> Manifest:
    """The leaders of the line's groups on the serving port."""
    serving = line.serving
    if serving is None:
        raise ValueError(f"line '{line.name}' has no serving")
    name = serving_name(line)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": queue.namespace, "labels": {LINE_LABEL: line.name}},
        "spec": {
            "type": "ClusterIP",
            "selector": {LWS_NAME_LABEL: name, LWS_WORKER_INDEX_LABEL: "0"},
            "ports": [{"name": "http", "port": serving.port, "targetPort": serving.port, "protocol": "TCP"}],
        },
    }


def serving_objects(
    production: ProductionSpec,
    queues: Sequence[Queue],
    fleets: Mapping[str, FleetCapacity],
    priorities: Sequence[str],
    mount_path: str,
    data_links: tuple[str | None, str | None],
) -> list[Manifest]:
    """Every line's LeaderWorkerSet and Service, and the serving priority class when any line serves.

    `data_links`: the file system's import and export S3 links (`storage.s3ImportPath`, `s3ExportPath`),
    for a registry whose artifacts are on S3.
    """
    by_name = {q.name: q for q in queues}
    objects: list[Manifest] = []
    for line in production.lines:
        if line.serving is None:
            continue
        queue = by_name[line.serving.queue]
        artifacts = mounted_location(production.registry.artifacts, mount_path, *data_links)
        uri = f"{artifacts.rstrip('/')}/{line.name}"
        objects += [
            leader_worker_set(line, queue, fleets[line.serving.fleet], mount_path, uri),
            leader_service(line, queue),
        ]
    return [serving_priority_class(priorities), *objects] if objects else []
