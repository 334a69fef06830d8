"""Pure rendering of a factory's Slurm configuration: slurm.conf, gres.conf, cgroup.conf, topology.conf,
the prolog/epilog/health-check scripts and the capacity-block maintenance reservations.

Every option is taken from the SchedMD man pages of the versions named in `SUPPORTED_VERSIONS`
(slurm.conf(5), gres.conf(5), cgroup.conf(5), topology.conf(5)); the Debian 12 package
(slurmctld 22.05.8) is the controller the tests start on this output.

Options that depend on the Slurm version (everything else is accepted by every supported version):

* Prolog/Epilog time limit: `PrologEpilogTimeout` up to 24.11; `PrologTimeout` and `EpilogTimeout`
  from 25.05 (slurm.conf(5) of slurm-25-05-0-1; absent from 24.11).
* `cgroup.conf` `CgroupPlugin=autodetect` exists from 22.05 (cgroup.conf(5) 22.05), which is why
  older versions are refused.
* The topology file: `topology.yaml` from 25.05 (topology.yaml(5)), `topology.conf` before.
* EC2 topology: from 25.11 each CLOUD node names its own place when it registers (`slurmd
  --conf "Topology=..."`, Topology Guide "Dynamic Topology"; slurmd(8) `--conf`), so the rendered
  file only holds the `region` root and the `unreported` leaf a powered-down node returns to; before
  25.11 the head rewrites the file from DescribeInstanceTopology (`planning/ec2_topology.py`).

Scripts are referenced by absolute path: before 23.02 configless mode ships only the config files
(slurm.conf(5) 22.05: Prolog "Fully qualified pathname ... must exist on every compute node"), and
`HealthCheckProgram` is never shipped, so the node join script installs them.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..catalog.hardware import fleet_hardware
from ..catalog.instance_types import InstanceType
from ..planning import ec2_topology
from ..planning.capacity import CAPACITY_BLOCK_RECLAIM
from ..planning.placement import PlacementPlan
from ..planning.topology import slurm_topology_conf
from ..planning.topology_model import SwitchTree, compress_hostlist
from ..rendering import render, slurm_value
from ..spec.errors import ConfigError, ConfigIssue
from ..spec.model import CapacityType, FactorySpec
from ..spec.scheduler import (
    SUPPORTED_VERSIONS,
    SlurmScheduler,
    is_supported,
    version_tuple,
)
from ..spec.syntax import slurm_cluster_name_issue


def slurm_dns_zone(cluster_name: str) -> str:
    """The private Route 53 zone that holds a cluster's head and node names."""
    return f"{cluster_name}.slurm.internal"


MEMORY_FOR_OS = 0.95
"""Share of the catalog memory declared as RealMemory: a node registering with less is drained."""

SCRIPT_NAMES = ("prolog.sh", "epilog.sh", "healthcheck.sh")
"""Scripts the compute nodes install under `SlurmRuntime.script_dir`."""

PROLOG_TIMEOUT_S = 90
"""Prolog/epilog limit; the health check inside is bounded below it (slurm.conf(5) PrologEpilogTimeout)."""

HEALTH_TIMEOUT_S = 45
"""Bound of one GPU/EFA probe; slurmd kills HealthCheckProgram after 60 s (slurm.conf(5))."""

EPILOG_CHECK_TIMEOUT_S = 30
"""Bound of the epilog's leftover-GPU-process probe."""

HEALTH_INTERVAL_S = 300
"""HealthCheckInterval: every five minutes, cheap probes only."""

JOIN_TIMEOUT_S = 1800
"""Bound of a compute node's join (SSM `timeoutSeconds`): munge key, scripts, slurmd."""

BOOT_ALLOWANCE_S = 900
"""From CreateFleet to the join's start: a p5's launch, firmware and EFA/driver boot take minutes."""

