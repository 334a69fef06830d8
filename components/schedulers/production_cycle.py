"""A production line's cycle as Argo Workflows objects: train -> evaluate -> publish -> roll out (pure).

Per line, in the line's namespace (its training queue's):
- a `WorkflowTemplate` `<line>-cycle` whose DAG creates the line's TrainJob and waits for it, runs the
  evaluation container, publishes the model to the registry when the metric passes the threshold, and
  points the serving object `<line>-serve` at the new version;
- a `CronWorkflow` `<line>-cycle` for `trigger.schedule`, and one `<line>-new-data` that polls the
  dataset for `trigger.onNewData`;
- the workflow pods' ServiceAccount, Role and RoleBinding, and the ConfigMap of the scripts they run.

Argo objects are `argoproj.io/v1alpha1` as Argo Workflows v4.1.2 serves them (argoproj/argo-workflows
manifests/base/crds/full @v4.1.2). Kueue admits every pod that needs capacity through the `pod`
integration (`kueue_pod_integration`): Kueue has no Workflow integration and manages the plain pods an
Argo workflow creates (kueue site docs tasks/run/external_workloads/argo_workflow.md, plain_pods.md
@v0.19).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import yaml

from ..spec.production import ProductionLine, RegistrySpec
from ..spec.scheduler import Queue
from .helm_values import SYSTEM_NODE_LABEL, HelmRelease
from .kubernetes_manifests import (
    FLEET_LABEL,
    FSX_CLAIM,
    LINE_LABEL,
    QUEUE_LABEL,
    FleetCapacity,
    Manifest,
)
from .training_manifests import dataset_dir, train_job

ARGO_API = "argoproj.io/v1alpha1"
ARGO_WORKFLOWS_VERSION = "v4.1.2"
"""The Argo Workflows release the controller and executor images run (the CRDs the tests validate against)."""
ARGO_RELEASE = "argo-workflows"
ARGO_NAMESPACE = "argo"
ARGO_CHART = "argo-workflows"
ARGO_REPOSITORY = "https://argoproj.github.io/argo-helm"
ARGO_CONTROLLER_IMAGE = "quay.io/argoproj/workflow-controller"
ARGO_EXECUTOR_IMAGE = "quay.io/argoproj/argoexec"

# The argo-helm chart names an image `registry/repository` when both are set and `repository` alone
# otherwise (charts/argo-workflows/templates/_helpers.tpl `argo-workflows.image`): the registry is left
# empty so the repository carries the whole reference and `mirror_release` rewrites it in one value.
_NO_REGISTRY = ""
# The executor's init and wait containers run in every workflow pod; Kueue sums the requests of all of a
# pod's containers into its workload (kueue site docs concepts/workload.md), so they request a little.
EXECUTOR_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
# Finished workflows are kept a week for `argo get`/`kubectl`, then garbage-collected with their pods
# (argo-workflows docs/fields.md TTLStrategy, PodGC).
WORKFLOW_TTL_SECONDS = 7 * 24 * 3600
HISTORY_LIMIT = 5
NEW_DATA_POLL = "*/15 * * * *"
"""How often a line with `trigger.onNewData` looks for new data (every 15 minutes)."""

TRAINER_API_GROUP = "trainer.kubeflow.org"
# TrainJob condition types (kubeflow/trainer pkg/apis/trainer/v1alpha1/trainjob_types.go @v2.3.0:
# `TrainJobComplete = "Complete"`, `TrainJobFailed = "Failed"`). Argo evaluates resource conditions as
# gjson paths over the object (argo-workflows workflow/executor/resource.go), so a `#(...)` query picks
# the condition of a type out of the list whatever its position.
TRAIN_SUCCESS = 'status.conditions.#(type=="Complete").status == "True"'
TRAIN_FAILURE = 'status.conditions.#(type=="Failed").status == "True"'

SCRIPTS_DIR = "/aifactory/scripts"
OUTPUT_DIR = "/tmp/aifactory"
PUBLISH_SCRIPT = "publish_model.py"
NEW_DATA_SCRIPT = "new_data.sh"
MODEL_URI_ANNOTATION = "aifactory.io/model-uri"
"""Set on the serving object's pod template by the rollout; the server reads the version it serves from it
(downward API `metadata.annotations['aifactory.io/model-uri']`), and the changed template rolls the pods."""
MODEL_URI_FILE = f"{OUTPUT_DIR}/model-uri"
DEFAULT_ALIAS = "production"
"""The registry alias the cycle moves to each version that passes evaluation."""
MLFLOW_PORT = 5000
MLFLOW_SERVICE = "mlflow"


@dataclass(frozen=True)
class ServingTarget:
    """The serving object the rollout patches: its API, kind, resource and where its pod templates are."""

    api_version: str
    kind: str
    resource: str
    template_paths: tuple[tuple[str, ...], ...]


LEADER_WORKER_SET = ServingTarget(
    "leaderworkerset.x-k8s.io/v1",
    "LeaderWorkerSet",
    "leaderworkersets",
    # LeaderWorkerSet spec.leaderWorkerTemplate.{leaderTemplate,workerTemplate} (lws config/crd/bases @v0.10.0);
    # a change to either template is a rolling update of the groups.
    (("spec", "leaderWorkerTemplate", "workerTemplate"),),
)


def _script(name: str) -> str:
    return files("aifactory.templates").joinpath("production", name).read_text()


def registry_tracking_uri(registry: RegistrySpec) -> str:
    """The in-cluster MLflow tracking server the publish step talks to (its Service in the registry's namespace)."""
    return f"http://{MLFLOW_SERVICE}.{registry.namespace}.svc:{MLFLOW_PORT}"


def registry_image(registry: RegistrySpec) -> str:
    """The image of the publish step: the registry's own MLflow image, which has the MLflow client."""
    if registry.image is None:
        raise ValueError("the cycle publishes to an MLflow registry, which has an image (production rules)")
    return registry.image


def argo_workflows_release(version: str, namespaces: Sequence[str]) -> HelmRelease:
    """The Argo Workflows controller only, pinned, managing the lines' namespaces.

    - No Argo Server: a private cluster's users reach workflows through the Kubernetes API (`kubectl`,
      `argo --kubeconfig`) under their own RBAC; the server would be one more endpoint and identity
      path to secure (argo-workflows docs/architecture.md: "the Controller can be used stand alone").
    - Cluster install limited to the line namespaces: `controller.workflowNamespaces` binds the
      controller's Role in each of them only (argo-helm charts/argo-workflows values.yaml).
    - The chart's workflow ServiceAccount and Role are off: each line brings its own least-privilege
      account (`workflow_rbac`).
    - `images.tag` pins controller and executor to the release whose CRDs the objects are validated against.
    """
    return HelmRelease(
        ARGO_RELEASE,
        ARGO_NAMESPACE,
        ARGO_CHART,
        version,
        ARGO_REPOSITORY,
        {
            "images": {"tag": ARGO_WORKFLOWS_VERSION, "pullPolicy": "IfNotPresent"},
            "crds": {"install": True, "keep": True},
            "singleNamespace": False,
            "workflow": {"serviceAccount": {"create": False}, "rbac": {"create": False}},
            "controller": {
                "image": {"registry": _NO_REGISTRY, "repository": ARGO_CONTROLLER_IMAGE},
                "workflowNamespaces": list(namespaces),
                "nodeSelector": SYSTEM_NODE_LABEL,
                "replicas": 2,
                "pdb": {"enabled": True, "minAvailable": 1},
            },
            "executor": {
                "image": {"registry": _NO_REGISTRY, "repository": ARGO_EXECUTOR_IMAGE},
                "resources": EXECUTOR_RESOURCES,
            },
            "server": {"enabled": False},
        },
        {"controller.image.repository": ARGO_CONTROLLER_IMAGE, "executor.image.repository": ARGO_EXECUTOR_IMAGE},
    )


# Kueue's plain-Pod integration (site docs tasks/run/plain_pods.md @v0.19): framework `pod`, limited by
# `managedJobsNamespaceSelector` so system pods are never gated; a pod is managed only when it carries
# `kueue.x-k8s.io/queue-name` (manageJobsWithoutQueueName stays false), and pods of Jobs, JobSets and
# TrainJobs stay with their own integration. Kueue's namespace must never match.
POD_FRAMEWORK = "pod"
UNMANAGED_NAMESPACES = ("kube-system", "kueue-system", ARGO_NAMESPACE)


def kueue_pod_integration(config: Mapping[str, Any]) -> dict[str, Any]:
    """The Kueue Configuration with the `pod` framework on, for the workflow steps' pods."""
    out = dict(config)
    integrations = dict(out.get("integrations", {}))
    frameworks = list(integrations.get("frameworks", []))
    if POD_FRAMEWORK not in frameworks:
        frameworks.append(POD_FRAMEWORK)
    integrations["frameworks"] = frameworks
    out["integrations"] = integrations
    out["managedJobsNamespaceSelector"] = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(UNMANAGED_NAMESPACES)}
        ]
    }
    return out


