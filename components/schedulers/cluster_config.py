"""The Kubernetes side of an EKS factory: the Kubernetes provider, the Helm releases and the Kueue,
JobSet, volume and drain objects.

`declare_cluster_configuration` creates them under a parent. `KubernetesScheduler` calls it with
itself as parent when the API is reachable from where `pulumi up` runs (public endpoint), so their
URNs are the ones 0.1 created. With a private endpoint the cluster-configuration stack
(`cluster/Pulumi.yaml`, `program.main_cluster`) runs it inside the VPC under `ClusterConfiguration`,
reading the cluster and file system from the infrastructure stack's outputs.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypedDict, cast

import pulumi
import pulumi_kubernetes as k8s

# `pulumi.Input[T]` is `T | Awaitable[T] | "Output[T]"`, the last a string that `typing.get_type_hints`
# of this module's Args TypedDicts resolves in this module's namespace.
from pulumi.output import Output, T  # noqa: F401

from ..planning.observability_plan import ObservabilityPlan
from ..spec.production import PODS_READY_MINUTES, ProductionSpec
from ..spec.scheduler import ChartVersions, Queue
from ..spec.storage import StorageSpec
from .helm_values import helm_releases, mirror_image, mirror_release
from .kubernetes_manifests import (
    KUBECTL_IMAGE,
    SYSTEM_NAMESPACE,
    FleetCapacity,
    Manifest,
    capacity_block_drain,
    expiry_rbac,
    fsx_volumes,
    kueue_configuration,
    namespace,
    scheduling_objects,
    team_namespaces,
)
from .observability_managed import KSM_RELEASE, kube_state_metrics_release, scraper_access_objects
from .observability_stack import (
    KPS_RELEASE,
    KUEUE_RELEASE,
    in_cluster_objects,
    kube_prometheus_stack_release,
    with_cluster_queue_metrics,
    with_metrics_backend,
)
from .production_cycle import ARGO_RELEASE, argo_workflows_release, cycle_namespaces, kueue_pod_integration
from .production_registry import MlflowServer, mlflow_objects
from .production_serving import LWS_RELEASE, lws_release, serving_objects, with_leaderworkerset
from .training_manifests import TRAINER_RELEASE, trainer_release

CHECKPOINT_GRACE = timedelta(minutes=15)
SCHEDULER_TYPE = "aifactory:index:KubernetesScheduler"
"""The type the Kubernetes-side resources were children of in 0.1 (and still are with a public endpoint)."""
PROVIDER_TYPE = "pulumi:providers:kubernetes"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"


class FilesystemArgs(TypedDict):
    file_system_id: pulumi.Input[str]
    """FSx for Lustre file system id."""
    dns_name: pulumi.Input[str]
    """Its DNS name."""
    mount_name: pulumi.Input[str]
    """Its mount name."""
    capacity_gib: int
    """Its storage capacity in GiB (the PersistentVolumes' size)."""


@dataclass(frozen=True)
class ClusterSettings:
    """Everything the Kubernetes side is built from; the same for both stacks of one plan."""

    region: str
    version: str
    queues: Sequence[Queue] = ()
    fleets: Sequence[FleetCapacity] = ()
    priorities: Sequence[str] = ()
    topology_levels: Sequence[str] | None = None
    """One Topology for every fleet; None: each fleet's EC2 layers (`fleet_topologies`)."""
    charts: Mapping[str, str] = field(default_factory=dict)
    registry_mirror: str | None = None
    filesystem: FilesystemArgs | None = None
    quotas: Mapping[str, Mapping[str, int]] | None = None
    remote_pod_cidrs: Sequence[str] = ()
    """The hybrid nodes' pod networks: with any, Cilium is installed for them."""
    production: ProductionSpec | None = None
    """`aifactory:production`: its lines' objects are applied with Kueue's."""
    storage: StorageSpec | None = None
    """The file system the lines read and write (mount path and data repository links)."""

    def pods_ready_minutes(self) -> int:
        """Kueue's one `waitForPodsReady` timeout: the slowest serving line's `readyMinutes`, at least the default."""
        lines = self.production.lines if self.production is not None else []
        return max([PODS_READY_MINUTES, *(line.serving.ready_minutes for line in lines if line.serving is not None)])

    def serving(self) -> list[Manifest]:
        """The lines' LeaderWorkerSets, Services and the serving priority class; empty when no line serves."""
        if self.production is None or self.storage is None:
            return []
        return serving_objects(
            self.production,
            self.queues,
            {f.name: f for f in self.fleets},
            self.priorities,
            self.storage.mount_path,
            (self.storage.s3_import_path, self.storage.s3_export_path),
        )

    production_cycles: Sequence[Manifest] = ()
    """The production lines' cycle objects (Argo WorkflowTemplates, CronWorkflows, their RBAC): with any,
    the Argo Workflows controller is installed and Kueue admits the workflows' pods."""
    model_registry: MlflowServer | None = None
    """The MLflow tracking server of `aifactory:production` (`kind: mlflow`); None: no server."""
    training_runtimes: Sequence[Manifest] = ()
    """The production lines' ClusterTrainingRuntimes: with any, Kubeflow Trainer is installed and Kueue
    admits TrainJobs."""
    observability: ObservabilityPlan | None = None
    """`aifactory:observability`: with it, kube-prometheus-stack, its ServiceMonitors, rules and dashboard."""


class KubernetesObject(pulumi.CustomResource):
    """Any Kubernetes object from a manifest dict, through the Kubernetes provider.

    The type token is the provider's `kubernetes:<group/version>:<Kind>` (core kinds under
    `core/v1`), as `pulumi_kubernetes.apiextensions.CustomResource` builds it, but every top-level
    field is kept (WorkloadPriorityClass has `value`, ClusterRole `rules`).
    """

    def __init__(self, name: str, manifest: Manifest, opts: pulumi.ResourceOptions):
        super().__init__(object_type(manifest), name, dict(manifest), opts)


def object_type(manifest: Manifest) -> str:
    """The provider's type token of a manifest (`kubernetes:core/v1:Namespace`)."""
    api_version = manifest["apiVersion"]
    token_version = f"core/{api_version}" if "/" not in api_version else api_version
    return f"kubernetes:{token_version}:{manifest['kind']}"


def kubeconfig(
    name: pulumi.Input[str], endpoint: pulumi.Input[str], ca: pulumi.Input[str], region: str
) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with `aws eks get-token` (EKS user guide, "Connect kubectl
    to an EKS cluster by creating a kubeconfig file")."""
    return pulumi.Output.all(name, endpoint, ca).apply(
        lambda v: json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "aifactory",
                "clusters": [{"name": "eks", "cluster": {"server": v[1], "certificate-authority-data": v[2]}}],
                "contexts": [{"name": "aifactory", "context": {"cluster": "eks", "user": "aws"}}],
                "users": [
                    {
                        "name": "aws",
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                "command": "aws",
                                "args": ["eks", "get-token", "--cluster-name", v[0], "--region", region],
                            }
                        },
                    }
                ],
            }
        )
    )