RESUME_TIMEOUT_S = BOOT_ALLOWANCE_S + JOIN_TIMEOUT_S
"""ResumeTimeout: a CLOUD node that has not registered by then is set DOWN and its job requeued
(slurm.conf(5) ResumeTimeout; the default, 60 s, is shorter than any GPU instance's boot)."""

SUSPEND_TIME_S = 600
"""SuspendTime: an On-Demand or Spot node idle this long is terminated (the Cloud Scheduling Guide's
example value). Reserved capacity is listed in SuspendExcNodes instead, never suspended: a global
SuspendTime=INFINITE would switch power saving, and with it every CLOUD node's resume, off
(slurm.conf(5) SuspendTime: "Setting SuspendTime to anything but INFINITE (or -1) will enable power
save mode")."""

SUSPEND_TIMEOUT_S = 300
"""SuspendTimeout: TerminateInstances returns at once; the instance shuts down within minutes."""

TREE_WIDTH_MAX = 65533
"""slurm.conf(5) TreeWidth: "The value may not exceed 65533"."""

TREE_WIDTH_DEFAULT = 50
"""slurm.conf(5) TreeWidth's default."""


@dataclass(frozen=True)
class Gres:
    """One node's accelerators as a generic resource: `gpu` (NVIDIA) or `neuron` (Trainium)."""

    name: str
    type: str
    count: int
    device_prefix: str

    @property
    def slurm(self) -> str:
        return f"{self.name}:{self.type}:{self.count}"

    @property
    def files(self) -> str:
        return f"{self.device_prefix}[0-{self.count - 1}]" if self.count > 1 else f"{self.device_prefix}0"


@dataclass(frozen=True)
class SlurmNodeGroup:
    """Nodes that share hardware and placement: one placement domain of one fleet."""

    name: str
    fleet: str
    hostnames: tuple[str, ...]
    cpus: int
    real_memory_mib: int
    gres: Gres | None
    efa_devices: int
    features: tuple[str, ...]
    capacity_block_end: datetime | None = None
    capacity: CapacityType | None = None
    """EC2 fleets' capacity type: their nodes are `State=CLOUD`, launched on demand by the ResumeProgram.
    None for a data hall's own servers, static nodes that run slurmd all the time."""

    @property
    def cloud(self) -> bool:
        return self.capacity is not None

    @property
    def prepaid(self) -> bool:
        """Reserved capacity is paid whether it runs or not: its instances are never suspended."""
        return self.capacity in ("capacity-reservation", "capacity-block")


@dataclass(frozen=True)
class SlurmPartitionInput:
    name: str
    fleets: tuple[str, ...]
    default: bool
    max_time: str


# srun listens on these ports for the step daemons and the controller; unset, they are ephemeral and no
# security group can admit them (slurm.conf(5), SrunPortRange: "useful when behind a firewall").
SRUN_PORT_RANGE = (60001, 63000)


@dataclass(frozen=True)
class SlurmRuntime:
    """Where the daemons keep state, logs and scripts; the tests point these into a temp dir."""

    slurm_user: str = "slurm"
    state_save_location: str = "/var/spool/slurmctld"
    slurmd_spool_dir: str = "/var/spool/slurmd"
    log_dir: str = "/var/log/slurm"
    run_dir: str = "/run/slurm"
    script_dir: str = "/etc/slurm/scripts"
    slurmctld_port: int = 6817
    slurmd_port: int = 6818
    srun_port_range: tuple[int, int] = SRUN_PORT_RANGE
    munge_socket: str | None = None
    resume_program: str = "/usr/local/sbin/aifactory-resume"
    suspend_program: str = "/usr/local/sbin/aifactory-suspend"


@dataclass(frozen=True)
class SlurmInputs:
    cluster_name: str
    controller_host: str
    version: str
    groups: tuple[SlurmNodeGroup, ...]
    partitions: tuple[SlurmPartitionInput, ...]
    switch_tree: SwitchTree
    """The planned tree (a data hall's switches); empty when the topology is measured."""
    accounting_host: str | None = None
    controller_addr: str | None = None
    runtime: SlurmRuntime = field(default_factory=SlurmRuntime)
    measured_topology: bool = False
    """EC2: the head writes the topology file from DescribeInstanceTopology (`ec2_topology`); the
    rendered one has every node not yet reported."""


