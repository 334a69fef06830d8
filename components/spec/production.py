"""`aifactory:production`: model lines that train, evaluate, publish and serve a model on the EKS cluster.

A line is one model's path through the factory: a dataset on the file system (or the S3 prefix behind
its data repository), a Kubeflow Trainer `TrainJob` submitted through a Kueue `LocalQueue`, an
evaluation container whose metric gates publishing, a model registry, and a serving deployment with
its own queue. The cross-field rules (queues, fleets, quotas, paths, images, schedules) are
`production_rules.py`; this module is the shape and the per-field syntax.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import NotNull, SpecModel, unit
from .numbers import Count, Integer, NonNegativeInt, Number, PositiveFloat

TrainingRuntimeKind = Literal["torch-efa"]
"""The package's built-in `ClusterTrainingRuntime`s. `torch-efa`: PyTorch distributed (`torchrun`,
one process per accelerator) over EFA with the NCCL settings of the instance type's catalog entry."""

RegistryKind = Literal["mlflow", "sagemaker"]
MetricGoal = Literal["minimize", "maximize"]

LINE_NAME_MAX = 40
"""A line's name prefixes the objects of its parts (`<line>-train`, `<line>-eval`, `<line>-serve`, the
Argo workflow's generated pod names), so it leaves room below the 63 characters of a DNS label."""

DEFAULT_METRICS_FILE = "/tmp/aifactory/metrics.json"
DEFAULT_SERVING_PORT = 8000
DEFAULT_REGISTRY_NAMESPACE = "aifactory-registry"
PODS_READY_MINUTES = 10
"""Kueue's `waitForPodsReady.timeout` without a slower serving line (the factory's setting since 0.1; Kueue's own
default is 5 minutes, site docs "Setup All-or-nothing with ready Pods")."""
MAX_PODS_READY_MINUTES = 6 * 60
"""Six hours: a replica not ready by then is broken, not loading."""


class RegistrySpec(SpecModel):
    """Where evaluated models are published and where serving takes them from."""

    kind: RegistryKind = Field(
        default="mlflow",
        description="`mlflow`: an MLflow tracking server and model registry deployed in the cluster from "
        "`image`, its model versions stored at `artifacts`. `sagemaker`: the SageMaker Model Registry of the "
        "stack's region (a model package group per line), commercial profile only: a sovereign factory has no "
        "internet egress and reaches AWS only through the VPC endpoints it creates, which do not include the "
        "SageMaker APIs, while MLflow keeps the registry's metadata in the cluster and its artifacts on the "
        "factory's in-region storage, from the mirrored image.",
    )
    image: str | None = Field(
        default=None,
        description="`mlflow` (required for it): the MLflow server image, pinned by digest or exact version "
        "tag (sovereign: under `sovereignty.registryMirror`). It needs `psycopg2` (the PostgreSQL store) and "
        "`boto3` (S3 artifacts, the database secret), which the upstream image lacks (mlflow/mlflow issue "
        "9513): build one `FROM` it with both installed.",
        examples=["ghcr.io/mlflow/mlflow:v3.1.1"],
    )
    artifacts: str = Field(
        description="Where model versions are stored: an `s3://bucket/prefix/` under one of the file "
        "system's data repository links (`storage.s3ImportPath` or `storage.s3ExportPath`). Both kinds need "
        "S3: the MLflow server (on the system nodes) proxies the prefix with its own pod identity, and "
        "SageMaker model packages name their model data in S3.",
        examples=["s3://acme-checkpoints/models/"],
    )
    namespace: str = Field(
        default=DEFAULT_REGISTRY_NAMESPACE,
        description="`mlflow`: namespace of the registry's Deployment and Service (a DNS label, not a system "
        "namespace).",
    )


class Checkpoint(SpecModel):
    """Where and how often the training job writes checkpoints; a restarted job resumes from the last one."""

    directory: str = Field(
        description="Absolute directory under `storage.mountPath` (the FSx for Lustre file system every "
        "training pod mounts); passed to the command as `AIFACTORY_CHECKPOINT_DIR`.",
        examples=["/fsx/checkpoints/chat-ft"],
    )
    interval_minutes: Count = Field(
        default=30,
        le=24 * 60,
        json_schema_extra=unit("min"),
        description="Minutes between checkpoints (at most a day); passed as `AIFACTORY_CHECKPOINT_INTERVAL_MINUTES` "
        "and bounds the work a node failure loses.",
    )