def cycle_name(line: ProductionLine) -> str:
    return f"{line.name}-cycle"


def workflow_rbac(
    line: ProductionLine, namespace: str, serving: ServingTarget, serving_namespace: str | None
) -> list[Manifest]:
    """The workflow pods' ServiceAccount and Roles with only what the steps do.

    - `workflowtaskresults` create/patch: the executor reports each step's outputs through them
      (argo-workflows docs/workflow-rbac.md, v3.4 and later);
    - TrainJobs create/get/watch: the train step creates the line's TrainJob and watches its conditions;
    - the serving object get/patch, by name, in the serving queue's namespace (a LocalQueue admits only
      its own namespace's workloads, so the serving object lives there): the rollout patches
      `<line>-serve` only.
    """
    name = cycle_name(line)
    labels = {LINE_LABEL: line.name}
    rules: list[dict[str, Any]] = [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
        {"apiGroups": [TRAINER_API_GROUP], "resources": ["trainjobs"], "verbs": ["create", "get", "watch"]},
    ]
    subject = {"kind": "ServiceAccount", "name": name, "namespace": namespace}
    meta = {"name": name, "namespace": namespace, "labels": labels}
    objects: list[Manifest] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        *_role(meta, rules, subject),
    ]
    if serving_namespace is not None:
        serve_rules = [
            {
                "apiGroups": [serving.api_version.split("/")[0]],
                "resources": [serving.resource],
                "resourceNames": [serving_name(line)],
                "verbs": ["get", "patch"],
            }
        ]
        objects += _role(
            {"name": f"{name}-rollout", "namespace": serving_namespace, "labels": labels}, serve_rules, subject
        )
    return objects


