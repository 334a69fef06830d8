"""Rules for `aifactory:scheduler` when `kind: slurm`: partitions, their fleets and the Slurm version.

Wired into `SCHEDULER_RULES`; every rule yields `ConfigIssue`s with the config path and a fix.
A node count the topology cannot hold is reported by the site rules (placement), before these run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import ConfigIssue, config_path, did_you_mean
from .rules import Rule, repeated_names, unknown_fleet_references
from .scheduler import SUPPORTED_VERSIONS, VALIDATED_VERSION, SlurmScheduler, is_supported

if TYPE_CHECKING:
    from .model import FactorySpec


def _slurm(spec: FactorySpec) -> SlurmScheduler | None:
    return spec.scheduler if isinstance(spec.scheduler, SlurmScheduler) else None


def slurm_partition_fleets_known(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Every fleet a partition names must be one of `aifactory:fleets`."""
    slurm = _slurm(spec)
    if slurm is None:
        return
    yield from unknown_fleet_references(
        spec,
        (
            (config_path("scheduler", "partitions", i, "fleets", j), f"partition '{partition.name}'", fleet)
            for i, partition in enumerate(slurm.partitions)
            for j, fleet in enumerate(partition.fleets)
        ),
    )


def slurm_one_default_partition(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """At most one partition is the default (slurm.conf(5) `Default=YES`)."""
    slurm = _slurm(spec)
    if slurm is None:
        return
    defaults = [i for i, p in enumerate(slurm.partitions) if p.default]
    first = defaults[0] if defaults else None
    for i in defaults[1:]:
        yield ConfigIssue(
            config_path("scheduler", "partitions", i, "default"),
            f"partition '{slurm.partitions[i].name}' is a second default partition "
            f"(partitions[{first}] '{slurm.partitions[first or 0].name}' is already the default)",
            "set `default: true` on one partition only",
        )


def slurm_partition_names_unique(spec: FactorySpec) -> Iterator[ConfigIssue]:
    slurm = _slurm(spec)
    if slurm is None:
        return
    yield from repeated_names(
        (p.name for p in slurm.partitions),
        "partitions",
        lambda i: config_path("scheduler", "partitions", i, "name"),
        "give every partition its own name, or list both fleets in one partition",
    )


def slurm_version_supported(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Only versions whose options the renderer knows (slurm_config.SUPPORTED_VERSIONS)."""
    slurm = _slurm(spec)
    if slurm is None or is_supported(slurm.version):
        return
    yield ConfigIssue(
        config_path("scheduler", "version"),
        f"Slurm '{slurm.version}' is not a release whose slurm.conf options aifactory renders",
        f"{did_you_mean(slurm.version, SUPPORTED_VERSIONS)} ({VALIDATED_VERSION} is the one tested "
        "against a real slurmctld)",
    )


SLURM_RULES: tuple[Rule, ...] = (
    slurm_partition_fleets_known,
    slurm_one_default_partition,
    slurm_partition_names_unique,
    slurm_version_supported,
)
