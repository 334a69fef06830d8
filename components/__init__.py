"""aifactory: Pulumi components that declare a complete AI factory on AWS."""

from .factory import AiFactory, AiFactoryArgs
from .fleet import GpuFleet, GpuFleetArgs
from .network import FactoryNetwork, FactoryNetworkArgs
from .schedulers.kubernetes import KubernetesScheduler, KubernetesSchedulerArgs
from .schedulers.slurm import SlurmScheduler, SlurmSchedulerArgs
from .spec import ConfigError, FactorySpec, spec_from_config
from .storage import ParallelFilesystem, ParallelFilesystemArgs

__version__ = "0.1.0"

COMPONENTS = (AiFactory, FactoryNetwork, GpuFleet, ParallelFilesystem, KubernetesScheduler, SlurmScheduler)

__all__ = [
    "COMPONENTS",
    "AiFactory",
    "AiFactoryArgs",
    "ConfigError",
    "FactoryNetwork",
    "FactoryNetworkArgs",
    "FactorySpec",
    "GpuFleet",
    "GpuFleetArgs",
    "KubernetesScheduler",
    "KubernetesSchedulerArgs",
    "ParallelFilesystem",
    "ParallelFilesystemArgs",
    "SlurmScheduler",
    "SlurmSchedulerArgs",
    "spec_from_config",
]