class _Declared:
    """Names and, in the cluster stack, the URN each resource had under `KubernetesScheduler`."""

    def __init__(self, name: str, parent: pulumi.Resource, moved_from_scheduler: bool):
        self.name = name
        self.parent = parent
        self.moved = moved_from_scheduler
        self.releases: dict[str, k8s.helm.v3.Release] = {}

    def opts(
        self, type_token: str, resource_name: str, *, since_0_1: bool = True, **extra: Any
    ) -> pulumi.ResourceOptions:
        """`since_0_1=False` for a resource 0.1 never created (the production lines' side): no state holds
        it under `KubernetesScheduler`, so there is nothing to adopt and nothing for the move to name."""
        aliases: list[pulumi.Input[str | pulumi.Alias]] = []
        if self.moved and since_0_1:
            aliases.append(moved_urn(type_token, resource_name))
        return pulumi.ResourceOptions(parent=self.parent, aliases=aliases or None, **extra)


def moved_urn(type_token: str, resource_name: str) -> str:
    """The URN `pulumi state move` gives a resource of `KubernetesScheduler` in the cluster stack:
    the stack and project are rewritten, the parent type stays in the URN (pulumi/pulumi
    pkg/cmd/pulumi/state/state_move.go, `renameStackAndProject`)."""
    return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{SCHEDULER_TYPE}${type_token}::{resource_name}"