def _role(meta: dict[str, Any], rules: list[dict[str, Any]], subject: dict[str, str]) -> list[Manifest]:
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": meta["name"]},
            "subjects": [subject],
        },
    ]


def serving_name(line: ProductionLine) -> str:
    return f"{line.name}-serve"


def scripts_config_map(line: ProductionLine, namespace: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{cycle_name(line)}-scripts", "namespace": namespace, "labels": {LINE_LABEL: line.name}},
        "data": {PUBLISH_SCRIPT: _script(PUBLISH_SCRIPT), NEW_DATA_SCRIPT: _script(NEW_DATA_SCRIPT)},
    }


def _passes(line: ProductionLine) -> str:
    """The publish task's `when`: the metric out of the metrics JSON against the threshold.

    Argo expression tags `{{=...}}` evaluate expr, with `jsonpath` and `asFloat`, in a task's `when`
    (argo-workflows docs/variables.md "Expression", examples/conditionals.yaml `print-hello-expr-json`);
    the key is bracket-quoted so a metric name with `.` or `-` is one key.
    """
    e = line.evaluation
    op = "<=" if e.goal == "minimize" else ">="
    key = json.dumps(e.metric)
    value = f"asFloat(jsonpath(tasks.evaluate.outputs.parameters.metrics, '$[{key}]'))"
    return "{{=" + f"{value} {op} {float(e.threshold)!r}" + "}}"


def _volumes(line: ProductionLine) -> list[dict[str, Any]]:
    return [
        {"name": "fsx", "persistentVolumeClaim": {"claimName": FSX_CLAIM}},
        {"name": "scripts", "configMap": {"name": f"{cycle_name(line)}-scripts"}},
    ]


def _mounts(mount_path: str) -> list[dict[str, Any]]:
    return [
        {"name": "fsx", "mountPath": mount_path},
        {"name": "scripts", "mountPath": SCRIPTS_DIR, "readOnly": True},
    ]


def _queued(queue: str, fleet: str) -> dict[str, Any]:
    """Template metadata and node selector of a step Kueue admits through `queue` on `fleet`.

    The queue label on the pod is what the `pod` integration admits by (plain_pods.md "Queue selection");
    the fleet label narrows Kueue's flavor choice to that fleet's flavor, whose nodeLabels it is
    (kueue site docs concepts/resource_flavor.md: a flavor whose labels the pod's selector excludes is skipped).
    """
    return {"metadata": {"labels": {QUEUE_LABEL: queue}}, "nodeSelector": {FLEET_LABEL: fleet}}


