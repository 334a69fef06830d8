"""Rules for `aifactory:production`: every reference a line makes resolves, fits and is pinned."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from zoneinfo import available_timezones

from ..catalog.hardware import known_hardware
from .errors import ConfigIssue, config_path, did_you_mean
from .kubernetes_rules import IMAGE_REFERENCE, RESERVED_NAMESPACES
from .production import LINE_NAME_MAX, ProductionLine
from .rules import Rule, repeated_names
from .scheduler import KubernetesScheduler, Queue
from .storage import parse_s3_path
from .syntax import is_dns_label

if TYPE_CHECKING:
    from .model import FactorySpec

# Tags that name a moving target rather than one build; a pinned tag carries a version number.
MOVING_TAGS = frozenset({"latest", "main", "master", "nightly", "stable", "edge", "dev", "head"})
# Kubernetes "Object Names and IDs": Service names are RFC 1035 labels (start with a letter); a line
# names its serving Service, so it starts with a letter too.
LINE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")

# Argo Workflows CronWorkflow `schedule` is parsed by robfig/cron v3 in its standard five-field form,
# with the predefined descriptors (argoproj/argo-workflows docs/cron-workflows.md; robfig/cron v3
# doc.go "CRON Expression Format" and "Predefined schedules").
CRON_DESCRIPTORS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)


def _cron_value(text: str, low: int, names: tuple[str, ...]) -> int | None:
    if text.isdigit():
        return int(text)
    upper = text.upper()
    return names.index(upper) + low if upper in names else None


def cron_problem(schedule: str) -> str | None:
    """Why `schedule` is not a five-field cron expression or descriptor, or None."""
    if schedule.startswith("@"):
        return None if schedule in CRON_DESCRIPTORS else f"'{schedule}' is not a cron descriptor"
    fields = schedule.split()
    if len(fields) != len(CRON_FIELDS):
        return f"'{schedule}' has {len(fields)} fields, not five (minute hour day-of-month month day-of-week)"
    for text, (what, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        for part in text.split(","):
            span, _, step = part.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                return f"{what} '{text}': step '{step}' is not a positive number"
            if span in ("*", "?"):
                continue
            first, _, last = span.partition("-")
            bounds = [_cron_value(v, low, names) for v in ((first, last) if last else (first,))]
            if any(b is None or not low <= b <= high for b in bounds):
                return f"{what} '{text}' is outside {low}-{high}"
            if last and bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
                return f"{what} '{text}' is an empty range"
    return None


def image_pin_problem(image: str) -> str | None:
    """Why `image` is not pinned by digest or an exact version tag, or None."""
    if not IMAGE_REFERENCE.match(image):
        return f"'{image}' is not an image reference (host/repository[:tag][@sha256:digest])"
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if not tag:
        return f"'{image}' has no tag or digest, so it pulls whatever `latest` is"
    if tag.lower() in MOVING_TAGS or not any(c.isdigit() for c in tag):
        return f"'{image}' has the moving tag '{tag}'"
    return None


def _kubernetes(spec: FactorySpec) -> KubernetesScheduler | None:
    return spec.scheduler if isinstance(spec.scheduler, KubernetesScheduler) else None


def _under(path: str, root: str) -> bool:
    if not path.startswith("/") or ".." in PurePosixPath(path).parts:
        return False
    return PurePosixPath(path).is_relative_to(PurePosixPath(root))


def production_needs_kubernetes(spec: FactorySpec) -> Iterator[ConfigIssue]:
    if spec.production is not None and _kubernetes(spec) is None:
        yield ConfigIssue(
            config_path("production"),
            "model lines run on the EKS cluster (Kubeflow Trainer, Kueue), and the scheduler is not `kubernetes`",
            "set `aifactory:scheduler.kind: kubernetes` with queues, or remove `aifactory:production`",
        )


def line_names_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    if spec.production is None:
        return
    lines = spec.production.lines
    for i, line in enumerate(lines):
        if len(line.name) > LINE_NAME_MAX or not LINE_NAME.match(line.name):
            yield ConfigIssue(
                config_path("production", "lines", i, "name"),
                f"'{line.name}' is not a DNS label of at most {LINE_NAME_MAX} characters starting with a letter",
                "use lowercase letters, digits and '-', starting with a letter, e.g. chat-ft",
            )
    yield from repeated_names(
        (line.name for line in lines),
        "lines",
        lambda i: config_path("production", "lines", i, "name"),
        "give every line its own name",
    )


def registry_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    if spec.production is None:
        return
    registry = spec.production.registry
    if registry.kind == "sagemaker" and spec.sovereign:
        yield ConfigIssue(
            config_path("production", "registry", "kind"),
            "a sovereign factory reaches AWS only through its own VPC endpoints, which do not include the "
            "SageMaker APIs",
            "use `kind: mlflow` (in the cluster, from the mirror, artifacts on in-region storage)",
        )
    if registry.kind == "mlflow" and registry.image is None:
        yield ConfigIssue(
            config_path("production", "registry", "image"),
            "is required for an MLflow registry",
            "give the MLflow server image pinned by digest or exact version, e.g. ghcr.io/mlflow/mlflow:v3.1.1",
        )
    if registry.kind == "sagemaker" and registry.image is not None:
        yield ConfigIssue(
            config_path("production", "registry", "image"),
            "only applies to `kind: mlflow` (SageMaker's registry is a managed service)",
            "remove `image`",
        )
    if registry.kind == "sagemaker" and parse_s3_path(registry.artifacts) is None:
        yield ConfigIssue(
            config_path("production", "registry", "artifacts"),
            "SageMaker model packages take their model data from S3",
            "give an s3://bucket/prefix/ under a data repository link of aifactory:storage",
        )
    elif registry.kind == "mlflow" and parse_s3_path(registry.artifacts) is None:
        # The tracking server runs on the system nodes, which carry only the cluster security group,
        # while the file system admits the fleets' node group (storage.py); its artifact store is S3.
        yield ConfigIssue(
            config_path("production", "registry", "artifacts"),
            "the MLflow server runs on the system nodes, which do not mount the FSx file system; its "
            "artifact store is S3",
            "give an s3://bucket/prefix/ under a data repository link of aifactory:storage (storage.s3ExportPath "
            "keeps it out of the imported datasets)",
        )
    else:
        yield from _location_issues(spec, registry.artifacts, config_path("production", "registry", "artifacts"))
    ns = registry.namespace
    if not is_dns_label(ns) or ns in RESERVED_NAMESPACES or ns.startswith("kube-"):
        yield ConfigIssue(
            config_path("production", "registry", "namespace"),
            f"'{ns}' is not a DNS label outside the system namespaces",
            "use a namespace of its own, e.g. aifactory-registry",
        )


def _location_issues(spec: FactorySpec, location: str, path: str, *, s3_links: str = "any") -> Iterator[ConfigIssue]:
    """An S3 location under a data repository link, or an absolute path under the file system's mount."""
    storage = spec.storage
    if storage is None:
        yield ConfigIssue(path, "needs the FSx for Lustre file system, and there is none", "add `aifactory:storage`")
        return
    s3 = parse_s3_path(location)
    if s3 is not None:
        links = (
            [storage.import_location] if s3_links == "import" else [storage.import_location, storage.export_location]
        )
        if not any(link is not None and s3.uri.startswith(link.uri) for link in links):
            names = "storage.s3ImportPath" if s3_links == "import" else "storage.s3ImportPath or storage.s3ExportPath"
            yield ConfigIssue(
                path,
                f"'{location}' is not under the file system's data repository link ({names})",
                f"put it under {names}, or give a path under {storage.mount_path}",
            )
        return
    if not _under(location, storage.mount_path):
        yield ConfigIssue(
            path,
            f"'{location}' is neither an s3:// location nor an absolute path under {storage.mount_path}",
            f"give a path under {storage.mount_path} (the FSx mount every pod has)",
        )