def declare_cluster_configuration(
    name: str,
    settings: ClusterSettings,
    cluster_kubeconfig: pulumi.Input[str],
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    moved_from_scheduler: bool = False,
) -> k8s.Provider:
    """The provider, releases and objects under `parent`, named `<name>-...` as 0.1 named them."""
    declared = _Declared(name, parent, moved_from_scheduler)
    provider = k8s.Provider(
        f"{name}-k8s", kubeconfig=cluster_kubeconfig, opts=declared.opts(PROVIDER_TYPE, f"{name}-k8s")
    )
    releases = _releases(declared, settings, provider, list(depends_on))
    namespaces = _scheduling_objects(declared, settings, provider, releases)
    _production_cycles(declared, settings, provider, releases["kueue"], namespaces)
    _metrics_objects(declared, settings, provider)
    return provider


def _releases(
    declared: _Declared, settings: ClusterSettings, provider: k8s.Provider, depends_on: list[pulumi.Resource]
) -> dict[str, k8s.helm.v3.Release]:
    """The pinned Helm releases (mirrored in sovereign stacks), by release name."""
    charts = ChartVersions(**settings.charts)
    training = bool(settings.training_runtimes)
    kueue_config = kueue_configuration(settings.pods_ready_minutes(), trainjobs=training)
    serving = bool(settings.serving())
    cycles = bool(settings.production_cycles)
    if serving:
        kueue_config = with_leaderworkerset(kueue_config)
    if cycles:
        kueue_config = kueue_pod_integration(kueue_config)
    observability = settings.observability
    if observability is not None:
        kueue_config = with_cluster_queue_metrics(kueue_config)
    releases = helm_releases(charts, kueue_config, settings.region, settings.remote_pod_cidrs, settings.fleets)
    if observability is not None:
        in_cluster = observability.backend == "in-cluster"
        backend = (
            kube_prometheus_stack_release(charts, observability.retention_days)
            if in_cluster
            else kube_state_metrics_release(charts)
        )
        releases = with_metrics_backend(releases, backend, kueue_service_monitor=in_cluster)
    if training:
        releases.append(trainer_release(charts))
    if serving:
        releases.append(lws_release(charts.lws))
    if cycles:
        releases.append(argo_workflows_release(charts.argo_workflows, cycle_namespaces(settings.production_cycles)))
    if settings.registry_mirror:
        releases = [mirror_release(r, settings.registry_mirror) for r in releases]
    installed = declared.releases
    for release in releases:
        resource_name = f"{declared.name}-{release.name}"
        # Kueue's chart applies a ServiceMonitor, whose CRD the metrics backend installs.
        after = [installed[KPS_RELEASE]] if release.name == KUEUE_RELEASE and KPS_RELEASE in installed else []
        installed[release.name] = k8s.helm.v3.Release(
            resource_name,
            name=release.name,
            chart=release.chart,
            version=release.version,
            namespace=release.namespace,
            create_namespace=True,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=release.repository) if release.repository else None,
            values=dict(release.values),
            atomic=True,
            opts=declared.opts(
                RELEASE_TYPE,
                resource_name,
                since_0_1=release.name not in (TRAINER_RELEASE, ARGO_RELEASE, LWS_RELEASE, KPS_RELEASE, KSM_RELEASE),
                provider=provider,
                depends_on=[*depends_on, *after],
            ),
        )
    return installed