class Training(SpecModel):
    """The `TrainJob` of a line: its runtime, image, size and queue."""

    runtime: TrainingRuntimeKind = Field(
        default="torch-efa",
        description="Built-in `ClusterTrainingRuntime` the job references: `torch-efa` (PyTorch distributed over "
        "EFA, NCCL settings from the catalog, checkpoints on FSx).",
    )
    image: str = Field(
        description="Trainer image, pinned by digest (`@sha256:`) or an exact version tag, never `latest` "
        "(sovereign: under `sovereignty.registryMirror`).",
        examples=["nvcr.io/nvidia/pytorch:25.08-py3"],
    )
    command: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None,
        min_length=1,
        description="Container command (each argument a string); default: the runtime's launcher (`torchrun` "
        "with one process per accelerator) and the image's entry point.",
        examples=[["torchrun", "/workspace/train.py", "--config", "/fsx/configs/chat-ft.yaml"]],
    )
    nodes: Count = Field(json_schema_extra=unit("nodes"), description="Nodes the job runs on.", examples=[4])
    gpus_per_node: Count = Field(
        json_schema_extra=unit("accelerators"),
        description="Accelerators per node (at most the fleet instance type's); one training process each.",
        examples=[8],
    )
    fleet: str = Field(
        description="Fleet the job's pods run on, one of the queue's fleets (with accelerators).",
        examples=["train"],
    )
    queue: str = Field(
        description="Kueue queue (`scheduler.queues[].name`) the job is submitted to; the line's training "
        "objects live in its namespace.",
        examples=["research"],
    )
    priority: str | None = Field(
        default=None,
        description="Kueue WorkloadPriorityClass, one of `scheduler.priorities`; default: none.",
        examples=["fine-tuning"],
    )
    checkpoint: Checkpoint = Field(description="Checkpoint directory and interval {directory, intervalMinutes}.")
    # JobSet failurePolicy.maxRestarts is an int32 >= 0 (jobset api/jobset/v1alpha2/jobset_types.go @v0.12.0);
    # 100 bounds a crash loop that would otherwise hold the queue's quota for days.
    max_restarts: NonNegativeInt = Field(
        default=5,
        le=100,
        json_schema_extra=unit("restarts"),
        description="Times the whole job is recreated after a pod or node failure before it fails; each "
        "restart resumes from the last checkpoint.",
    )
    # A week of wall clock bounds a run the cost estimate multiplies; longer runs are split into jobs.
    expected_hours: PositiveFloat = Field(
        le=24 * 7,
        json_schema_extra=unit("h"),
        description="Expected wall-clock hours of one run; the plan prices a run as nodes x hours x the "
        "instance's hourly price.",
        examples=[12],
    )


class Evaluation(SpecModel):
    """The container that scores a trained model; its metric against the threshold gates publishing."""

    image: str = Field(
        description="Evaluation image, pinned by digest or exact version tag (sovereign: under the mirror).",
        examples=["nvcr.io/nvidia/pytorch:25.08-py3"],
    )
    command: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1,
        description="Container command; it reads the checkpoint from `AIFACTORY_CHECKPOINT_DIR` and writes a JSON "
        "object with `metric` as a key to `metricsFile`.",
        examples=[["python", "/workspace/eval.py"]],
    )
    metric: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$",
        description="Key of the metric in the metrics file.",
        examples=["eval_loss"],
    )
    threshold: Number = Field(
        json_schema_extra=unit("metric units"), description="The metric's pass mark (finite).", examples=[2.1]
    )
    goal: MetricGoal = Field(
        description="`minimize`: the model passes when metric <= threshold; `maximize`: when metric >= threshold."
    )
    metrics_file: str = Field(
        default=DEFAULT_METRICS_FILE,
        description="Absolute path in the container of the JSON metrics file the workflow reads.",
    )
    queue: str | None = Field(
        default=None,
        description="Kueue queue of the evaluation job; default: the training queue.",
        examples=["research"],
    )
    fleet: str | None = Field(
        default=None, description="Fleet it runs on; default: the training fleet.", examples=["train"]
    )
    gpus: Count = Field(
        default=1,
        json_schema_extra=unit("accelerators"),
        description="Accelerators of the evaluation pod (one node; at most the fleet instance type's).",
    )