def _queue(k8s: KubernetesScheduler, name: str) -> Queue | None:
    return next((q for q in k8s.queues if q.name == name), None)


def _admissible_gpus(k8s: KubernetesScheduler, queue: Queue) -> int | None:
    """Most accelerators a workload of the queue can ever be admitted with; None for no bound."""
    # Kueue ClusterQueue: a queue borrows unused nominal quota of its cohort up to `borrowingLimit`
    # (kueue site/content/en/docs/concepts/cluster_queue.md "Borrowing limit" @v0.19.2).
    if queue.cohort is None:
        return queue.gpu_quota
    cohort = sum(q.gpu_quota for q in k8s.queues if q.cohort == queue.cohort and q.name != queue.name)
    borrow = cohort if queue.borrowing_limit is None else min(queue.borrowing_limit, cohort)
    return queue.gpu_quota + borrow


def _placement_issues(
    spec: FactorySpec, k8s: KubernetesScheduler, base: tuple[str | int, ...], queue_name: str, fleet_name: str,
    per_node: int, nodes: int, per_node_key: str, nodes_key: str,
) -> Iterator[ConfigIssue]:  # fmt: skip
    queue = _queue(k8s, queue_name)
    if queue is None:
        yield ConfigIssue(
            config_path(*base, "queue"),
            f"'{queue_name}' is not a queue of aifactory:scheduler.queues",
            did_you_mean(queue_name, [q.name for q in k8s.queues]),
        )
    fleet = next((f for f in spec.fleets if f.name == fleet_name), None)
    if fleet is None:
        yield ConfigIssue(
            config_path(*base, "fleet"),
            f"'{fleet_name}' is not a fleet of aifactory:fleets",
            did_you_mean(fleet_name, [f.name for f in spec.fleets]),
        )
        return
    if queue is not None and queue.fleets is not None and fleet_name not in queue.fleets:
        yield ConfigIssue(
            config_path(*base, "fleet"),
            f"queue '{queue.name}' has no quota on fleet '{fleet_name}'",
            f"use one of the queue's fleets ({', '.join(queue.fleets)}) or add the fleet to the queue",
        )
    hardware = known_hardware(fleet)
    if hardware is None:
        return
    if hardware.gpus == 0:
        yield ConfigIssue(
            config_path(*base, "fleet"),
            f"fleet '{fleet_name}' ({hardware.name}) has no accelerators",
            "use a fleet of GPU or Trainium instances",
        )
    elif per_node > hardware.gpus:
        yield ConfigIssue(
            config_path(*base, per_node_key),
            f"{per_node} accelerators per node, but a {hardware.name} node of fleet '{fleet_name}' has {hardware.gpus}",
            f"use at most {hardware.gpus}, or more nodes",
        )
    if nodes > fleet.count:
        yield ConfigIssue(
            config_path(*base, nodes_key),
            f"{nodes} nodes, but fleet '{fleet_name}' has {fleet.count}",
            f"use at most {fleet.count}, or grow the fleet",
        )
    limit = _admissible_gpus(k8s, queue) if queue is not None else None
    if limit is not None and nodes * per_node > limit:
        yield ConfigIssue(
            config_path(*base, nodes_key),
            f"{nodes} x {per_node} = {nodes * per_node} accelerators, but queue '{queue_name}' can be admitted at "
            f"most {limit} (its quota plus what it may borrow), so Kueue would never admit it",
            f"ask for at most {limit} accelerators, or raise the queue's gpuQuota or borrowingLimit",
        )