def _scheduling_objects(
    declared: _Declared, settings: ClusterSettings, provider: k8s.Provider, releases: Mapping[str, k8s.helm.v3.Release]
) -> dict[str, KubernetesObject]:
    """Kueue's objects, the file system's volumes, the capacity-block drains and the lines' training runtimes,
    serving and registry objects, after Kueue (and each custom object after the release that installs its
    CRD: LeaderWorkerSets after LeaderWorkerSet's, ClusterTrainingRuntimes after Kubeflow Trainer's);
    returns the Namespaces by name."""
    kueue = releases["kueue"]
    mirror = settings.registry_mirror
    queues = list(settings.queues)
    fleets = list(settings.fleets)
    objects = scheduling_objects(
        queues,
        fleets,
        list(settings.priorities),
        list(settings.topology_levels) if settings.topology_levels else None,
        split=settings.quotas,
    )
    filesystem = settings.filesystem
    if filesystem is not None:
        # The generator only places these values in the objects, so Outputs pass through.
        objects += fsx_volumes(
            cast(str, filesystem["file_system_id"]),
            cast(str, filesystem["dns_name"]),
            cast(str, filesystem["mount_name"]),
            filesystem["capacity_gib"],
            team_namespaces(queues),
        )
    blocks = [f for f in fleets if f.capacity_block_end is not None]
    if blocks:
        kubectl = mirror_image(KUBECTL_IMAGE, mirror) if mirror else KUBECTL_IMAGE
        objects.append(namespace(SYSTEM_NAMESPACE))
        drains = [capacity_block_drain(f, settings.version, CHECKPOINT_GRACE, kubectl) for f in blocks]
        objects += drains[0][:3] + [d[3] for d in drains]
    # The production lines' objects are new since 0.1: no state holds them under `KubernetesScheduler`.
    new = [*settings.serving(), *list(settings.training_runtimes)]
    if blocks:
        new += expiry_rbac()
    if settings.model_registry is not None:
        new += mlflow_objects(settings.model_registry)
    since_0_1 = [True] * len(objects) + [False] * len(new)
    objects += new
    created: dict[tuple[str, str], KubernetesObject] = {}
    for obj, old in zip(objects, since_0_1, strict=True):
        kind, meta = obj["kind"], obj["metadata"]
        ns = meta.get("namespace")
        depends: list[pulumi.Resource] = [kueue]
        if kind == "LeaderWorkerSet":
            depends.append(releases[LWS_RELEASE])
        if kind == "ClusterTrainingRuntime":
            depends.append(releases[TRAINER_RELEASE])
        if ns is not None and ("Namespace", ns) in created:
            depends.append(created[("Namespace", ns)])
        resource_name = f"{declared.name}-{kind.lower()}-{ns + '-' if ns else ''}{meta['name']}"
        created[(kind, meta["name"])] = KubernetesObject(
            resource_name,
            obj,
            declared.opts(
                object_type(obj),
                resource_name,
                since_0_1=old,
                provider=provider,
                depends_on=depends,
            ),
        )
    return {name: o for (kind, name), o in created.items() if kind == "Namespace"}


def _production_cycles(
    declared: _Declared,
    settings: ClusterSettings,
    provider: k8s.Provider,
    kueue: k8s.helm.v3.Release,
    namespaces: Mapping[str, KubernetesObject],
) -> None:
    """The lines' cycle objects, after their namespace, Kueue and the Argo Workflows release (which
    installs the Workflow CRDs)."""
    if not settings.production_cycles:
        return
    argo = declared.releases[ARGO_RELEASE]
    for obj in settings.production_cycles:
        meta = obj["metadata"]
        depends: list[pulumi.Resource] = [kueue, argo]
        if meta["namespace"] in namespaces:
            depends.append(namespaces[meta["namespace"]])
        resource_name = f"{declared.name}-{obj['kind'].lower()}-{meta['namespace']}-{meta['name']}"
        KubernetesObject(
            resource_name,
            obj,
            declared.opts(object_type(obj), resource_name, since_0_1=False, provider=provider, depends_on=depends),
        )


def _metrics_objects(declared: _Declared, settings: ClusterSettings, provider: k8s.Provider) -> None:
    """In-cluster: the backend's ServiceMonitor, rules, dashboard and Kueue metrics binding, after its chart.
    Managed: the scraper's ClusterRole and binding, after kube-state-metrics."""
    observability = settings.observability
    if observability is None:
        return
    if observability.backend == "in-cluster":
        backend, objects = declared.releases[KPS_RELEASE], in_cluster_objects(observability.groups)
    else:
        backend, objects = declared.releases[KSM_RELEASE], scraper_access_objects()
    for obj in objects:
        meta = obj["metadata"]
        ns = meta.get("namespace")
        resource_name = f"{declared.name}-{obj['kind'].lower()}-{ns + '-' if ns else ''}{meta['name']}"
        KubernetesObject(
            resource_name,
            obj,
            declared.opts(object_type(obj), resource_name, since_0_1=False, provider=provider, depends_on=[backend]),
        )


class ClusterConfiguration(pulumi.ComponentResource):
    """The Kubernetes side of a private-endpoint factory, in the cluster-configuration stack.

    Its children keep the names they had under `KubernetesScheduler` and carry the URN
    `pulumi state move` gives them as an alias, so moved state is adopted, not replaced.
    """

    kubeconfig: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        settings: ClusterSettings,
        cluster_name: pulumi.Input[str],
        cluster_endpoint: pulumi.Input[str],
        cluster_certificate_authority: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("aifactory:index:ClusterConfiguration", name, None, opts)
        config = kubeconfig(cluster_name, cluster_endpoint, cluster_certificate_authority, settings.region)
        declare_cluster_configuration(name, settings, config, parent=self, moved_from_scheduler=True)
        self.kubeconfig = pulumi.Output.secret(config)
        self.register_outputs({"kubeconfig": self.kubeconfig})
