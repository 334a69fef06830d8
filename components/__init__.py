"""aifactory: Pulumi components that declare a complete AI factory on AWS.

The public names load on first use (PEP 562 module `__getattr__`): `import aifactory.spec` or the
`aifactory` command's config check must not pay for pulumi_aws, and `aifactory.spec` must not pull in
the planners through this package's import.
"""

from importlib import import_module, metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .factory import AiFactory, AiFactoryArgs
    from .fleet import GpuFleet, GpuFleetArgs
    from .network import FactoryNetwork, FactoryNetworkArgs
    from .planning.factory_plan import FactoryPlan, plan_factory
    from .schedulers.kubernetes import KubernetesScheduler, KubernetesSchedulerArgs
    from .schedulers.node_groups import KubernetesNodeGroups, KubernetesNodeGroupsArgs
    from .schedulers.slurm import SlurmScheduler, SlurmSchedulerArgs
    from .spec import ConfigError, FactorySpec, spec_from_config
    from .storage import ParallelFilesystem, ParallelFilesystemArgs

# The version is defined once, in pyproject.toml; tests check the plugin and policy-pack manifests.
__version__ = metadata.version("aifactory")

_PUBLIC: dict[str, str] = {
    "AiFactory": ".factory",
    "AiFactoryArgs": ".factory",
    "ConfigError": ".spec",
    "FactoryNetwork": ".network",
    "FactoryNetworkArgs": ".network",
    "FactoryPlan": ".planning.factory_plan",
    "FactorySpec": ".spec",
    "GpuFleet": ".fleet",
    "GpuFleetArgs": ".fleet",
    "KubernetesNodeGroups": ".schedulers.node_groups",
    "KubernetesNodeGroupsArgs": ".schedulers.node_groups",
    "KubernetesScheduler": ".schedulers.kubernetes",
    "KubernetesSchedulerArgs": ".schedulers.kubernetes",
    "ParallelFilesystem": ".storage",
    "ParallelFilesystemArgs": ".storage",
    "SlurmScheduler": ".schedulers.slurm",
    "SlurmSchedulerArgs": ".schedulers.slurm",
    "plan_factory": ".planning.factory_plan",
    "spec_from_config": ".spec",
}

_COMPONENT_NAMES = (
    "AiFactory",
    "FactoryNetwork",
    "GpuFleet",
    "ParallelFilesystem",
    "KubernetesScheduler",
    "KubernetesNodeGroups",
    "SlurmScheduler",
)


def __getattr__(name: str) -> Any:
    if name == "COMPONENTS":
        return tuple(__getattr__(n) for n in _COMPONENT_NAMES)
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'aifactory' has no attribute '{name}'")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "COMPONENTS",
    "AiFactory",
    "AiFactoryArgs",
    "ConfigError",
    "FactoryNetwork",
    "FactoryNetworkArgs",
    "FactoryPlan",
    "FactorySpec",
    "GpuFleet",
    "GpuFleetArgs",
    "KubernetesNodeGroups",
    "KubernetesNodeGroupsArgs",
    "KubernetesScheduler",
    "KubernetesSchedulerArgs",
    "ParallelFilesystem",
    "ParallelFilesystemArgs",
    "SlurmScheduler",
    "SlurmSchedulerArgs",
    "plan_factory",
    "spec_from_config",
]