def lines_fit_queues_and_fleets(spec: FactorySpec) -> Iterator[ConfigIssue]:
    k8s = _kubernetes(spec)
    if spec.production is None or k8s is None:
        return
    for i, line in enumerate(spec.production.lines):
        base: tuple[str | int, ...] = ("production", "lines", i)
        t = line.training
        yield from _placement_issues(
            spec, k8s, (*base, "training"), t.queue, t.fleet, t.gpus_per_node, t.nodes, "gpusPerNode", "nodes"
        )
        if t.priority is not None and t.priority not in k8s.priorities:
            yield ConfigIssue(
                config_path(*base, "training", "priority"),
                f"'{t.priority}' is not one of aifactory:scheduler.priorities",
                did_you_mean(t.priority, k8s.priorities),
            )
        e = line.evaluation
        if e.queue is not None or e.fleet is not None:
            yield from _placement_issues(
                spec, k8s, (*base, "evaluation"), e.queue or t.queue, e.fleet or t.fleet, e.gpus, 1, "gpus", "gpus"
            )
        else:
            yield from _evaluation_fits(spec, base, line)
        s = line.serving
        if s is not None:
            fleet = next((f for f in spec.fleets if f.name == s.fleet), None)
            hardware = known_hardware(fleet) if fleet is not None else None
            per_node, nodes = serving_layout(s.gpus_per_replica, hardware.gpus if hardware is not None else 0)
            if nodes > 1 and s.gpus_per_replica % per_node:
                yield ConfigIssue(
                    config_path(*base, "serving", "gpusPerReplica"),
                    f"{s.gpus_per_replica} accelerators span nodes of {per_node}, and a replica takes whole nodes "
                    "(tensor parallel within each, pipeline parallel across them)",
                    f"use at most {per_node}, or a multiple of {per_node}",
                )
            yield from _placement_issues(
                spec, k8s, (*base, "serving"), s.queue, s.fleet, per_node, nodes, "gpusPerReplica", "gpusPerReplica"
            )
            if fleet is not None and s.replicas * nodes > fleet.count:
                yield ConfigIssue(
                    config_path(*base, "serving", "replicas"),
                    f"{s.replicas} replicas of {nodes} node(s) need {s.replicas * nodes} nodes, but fleet "
                    f"'{s.fleet}' has {fleet.count}",
                    f"serve with at most {fleet.count // nodes} replicas, or grow the fleet",
                )
            queue = _queue(k8s, s.queue)
            limit = _admissible_gpus(k8s, queue) if queue is not None else None
            if limit is not None and s.replicas * s.gpus_per_replica > limit:
                yield ConfigIssue(
                    config_path(*base, "serving", "replicas"),
                    f"{s.replicas} x {s.gpus_per_replica} accelerators, but queue '{s.queue}' admits at most {limit}",
                    f"serve with at most {limit // s.gpus_per_replica} replicas, or raise the queue's quota",
                )