SLURM_PREFIX = "/usr"
"""`./configure --prefix` of the built node images (templates/node_images/build_slurm.sh.j2): slurmd and
slurmctld in /usr/sbin, scontrol in /usr/bin, where Ubuntu's packages put them too, so the head and
join scripts find either build on one PATH."""

SLURM_UID = 401
"""SlurmUser's uid and gid in the built head and node images: one build, one uid on every machine."""

REGISTERED_TOPOLOGY = (25, 11)
"""The first release in which a CLOUD node sets its topology at registration (`slurmd --conf
"Topology=<topology>:<switch>:...:<leaf>"`; Topology Guide, "Dynamic Topology": "For cloud nodes, the
only field that can be set with the --conf flag is Topology", absent from the 25.05 guide)."""


def registers_topology(version: str) -> bool:
    """EC2 nodes of this release register their own switch path; older ones are placed by the head."""
    return version_tuple(version) >= REGISTERED_TOPOLOGY


def topology_file_name(version: str) -> str:
    """`topology.yaml` from Slurm 25.05 (topology.yaml(5): read first, topology.conf then ignored),
    `topology.conf` before (topology.conf(5))."""
    return "topology.yaml" if version_tuple(version) >= (25, 5) else "topology.conf"


@dataclass(frozen=True)
class Reservation:
    """A maintenance reservation over a capacity block's reclaim window."""

    name: str
    nodes: str
    start: datetime
    minutes: int

    def command(self) -> str:
        start = self.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        # scontrol(1) "create reservation": MAINT marks maintenance, IGNORE_JOBS lets it overlap
        # running jobs; StartTime is parsed in the caller's time zone, so the script sets TZ=UTC.
        # Quoted: a hostlist such as `gpu-[01-04]` is a shell glob.
        words = [
            "scontrol",
            "create",
            "reservation",
            # scontrol reads `Keyword=Value` words as slurm.conf does: the values pass slurm_value.
            f"ReservationName={slurm_value(self.name)}",
            f"StartTime={start}",
            f"Duration={self.minutes}",
            f"Nodes={slurm_value(self.nodes)}",
            "Users=root",
            "Flags=MAINT,IGNORE_JOBS",
        ]
        return shlex.join(words)