def _env(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def _resource_block(accelerator_resource: str | None, accelerators: int) -> dict[str, Any]:
    requests: dict[str, Any] = {"cpu": "1", "memory": "4Gi"}
    if accelerator_resource is None:
        return {"requests": requests, "limits": {"memory": "4Gi"}}
    return {"requests": requests | {accelerator_resource: accelerators}, "limits": {accelerator_resource: accelerators}}


def workflow_template(
    line: ProductionLine,
    namespace: str,
    train_job: Manifest,
    eval_fleet: FleetCapacity,
    registry: RegistrySpec,
    mount_path: str,
    serving_namespace: str | None,
    serving: ServingTarget = LEADER_WORKER_SET,
) -> Manifest:
    """The line's `WorkflowTemplate`: DAG train -> evaluate -> publish (metric passes) -> rollout (serving).

    `train_job` is the line's TrainJob manifest (`generateName`, so each run creates its own); the
    train and rollout steps are `resource` templates, whose pods only call the API: Kueue admits the
    TrainJob itself through its LocalQueue and the serving pods through the serving queue, and does not
    manage resource templates (argo_workflow.md "Limitations"). The evaluate and publish pods are
    admitted through the evaluation queue.
    """
    e = line.evaluation
    queue = e.queue or line.training.queue
    fleet = e.fleet or line.training.fleet
    checkpoint = line.training.checkpoint.directory
    manifest = dict(train_job)
    manifest["metadata"] = {k: v for k, v in train_job["metadata"].items() if k != "name"} | {
        "generateName": f"{line.name}-train-",
        "namespace": namespace,
    }
    templates: list[dict[str, Any]] = [
        {
            "name": "train",
            "outputs": {"parameters": [{"name": "trainjob", "valueFrom": {"jsonPath": "{.metadata.name}"}}]},
            "resource": {
                "action": "create",
                "manifest": yaml.safe_dump(manifest, sort_keys=False),
                "successCondition": TRAIN_SUCCESS,
                "failureCondition": TRAIN_FAILURE,
            },
        },
        {
            "name": "evaluate",
            **_queued(queue, fleet),
            "container": {
                "image": e.image,
                "command": list(e.command),
                "env": _env({"AIFACTORY_CHECKPOINT_DIR": checkpoint}),
                "resources": _resource_block(eval_fleet.accelerator_resource, e.gpus),
                "volumeMounts": _mounts(mount_path),
            },
            "outputs": {"parameters": [{"name": "metrics", "valueFrom": {"path": e.metrics_file}}]},
        },
        {
            "name": "publish",
            **_queued(queue, fleet),
            "inputs": {"parameters": [{"name": "metrics"}]},
            "container": {
                "image": registry_image(registry),
                "command": ["python", f"{SCRIPTS_DIR}/{PUBLISH_SCRIPT}"],
                "env": _env(
                    {
                        "MLFLOW_TRACKING_URI": registry_tracking_uri(registry),
                        "MODEL_NAME": line.name,
                        "MODEL_DIR": checkpoint,
                        "ALIAS": DEFAULT_ALIAS,
                        "METRIC_NAME": e.metric,
                        "METRICS_JSON": "{{inputs.parameters.metrics}}",
                        "RUN_NAME": "{{workflow.name}}",
                        "OUTPUT_FILE": MODEL_URI_FILE,
                    }
                ),
                "resources": _resource_block(None, 0),
                "volumeMounts": _mounts(mount_path),
            },
            "outputs": {"parameters": [{"name": "model-uri", "valueFrom": {"path": MODEL_URI_FILE}}]},
        },
    ]
    tasks: list[dict[str, Any]] = [
        {"name": "train", "template": "train"},
        {"name": "evaluate", "template": "evaluate", "depends": "train.Succeeded"},
        {
            "name": "publish",
            "template": "publish",
            "depends": "evaluate.Succeeded",
            "when": _passes(line),
            "arguments": {
                "parameters": [{"name": "metrics", "value": "{{tasks.evaluate.outputs.parameters.metrics}}"}]
            },
        },
    ]
    if serving_namespace is not None:
        templates.append(rollout_template(line, serving_namespace, serving))
        tasks.append(
            {
                "name": "rollout",
                "template": "rollout",
                "depends": "publish.Succeeded",
                "arguments": {
                    "parameters": [{"name": "model-uri", "value": "{{tasks.publish.outputs.parameters.model-uri}}"}]
                },
            }
        )
    templates.insert(0, {"name": "cycle", "dag": {"tasks": tasks}})
    return {
        "apiVersion": ARGO_API,
        "kind": "WorkflowTemplate",
        "metadata": {"name": cycle_name(line), "namespace": namespace, "labels": {LINE_LABEL: line.name}},
        "spec": {
            "entrypoint": "cycle",
            "serviceAccountName": cycle_name(line),
            "podMetadata": {"labels": {LINE_LABEL: line.name}},
            "volumes": _volumes(line),
            "ttlStrategy": {"secondsAfterCompletion": WORKFLOW_TTL_SECONDS},
            "podGC": {"strategy": "OnPodSuccess"},
            "templates": templates,
        },
    }


def rollout_template(line: ProductionLine, namespace: str, serving: ServingTarget) -> dict[str, Any]:
    """A `resource` patch of `<line>-serve`: the new version's URI on its pod templates (a merge patch of
    annotations only, so nothing else the serving object declares is touched)."""
    patch: dict[str, Any] = {
        "apiVersion": serving.api_version,
        "kind": serving.kind,
        "metadata": {
            "name": serving_name(line),
            "namespace": namespace,
            "annotations": {MODEL_URI_ANNOTATION: "{{inputs.parameters.model-uri}}"},
        },
    }
    for path in serving.template_paths:
        node = patch
        for key in path:
            node = node.setdefault(key, {})
        node["metadata"] = {"annotations": {MODEL_URI_ANNOTATION: "{{inputs.parameters.model-uri}}"}}
    return {
        "name": "rollout",
        "inputs": {"parameters": [{"name": "model-uri"}]},
        "resource": {"action": "patch", "mergeStrategy": "merge", "manifest": yaml.safe_dump(patch, sort_keys=False)},
    }


def _cron(name: str, line: ProductionLine, namespace: str, schedule: str, workflow_spec: dict[str, Any]) -> Manifest:
    """A CronWorkflow that never overlaps itself: `Forbid` skips a start while the last run is still going
    (argo-workflows docs/cron-workflows.md `concurrencyPolicy`), so one line trains one model at a time."""
    trigger = line.trigger
    timezone = trigger.timezone if trigger is not None else "UTC"
    return {
        "apiVersion": ARGO_API,
        "kind": "CronWorkflow",
        "metadata": {"name": name, "namespace": namespace, "labels": {LINE_LABEL: line.name}},
        "spec": {
            "schedules": [schedule],
            "timezone": timezone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": HISTORY_LIMIT,
            "failedJobsHistoryLimit": HISTORY_LIMIT,
            "workflowMetadata": {"labels": {LINE_LABEL: line.name}},
            "workflowSpec": workflow_spec,
        },
    }


def scheduled_cycle(line: ProductionLine, namespace: str) -> Manifest | None:
    """`trigger.schedule`: the cycle's WorkflowTemplate on the schedule, in the trigger's time zone."""
    if line.trigger is None or line.trigger.schedule is None:
        return None
    return _cron(
        cycle_name(line), line, namespace, line.trigger.schedule, {"workflowTemplateRef": {"name": cycle_name(line)}}
    )


def new_data_cycle(line: ProductionLine, namespace: str, dataset_dir: str, mount_path: str) -> Manifest | None:
    """`trigger.onNewData`: every 15 minutes, look at the dataset's directory on the file system and run
    the cycle only when a file there is newer than the last successful run's marker.

    Why a poll of the file system: the dataset's S3 prefix is the file system's import link, whose
    auto-import policy brings new, changed and deleted objects into the file system (FSx for Lustre
    user guide, "Automatically import updates from your S3 bucket"; `storage.S3_EVENTS`), so every
    object the bucket receives shows up under the mounted directory. Reading it needs no IAM role, no
    S3 or SQS endpoint and no event-source controller: it works in a private, sovereign cluster with
    nothing but the FSx claim every line namespace already has. An S3 event -> SQS -> Argo Events
    source would react sooner but needs an SQS endpoint, a queue policy, Pod Identity and another
    controller, for a start that waits on a multi-hour training run anyway.

    The marker (`<checkpoint dir>/.aifactory-data-marker`, where the line's pods already write) holds the
    newest file's modification time the last successful run saw, so data that lands while a run trains
    starts the next one.
    """
    if line.trigger is None or not line.trigger.on_new_data:
        return None
    t = line.training
    marker = f"{t.checkpoint.directory.rstrip('/')}/.aifactory-data-marker"
    found = f"{OUTPUT_DIR}/new-data"

    def check(name: str, env: Mapping[str, str], outputs: bool) -> dict[str, Any]:
        template: dict[str, Any] = {
            "name": name,
            **_queued(t.queue, t.fleet),
            "container": {
                "image": t.image,
                "command": ["sh", f"{SCRIPTS_DIR}/{NEW_DATA_SCRIPT}"],
                "env": _env({"DATASET_DIR": dataset_dir, "MARKER_FILE": marker, "OUTPUT_FILE": found, **env}),
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "128Mi"}},
                "volumeMounts": _mounts(mount_path),
            },
        }
        if outputs:
            template["outputs"] = {"parameters": [{"name": "newest", "valueFrom": {"path": found}}]}
        else:
            template["inputs"] = {"parameters": [{"name": "newest"}]}
        return template

    newest = "{{tasks.check.outputs.parameters.newest}}"
    spec = {
        "entrypoint": "on-new-data",
        "serviceAccountName": cycle_name(line),
        "podMetadata": {"labels": {LINE_LABEL: line.name}},
        "volumes": _volumes(line),
        "ttlStrategy": {"secondsAfterCompletion": WORKFLOW_TTL_SECONDS},
        "podGC": {"strategy": "OnPodSuccess"},
        "templates": [
            {
                "name": "on-new-data",
                "dag": {
                    "tasks": [
                        {"name": "check", "template": "check"},
                        {
                            "name": "cycle",
                            "templateRef": {"name": cycle_name(line), "template": "cycle"},
                            "depends": "check.Succeeded",
                            "when": f"'{newest}' != 'none'",
                        },
                        {
                            "name": "mark",
                            "template": "mark",
                            "depends": "cycle.Succeeded",
                            "arguments": {"parameters": [{"name": "newest", "value": newest}]},
                        },
                    ]
                },
            },
            check("check", {}, outputs=True),
            check("mark", {"MARK": "{{inputs.parameters.newest}}"}, outputs=False),
        ],
    }
    return _cron(f"{line.name}-new-data", line, namespace, NEW_DATA_POLL, spec)