class Serving(SpecModel):
    """The inference deployment of the line's latest published model."""

    image: str = Field(
        description="Inference server image (an OpenAI-compatible server such as vLLM), pinned by digest or exact "
        "version tag (sovereign: under the mirror).",
        examples=["vllm/vllm-openai:v0.10.1"],
    )
    queue: str = Field(description="Kueue queue the serving pods are admitted through.", examples=["serving"])
    fleet: str = Field(description="Fleet the replicas run on, one of the queue's fleets.", examples=["serve"])
    replicas: Count = Field(le=1000, json_schema_extra=unit("replicas"), description="Serving replicas.")
    gpus_per_replica: Count = Field(
        json_schema_extra=unit("accelerators"),
        description="Accelerators of one replica. At most a node's: one pod, tensor parallel over them. More: a "
        "multiple of a node's accelerators, one pod per node of the replica (tensor parallel within each node, "
        "pipeline parallel across the nodes).",
        examples=[8, 16],
    )
    model: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$",
        description="Name clients request the model by (`model` in the API); default: the line's name.",
        examples=["chat-ft"],
    )
    port: Integer = Field(
        default=DEFAULT_SERVING_PORT,
        ge=1024,
        le=65535,
        json_schema_extra=unit("TCP port"),
        description="Container port of the server's HTTP API.",
    )
    args: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="Extra arguments of the server (each a string), after the model path and parallelism.",
        examples=[["--max-model-len", "32768"]],
    )
    ready_minutes: Count = Field(
        default=PODS_READY_MINUTES,
        le=MAX_PODS_READY_MINUTES,
        json_schema_extra=unit("min"),
        description="Minutes from admission until every pod of a replica is Ready (image pull and model load: "
        "vLLM's `/health` answers once the weights are in GPU memory). Kueue's `waitForPodsReady.timeout` is the "
        "largest of the lines' values and the 10-minute default, and a replica slower than it is evicted and "
        "requeued. Kueue applies one timeout to every workload and blocks other admissions while one waits, so "
        "a long value also delays the detection of a stuck training gang.",
        examples=[30],
    )


class Trigger(SpecModel):
    """What starts a line's run besides `kubectl create` / `argo submit` by hand."""

    schedule: str | None = Field(
        default=None,
        description="Cron schedule of an Argo CronWorkflow: five fields (minute hour day-of-month month "
        "day-of-week) or @hourly/@daily/@weekly/@monthly/@yearly.",
        examples=["0 3 * * *"],
    )
    timezone: str = Field(default="UTC", description="IANA time zone of `schedule`.", examples=["Europe/Stockholm"])
    on_new_data: bool = Field(
        default=False,
        description="Start a run when new objects land under the line's `dataset` S3 prefix (an S3 event); "
        "needs an `s3://` dataset.",
    )


class ProductionLine(SpecModel):
    name: str = Field(
        description=f"Line name, unique: a DNS label of at most {LINE_NAME_MAX} characters starting with a "
        "letter; it names the line's objects and is the value of their `aifactory.io/line` label.",
        examples=["chat-ft"],
    )
    dataset: str = Field(
        description="Training data: an `s3://bucket/prefix/` under the file system's data repository link "
        "(`storage.s3ImportPath`, seen at `<mountPath>/datasets/`), or an absolute path under `storage.mountPath`; "
        "passed to the job as `AIFACTORY_DATASET_DIR`.",
        examples=["s3://acme-datasets/train/chat/"],
    )
    training: Training = Field(description="The training job.")
    evaluation: Evaluation = Field(description="The evaluation that gates publishing.")
    serving: Annotated[Serving | None, NotNull] = Field(
        default=None, description="The serving deployment; default: none (train, evaluate and publish only)."
    )
    trigger: Annotated[Trigger | None, NotNull] = Field(
        default=None, description="Schedule or new-data trigger; default: runs start by hand."
    )


class ProductionSpec(SpecModel):
    registry: RegistrySpec = Field(description="The model registry lines publish to.")
    # Each line is a TrainJob template, a workflow and a serving deployment; 50 is past any factory's
    # teams and keeps the render and the plan's tables readable.
    lines: list[ProductionLine] = Field(
        min_length=1, max_length=50, description="The model lines (1-50), each train -> evaluate -> publish -> serve."
    )