def capacity_block_reservations(groups: Iterable[SlurmNodeGroup]) -> list[Reservation]:
    """One reservation per capacity-block fleet, covering the block's last 30 minutes."""
    by_fleet: dict[tuple[str, datetime], list[str]] = {}
    for group in groups:
        if group.capacity_block_end is not None:
            by_fleet.setdefault((group.fleet, group.capacity_block_end), []).extend(group.hostnames)
    reservations = []
    for (fleet, end), hosts in sorted(by_fleet.items()):
        reservations.append(
            Reservation(
                name=f"capacity-block-end-{fleet}",
                nodes=compress_hostlist(sorted(hosts)),
                start=end - CAPACITY_BLOCK_RECLAIM,
                minutes=int(CAPACITY_BLOCK_RECLAIM.total_seconds() // 60),
            )
        )
    return reservations


def _record(*pairs: tuple[str, object]) -> str:
    """One slurm.conf-style line of `Keyword=Value` pairs. Every value passes `slurm_value`: white
    space, '#', '=' or a line break in a value would add options or records (slurm.conf(5), "The
    file consists of keyword=value pairs ... comments start with '#'"). The spec refuses such values
    first; reaching here with one is a programming error."""
    return " ".join(f"{key}={slurm_value(value)}" for key, value in pairs)


def _node_lines(groups: Sequence[SlurmNodeGroup]) -> list[str]:
    # Cloud Scheduling Guide (elastic_computing): nodes added on demand have `State=CLOUD` and no
    # NodeAddr/NodeHostname; the planned names stay, so partitions, reservations and topology match.
    lines = []
    for group in groups:
        parts: list[tuple[str, object]] = [
            ("NodeName", compress_hostlist(group.hostnames)),
            ("CPUs", group.cpus),
            ("RealMemory", group.real_memory_mib),
        ]
        if group.gres is not None:
            parts.append(("Gres", group.gres.slurm))
        if group.features:
            parts.append(("Feature", ",".join(group.features)))
        parts.append(("State", "CLOUD" if group.cloud else "UNKNOWN"))
        lines.append(_record(*parts))
    return lines


def _partition_lines(inputs: SlurmInputs) -> list[str]:
    lines = []
    for partition in inputs.partitions:
        hosts = [h for g in inputs.groups if g.fleet in partition.fleets for h in g.hostnames]
        lines.append(
            _record(
                ("PartitionName", partition.name),
                ("Nodes", compress_hostlist(hosts)),
                ("Default", "YES" if partition.default else "NO"),
                ("MaxTime", partition.max_time),
                ("State", "UP"),
            )
        )
    return lines


def power_saving(groups: Sequence[SlurmNodeGroup], runtime: SlurmRuntime) -> dict[str, object] | None:
    """slurm.conf's power-saving options for the CLOUD nodes (Cloud Scheduling Guide; slurm.conf(5)),
    None without any."""
    cloud = [h for g in groups if g.cloud for h in g.hostnames]
    if not cloud:
        return None
    # slurmd on CLOUD nodes do not know each other's addresses, so slurmctld sends to each node
    # directly: "configure TreeWidth to a number at least as large as the maximum node count"
    # (Cloud Scheduling Guide, TreeWidth). The plan refuses more nodes than TreeWidth allows.
    nodes = sum(len(g.hostnames) for g in groups)
    prepaid = [h for g in groups if g.prepaid for h in g.hostnames]
    return {
        "resume_program": runtime.resume_program,
        "suspend_program": runtime.suspend_program,
        "resume_timeout": RESUME_TIMEOUT_S,
        "suspend_time": SUSPEND_TIME_S,
        "suspend_timeout": SUSPEND_TIMEOUT_S,
        "suspend_exc_nodes": compress_hostlist(prepaid) if prepaid else None,
        "tree_width": min(TREE_WIDTH_MAX, max(TREE_WIDTH_DEFAULT, nodes)),
    }


def _gres_lines(groups: Sequence[SlurmNodeGroup]) -> list[str]:
    # gres.conf(5): explicit File= lines; AutoDetect=nvml needs an NVML build (the Debian package
    # has only gpu_generic) and AutoDetect=nvidia exists only from 24.11. One line per kind of
    # device layout, over all its nodes' hostlist: the file grows with hardware kinds, not racks.
    hosts: dict[Gres, list[str]] = {}
    for group in groups:
        if group.gres is not None:
            hosts.setdefault(group.gres, []).extend(group.hostnames)
    return [
        _record(
            ("NodeName", compress_hostlist(names)),
            ("Name", gres.name),
            ("Type", gres.type),
            ("File", gres.files),
        )
        for gres, names in hosts.items()
    ]


def _check_switch_names(tree: SwitchTree) -> None:
    """topology.conf(5) lines are `SwitchName=... Nodes=...`: the same syntax, the same check."""
    for switch in tree.switches:
        for value in (switch.name, *switch.nodes, *switch.switches):
            slurm_value(value)


def _gres_types(groups: Sequence[SlurmNodeGroup]) -> str:
    names = {g.gres.name for g in groups if g.gres is not None}
    return ",".join(sorted(names | {"gpu"}))


def host_cases(groups: Sequence[SlurmNodeGroup]) -> list[dict[str, object]]:
    """The health check's cases: one per kind of node (accelerator, count, EFA devices) with all its
    nodes as one hostlist, so the script (and the SSM join document that carries it) grows with the
    kinds of hardware, not the node count."""
    hosts: dict[tuple[str, int, int], list[str]] = {}
    for group in groups:
        key = (group.gres.name if group.gres else "none", group.gres.count if group.gres else 0, group.efa_devices)
        hosts.setdefault(key, []).extend(group.hostnames)
    return [
        {"hosts": compress_hostlist(names), "gres_name": gres, "accelerators": count, "efa_devices": efa}
        for (gres, count, efa), names in hosts.items()
    ]


def _checked_topology(tree: SwitchTree) -> str:
    _check_switch_names(tree)
    return slurm_topology_conf(tree)


def _topology_file(inputs: SlurmInputs, hosts: list[str]) -> dict[str, str]:
    """A data hall's planned tree (the placement plan's renderer, so Slurm and Kueue read one tree,
    topology.conf(5)); on EC2 the head's own translation with no answer yet: every node under the
    `unreported` leaf until the head has read DescribeInstanceTopology."""
    if not inputs.measured_topology:
        return {"topology.conf": _checked_topology(inputs.switch_tree)}
    fmt = "yaml" if topology_file_name(inputs.version) == "topology.yaml" else "conf"
    for host in hosts:
        slurm_value(host)
    rooted = registers_topology(inputs.version)
    return {topology_file_name(inputs.version): ec2_topology.render(dict.fromkeys(hosts), [], fmt, rooted)}


def _clean(text: str) -> str:
    return text.rstrip("\n") + "\n"


def render_slurm_configs(inputs: SlurmInputs) -> dict[str, str]:
    """Every file the head node writes next to slurm.conf, by file name."""
    if not is_supported(inputs.version):
        supported = ", ".join(SUPPORTED_VERSIONS)
        raise ValueError(f"Slurm {inputs.version} is not supported; use one of {supported}")
    hosts = [h for g in inputs.groups for h in g.hostnames]
    missing = sorted(set(hosts) - set(inputs.switch_tree.node_to_leaf()))
    if missing and not inputs.measured_topology:
        raise ValueError(f"nodes not under any switch of the topology: {compress_hostlist(missing)}")
    version = version_tuple(inputs.version)
    runtime = inputs.runtime
    reservations = capacity_block_reservations(inputs.groups)
    scripts = {name: f"{runtime.script_dir}/{name}" for name in SCRIPT_NAMES}
    context: dict[str, object] = {
        "inputs": inputs,
        "runtime": runtime,
        "scripts": scripts,
        "split_prolog_timeouts": version >= (25, 5),
        "gres_types": _gres_types(inputs.groups),
        "node_lines": _node_lines(inputs.groups),
        "partition_lines": _partition_lines(inputs),
        "power": power_saving(inputs.groups, runtime),
        "prolog_timeout": PROLOG_TIMEOUT_S,
        "health_timeout": HEALTH_TIMEOUT_S,
        "health_interval": HEALTH_INTERVAL_S,
    }
    files = {
        "slurm.conf": render("slurm/slurm.conf.j2", **context),
        "gres.conf": render("slurm/gres.conf.j2", gres_lines=_gres_lines(inputs.groups)),
        "cgroup.conf": render("slurm/cgroup.conf.j2"),
        **_topology_file(inputs, hosts),
        "prolog.sh": render("slurm/prolog.sh.j2", scripts=scripts, timeout=HEALTH_TIMEOUT_S),
        "epilog.sh": render("slurm/epilog.sh.j2", timeout=EPILOG_CHECK_TIMEOUT_S),
        "healthcheck.sh": render(
            "slurm/healthcheck.sh.j2", host_cases=host_cases(inputs.groups), timeout=HEALTH_TIMEOUT_S
        ),
        "reservations.sh": render(
            "slurm/reservations.sh.j2",
            reservations=[(r.name, r.command()) for r in reservations],
        ),
    }
    return {name: _clean(text) for name, text in files.items()}


def _feature(kind: str, value: str) -> str:
    """A node feature such as `rack-r01`; values that already carry the prefix keep it once."""
    return value if value.startswith(f"{kind}-") else f"{kind}-{value}"


def slurm_inputs_from_plan(
    spec: FactorySpec,
    plan: PlacementPlan,
    cluster_name: str,
    controller_host: str,
    accounting_host: str | None = None,
    runtime: SlurmRuntime | None = None,
) -> SlurmInputs:
    """The renderer's inputs from a validated spec with a Slurm scheduler and its placement plan.

    One node group per placement domain, with the plan's hostnames, so slurm.conf, gres.conf and
    topology.conf name exactly the nodes of `plan.switch_tree`.
    """
    scheduler = spec.scheduler
    if not isinstance(scheduler, SlurmScheduler):
        raise ValueError("the spec's scheduler is not Slurm")
    # The stack name is no config key but reaches slurm.conf and the DNS zone like one.
    name_issue = slurm_cluster_name_issue(cluster_name)
    if name_issue is not None:
        raise ConfigError([name_issue])
    rack_cooling = {r.name: r.cooling for r in plan.racks}
    groups = []
    for domain in plan.domains:
        fleet = spec.fleet(domain.fleet)
        # The server catalog for a hybrid fleet's on-prem servers (static Slurm nodes), else the EC2 type.
        itype = fleet_hardware(fleet)
        accelerator = itype.accelerator
        gres_type = accelerator.model.split("-")[0].lower()
        gres = (
            Gres("gpu", gres_type, accelerator.count, "/dev/nvidia")
            if (itype.ami_family if isinstance(itype, InstanceType) else accelerator.vendor) == "nvidia"
            else Gres("neuron", gres_type, accelerator.count, "/dev/neuron")
        )
        coolings = sorted({rack_cooling[r] for r in domain.racks if r in rack_cooling} or {itype.cooling})
        features = (
            _feature("fleet", fleet.name),
            *(_feature("rack", r) for r in domain.racks),
            _feature("block", domain.block),
            *(_feature("cooling", c) for c in coolings),
        )
        block_end = fleet.capacity.end_time if fleet.kind == "ec2" and fleet.capacity.type == "capacity-block" else None
        capacity = fleet.capacity.type if fleet.kind == "ec2" else None
        groups.append(
            SlurmNodeGroup(
                name=domain.name,
                fleet=fleet.name,
                hostnames=domain.hostnames,
                cpus=itype.vcpus,
                real_memory_mib=int(itype.memory_gib * 1024 * MEMORY_FOR_OS),
                gres=gres,
                efa_devices=itype.max_efa_interfaces if isinstance(itype, InstanceType) and fleet.efa else 0,
                features=features,
                capacity_block_end=block_end,
                capacity=capacity,
            )
        )
    cloud_nodes = sum(len(g.hostnames) for g in groups if g.cloud)
    if cloud_nodes > TREE_WIDTH_MAX:
        raise ConfigError(
            [
                ConfigIssue(
                    path="aifactory:fleets",
                    problem=f"the Slurm cluster has {cloud_nodes} EC2 nodes; slurmctld reaches CLOUD nodes "
                    "directly (TreeWidth at least the node count) and TreeWidth may not exceed "
                    f"{TREE_WIDTH_MAX} (slurm.conf(5))",
                    fix=f"keep the EC2 fleets at {TREE_WIDTH_MAX} nodes in all, or split the factory into stacks",
                )
            ]
        )
    partitions = tuple(
        SlurmPartitionInput(p.name, tuple(p.fleets), p.default, p.max_time) for p in scheduler.partitions
    )
    return SlurmInputs(
        cluster_name=cluster_name,
        controller_host=controller_host,
        version=scheduler.version,
        groups=tuple(groups),
        partitions=partitions,
        switch_tree=plan.switch_tree,
        measured_topology=plan.site == "aws",
        accounting_host=accounting_host,
        runtime=runtime if runtime is not None else SlurmRuntime(),
    )