def line_cycle_objects(
    line: ProductionLine,
    namespace: str,
    train_job: Manifest,
    eval_fleet: FleetCapacity,
    registry: RegistrySpec,
    mount_path: str,
    dataset_dir: str,
    serving_namespace: str | None,
    serving: ServingTarget = LEADER_WORKER_SET,
) -> list[Manifest]:
    """Everything the line's cycle needs: RBAC, scripts, the template and its triggers; `serving_namespace`
    is the serving queue's (None without serving)."""
    objects = [
        *workflow_rbac(line, namespace, serving, serving_namespace),
        scripts_config_map(line, namespace),
        workflow_template(line, namespace, train_job, eval_fleet, registry, mount_path, serving_namespace, serving),
    ]
    for cron in (scheduled_cycle(line, namespace), new_data_cycle(line, namespace, dataset_dir, mount_path)):
        if cron is not None:
            objects.append(cron)
    return objects


def production_cycles(
    lines: Sequence[ProductionLine],
    registry: RegistrySpec,
    queues: Sequence[Queue],
    fleets: Sequence[FleetCapacity],
    mount_path: str,
    import_path: str | None,
) -> list[Manifest]:
    """Every line's cycle objects, in its training queue's namespace."""
    namespace_of = {q.name: q.namespace for q in queues}
    fleet_of = {f.name: f for f in fleets}
    objects: list[Manifest] = []
    for line in lines:
        namespace = namespace_of[line.training.queue]
        job = train_job(line, namespace, fleet_of[line.training.fleet])
        eval_fleet = fleet_of[line.evaluation.fleet or line.training.fleet]
        dataset = dataset_dir(line.dataset, mount_path, import_path)
        serving_namespace = namespace_of[line.serving.queue] if line.serving is not None else None
        objects += line_cycle_objects(
            line, namespace, job, eval_fleet, registry, mount_path, dataset, serving_namespace
        )
    return objects


CYCLE_KINDS = frozenset({"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "WorkflowTemplate", "CronWorkflow"})
"""The kinds of a line's cycle objects (`line_cycle_objects`), each labelled with its line."""


def cycle_namespaces(objects: Sequence[Manifest]) -> list[str]:
    """The namespaces the cycles' workflows run in (the controller's `workflowNamespaces`)."""
    return list(dict.fromkeys(o["metadata"]["namespace"] for o in objects if o["kind"] == "WorkflowTemplate"))
