"""The Pulumi programs: stack config -> validated spec -> `FactoryPlan` -> resources -> exported outputs.

Two projects read the same stack files (`stacks/Pulumi.<stack>.yaml`) and plan the same way:

- `aifactory` (`Pulumi.yaml`, `__main__.py` -> `main()`): the infrastructure, everything AWS-side;
  with a public EKS endpoint also the Kubernetes side.
- `aifactory-cluster` (`cluster/Pulumi.yaml`, `cluster/__main__.py` -> `main_cluster()`): with a
  private endpoint, the Kubernetes provider, Helm releases and Kueue objects, run from inside the
  VPC; it reads the cluster and file system from the infrastructure stack through a StackReference.

`aifactory plan` plans first and runs `deploy(plan)` and `deploy_cluster(plan)` under mocks, so the
programs never plan twice.
"""

from __future__ import annotations

import sys
from typing import Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from .factory import AiFactory, configures_cluster_in_stack, mlflow_server, plan_cluster_settings
from .planning.factory_plan import FactoryPlan, plan_from_config
from .schedulers.cluster_config import ClusterConfiguration, FilesystemArgs
from .spec import ConfigError
from .spec.errors import NAMESPACE
from .spec.scheduler import KubernetesScheduler as KubernetesSpec


def stack_config() -> dict[str, Any]:
    """Every config key of the running stack (engine environment plus explicitly set values)."""
    config = dict(get_config_env())
    config.update(CONFIG.get())
    return {k: v for k, v in config.items() if k == "aws:region" or k.startswith(f"{NAMESPACE}:")}


def load_plan() -> FactoryPlan:
    """The stack's plan, or a readable error (no traceback) that stops the update before any resource."""
    try:
        plan = plan_from_config(stack_config(), pulumi.get_stack())
    except ConfigError as exc:
        for issue in exc.issues:
            (pulumi.log.warn if issue.is_warning else pulumi.log.error)(str(issue))
        print(str(exc), file=sys.stderr)
        raise pulumi.RunError(f"invalid stack config: {len(exc.errors)} problem(s), see above") from None
    for warning in plan.warnings:
        pulumi.log.warn(str(warning))
    return plan


def deploy(plan: FactoryPlan) -> AiFactory:
    """Declare the planned factory and export what an operator needs."""
    factory = AiFactory(plan.name, {}, plan=plan)
    for key, value in factory.exports().items():
        pulumi.export(key, value)
    return factory


def main() -> None:
    deploy(load_plan())


INFRASTRUCTURE_PROJECT = "aifactory"
CLUSTER_PROJECT = "aifactory-cluster"


def needs_cluster_stack(plan: FactoryPlan) -> bool:
    """A Kubernetes factory whose endpoint `pulumi up` outside the VPC cannot reach."""
    return isinstance(plan.spec.scheduler, KubernetesSpec) and not configures_cluster_in_stack(plan)


def infrastructure_stack_reference(plan: FactoryPlan) -> str:
    """`scheduler.infrastructureStack`, else `<organization>/aifactory/<this stack>` (Pulumi docs,
    "Stack references": fully qualified `<organization>/<project>/<stack>`)."""
    scheduler = plan.spec.scheduler
    configured = scheduler.infrastructure_stack if isinstance(scheduler, KubernetesSpec) else None
    return configured or f"{pulumi.get_organization()}/{INFRASTRUCTURE_PROJECT}/{pulumi.get_stack()}"


def deploy_cluster(plan: FactoryPlan) -> ClusterConfiguration | None:
    """Declare the Kubernetes side of a private-endpoint factory from the infrastructure stack's outputs."""
    if not needs_cluster_stack(plan):
        pulumi.log.info(
            "the infrastructure stack configures this cluster itself (public endpoint or no Kubernetes); "
            "the cluster stack has nothing to do"
        )
        return None
    infrastructure = pulumi.StackReference(infrastructure_stack_reference(plan))
    cluster = infrastructure.require_output("kubernetes")
    filesystem: FilesystemArgs | None = None
    if plan.storage is not None:
        fs = infrastructure.require_output("fileSystem")
        filesystem = {
            "file_system_id": fs.apply(lambda v: str(v["id"])),
            "dns_name": fs.apply(lambda v: str(v["dnsName"])),
            "mount_name": fs.apply(lambda v: str(v["mountName"])),
            "capacity_gib": plan.storage.capacity_gib,
        }
    registry = None
    if plan.spec.production is not None and plan.spec.production.registry.kind == "mlflow":
        database = infrastructure.require_output("modelRegistry")
        registry = mlflow_server(
            plan,
            database.apply(lambda v: str(v["databaseAddress"])),
            database.apply(lambda v: str(v["databaseSecretArn"])),
        )
    configuration = ClusterConfiguration(
        f"{plan.name}-eks",
        plan_cluster_settings(plan, filesystem, registry),
        cluster.apply(lambda v: str(v["clusterName"])),
        cluster.apply(lambda v: str(v["clusterEndpoint"])),
        cluster.apply(lambda v: str(v["clusterCertificateAuthority"])),
    )
    pulumi.export("infrastructureStack", infrastructure.name)
    pulumi.export("kubeconfig", configuration.kubeconfig)
    return configuration


def main_cluster() -> None:
    deploy_cluster(load_plan())