def serving_layout(gpus_per_replica: int, gpus_per_node: int) -> tuple[int, int]:
    """(accelerators per pod, pods per replica) of a serving replica on nodes of `gpus_per_node`.

    A replica within one node is one pod; a larger one takes whole nodes, one pod each (vLLM "Parallelism
    and Scaling": tensor parallel size = GPUs per node, pipeline parallel size = nodes). An unknown node
    size (0) is taken as one pod.
    """
    if gpus_per_node == 0 or gpus_per_replica <= gpus_per_node:
        return gpus_per_replica, 1
    return gpus_per_node, -(-gpus_per_replica // gpus_per_node)


def serving_shares_training_cohort(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """A line's serving queue and training queue share a Kueue cohort.

    Only inside one cohort does a ClusterQueue lend its unused nominal quota to the others, and only
    there does `reclaimWithinCohort` let it preempt a borrower to get its quota back (Kueue
    site/content/en/docs/concepts/cluster_queue.md "Cohort", concepts/preemption.md @v0.19.2). Without
    it, idle serving accelerators sit unused while training waits, or serving cannot take them back.
    """
    k8s = _kubernetes(spec)
    if spec.production is None or k8s is None:
        return
    for i, line in enumerate(spec.production.lines):
        s = line.serving
        if s is None or s.queue == line.training.queue:
            continue
        serving, training = _queue(k8s, s.queue), _queue(k8s, line.training.queue)
        if serving is None or training is None or (serving.cohort is not None and serving.cohort == training.cohort):
            continue
        cohort = training.cohort or serving.cohort or line.name
        where = f"cohort '{serving.cohort}'" if serving.cohort else "no cohort"
        theirs = f"cohort '{training.cohort}'" if training.cohort else "no cohort"
        yield ConfigIssue(
            config_path("production", "lines", i, "serving", "queue"),
            f"queue '{s.queue}' is in {where} and the training queue '{training.name}' in {theirs}: idle serving "
            "accelerators cannot lend to training, nor serving preempt them back",
            f"put both queues of aifactory:scheduler.queues in one cohort, e.g. `cohort: {cohort}` on each",
        )


def _evaluation_fits(spec: FactorySpec, base: tuple[str | int, ...], line: ProductionLine) -> Iterator[ConfigIssue]:
    """Evaluation on the training fleet: only its accelerator count needs checking."""
    fleet = next((f for f in spec.fleets if f.name == line.training.fleet), None)
    hardware = known_hardware(fleet) if fleet is not None else None
    if hardware is not None and 0 < hardware.gpus < line.evaluation.gpus:
        yield ConfigIssue(
            config_path(*base, "evaluation", "gpus"),
            f"{line.evaluation.gpus} accelerators, but a {hardware.name} node has {hardware.gpus}",
            f"use at most {hardware.gpus}",
        )


def line_paths_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    if spec.production is None:
        return
    for i, line in enumerate(spec.production.lines):
        yield from _location_issues(
            spec, line.dataset, config_path("production", "lines", i, "dataset"), s3_links="import"
        )
        directory = line.training.checkpoint.directory
        mount = spec.storage.mount_path if spec.storage is not None else None
        if mount is not None and not _under(directory, mount):
            yield ConfigIssue(
                config_path("production", "lines", i, "training", "checkpoint", "directory"),
                f"'{directory}' is not under the FSx mount {mount}: a pod restarted elsewhere would not see it",
                f"put checkpoints under {mount}, e.g. {mount}/checkpoints/{line.name}",
            )
        if not line.evaluation.metrics_file.startswith("/"):
            yield ConfigIssue(
                config_path("production", "lines", i, "evaluation", "metricsFile"),
                f"'{line.evaluation.metrics_file}' is not an absolute path",
                "use an absolute path such as /tmp/aifactory/metrics.json",
            )


def line_images_pinned(spec: FactorySpec) -> Iterator[ConfigIssue]:
    if spec.production is None:
        return
    mirror = spec.sovereignty.registry_mirror.rstrip("/") if spec.sovereign and spec.sovereignty else None
    images: list[tuple[tuple[str | int, ...], str]] = []
    if spec.production.registry.image is not None:
        images.append((("production", "registry", "image"), spec.production.registry.image))
    for i, line in enumerate(spec.production.lines):
        images.append((("production", "lines", i, "training", "image"), line.training.image))
        images.append((("production", "lines", i, "evaluation", "image"), line.evaluation.image))
        if line.serving is not None:
            images.append((("production", "lines", i, "serving", "image"), line.serving.image))
    for parts, image in images:
        problem = image_pin_problem(image)
        if problem is not None:
            yield ConfigIssue(
                config_path(*parts),
                problem,
                "pin it by digest (repository@sha256:<64 hex>) or an exact version tag such as :v0.10.1",
            )
        if mirror is not None and not image.startswith(mirror + "/"):
            yield ConfigIssue(
                config_path(*parts),
                f"'{image}' is not under the registry mirror '{mirror}'; a sovereign stack pulls nothing else",
                f"copy the image to the mirror and name it {mirror}/<upstream host>/<repository>:<tag>",
            )


def triggers_valid(spec: FactorySpec) -> Iterator[ConfigIssue]:
    if spec.production is None:
        return
    for i, line in enumerate(spec.production.lines):
        trigger = line.trigger
        if trigger is None:
            continue
        path = ("production", "lines", i, "trigger")
        if trigger.schedule is None and not trigger.on_new_data:
            yield ConfigIssue(
                config_path(*path), "starts nothing", "set `schedule` or `onNewData: true`, or remove `trigger`"
            )
        if trigger.schedule is not None:
            problem = cron_problem(trigger.schedule)
            if problem is not None:
                yield ConfigIssue(
                    config_path(*path, "schedule"),
                    problem,
                    "write five fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * *', or @daily",
                )
        if trigger.timezone not in available_timezones():
            yield ConfigIssue(
                config_path(*path, "timezone"),
                f"'{trigger.timezone}' is not an IANA time zone",
                did_you_mean(trigger.timezone, sorted(available_timezones())),
            )
        if trigger.on_new_data and parse_s3_path(line.dataset) is None:
            yield ConfigIssue(
                config_path(*path, "onNewData"),
                "new data is an S3 event, and the line's dataset is a file-system path",
                "give the dataset as its s3:// prefix under storage.s3ImportPath, or use a `schedule`",
            )


def cycle_steps_fit_the_line_namespace(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """The cycle's workflow runs in the training queue's namespace, and its evaluation pod is admitted by a
    LocalQueue, which admits only workloads of its own namespace (Kueue concepts/local_queue.md)."""
    k8s = _kubernetes(spec)
    if spec.production is None or k8s is None:
        return
    for i, line in enumerate(spec.production.lines):
        training = _queue(k8s, line.training.queue)
        evaluation = _queue(k8s, line.evaluation.queue) if line.evaluation.queue is not None else None
        if training is not None and evaluation is not None and evaluation.namespace != training.namespace:
            yield ConfigIssue(
                config_path("production", "lines", i, "evaluation", "queue"),
                f"queue '{evaluation.name}' is in namespace '{evaluation.namespace}', but the line's workflow and its "
                f"evaluation pod run in the training queue's namespace '{training.namespace}'",
                f"use a queue of namespace '{training.namespace}', or leave `queue` out to use the training queue",
            )


def cycle_publishes_to_mlflow(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """The cycle's publish step runs the MLflow client from the registry's image."""
    if spec.production is not None and spec.production.registry.kind != "mlflow":
        yield ConfigIssue(
            config_path("production", "registry", "kind"),
            "the lines' cycle publishes model versions with the MLflow client, and there is no step for the "
            "SageMaker Model Registry",
            "use `kind: mlflow` with its image",
        )


PRODUCTION_RULES: tuple[Rule, ...] = (
    production_needs_kubernetes,
    line_names_valid,
    registry_valid,
    lines_fit_queues_and_fleets,
    serving_shares_training_cohort,
    line_paths_valid,
    line_images_pinned,
    triggers_valid,
    cycle_steps_fit_the_line_namespace,
    cycle_publishes_to_mlflow,
)
