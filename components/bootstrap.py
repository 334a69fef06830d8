"""Node bootstrap: the MIME multi-part user data every fleet node boots with.

Kubernetes fleets run the EKS-optimized AL2023 AMI: a nodeadm `NodeConfig` part joins the cluster and
shell parts prepare the node before nodeadm starts the kubelet. Slurm fleets and fleets without a
scheduler run the Ubuntu Deep Learning AMI: a cloud-config part writes files, a shell part prepares the
node and (Slurm) starts slurmd in configless mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from .catalog.instance_types import InstanceType
from .planning.efa_layout import efa_device_count
from .rendering import render
from .spec.model import TAINT_EFFECTS, Profile, Taint
from .spec.syntax import REGISTRY_MIRROR, label_value_problem, qualified_name_problem

SchedulerKind = Literal["kubernetes", "slurm", "none"]
Egress = Literal["none", "nat"]

BOUNDARY = "==AIFACTORY-BOUNDARY=="
UNHEALTHY_TAINT_KEY = "aifactory.io/node-unhealthy"

# dcgmi diag run levels and a bound well above their documented duration (NVIDIA DCGM user guide,
# "DCGM Diagnostics": r1 seconds, r2 under two minutes, r3 tens of minutes). Level 4 runs for hours
# and belongs out of band, not in the boot path.
DCGM_TIMEOUT_S: dict[int, int] = {1: 120, 2: 600, 3: 2700}


_FSTAB_UNSAFE = re.compile(r"[\s#\x00-\x1f\x7f]")
_LFS_SIZE = re.compile(r"^(-1|[0-9]+[KMGTP]?)\Z")


@dataclass(frozen=True)
class NodeadmCluster:
    """What nodeadm needs to join the EKS cluster (NodeConfig spec.cluster)."""

    name: str
    endpoint: str
    certificate_authority: str
    service_cidr: str


@dataclass(frozen=True)
class FsxMount:
    """One FSx for Lustre file system mounted on every node, with the checkpoint directory's layout.

    `layout` is a progressive file layout as (component end, stripe count) pairs in `lfs setstripe`
    size syntax, the last ending at "-1" (end of file).
    """

    dns_name: str
    mount_name: str
    mount_path: str
    efa_enabled: bool
    checkpoint_path: str
    layout: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        if not self.layout or self.layout[-1][0] != "-1":
            raise ValueError("a progressive file layout must end with a component reaching -1 (EOF)")
        # fstab(5): fields are separated by blanks and '#' starts a comment, so no field may hold
        # either (or a line break); the scripts quote every value besides.
        for key in ("dns_name", "mount_name", "mount_path", "checkpoint_path"):
            value = getattr(self, key)
            if not value or _FSTAB_UNSAFE.search(value):
                raise ValueError(f"FSx {key} {value!r} holds white space, '#' or a control character")
        for end, count in self.layout:
            # lfs-setstripe(1): a component end is a size with an optional K/M/G/T/P suffix, or -1.
            if not _LFS_SIZE.match(end) or isinstance(count, bool) or not isinstance(count, int):
                raise ValueError(f"layout component ({end!r}, {count!r}) is not an lfs size and stripe count")

    @property
    def fstab_line(self) -> str:
        """The /etc/fstab entry (FSx Lustre user guide, "Mounting from an Amazon EC2 instance")."""
        return (
            f"{self.dns_name}@tcp:/{self.mount_name} {self.mount_path} lustre "
            "defaults,noatime,flock,_netdev,x-systemd.automount,x-systemd.requires=network-online.target 0 0"
        )

    @property
    def setstripe_args(self) -> tuple[str, ...]:
        """`lfs setstripe` arguments of the progressive file layout: `-E <end> -c <count>` per component."""
        return tuple(arg for end, count in self.layout for arg in ("-E", end, "-c", str(count)))


@dataclass(frozen=True)
class BootstrapContext:
    instance_type: InstanceType
    scheduler: SchedulerKind
    profile: Profile
    cluster: NodeadmCluster | None = None
    fsx: FsxMount | None = None
    gpu_power_cap_w: int | None = None
    node_labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    slurm_controller: str | None = None
    dcgm_diag_level: int | None = None
    registry_mirror: str | None = None
    egress: Egress = "nat"
    """The stack's internet egress; without it (`none`) a Deep Learning AMI node installs nothing."""
    max_pods: int | None = None
    """kubelet's maxPods (VPC CNI custom networking sizes it to the node's pods); None: kubelet's default."""

    def __post_init__(self) -> None:
        if self.egress not in ("none", "nat"):
            raise ValueError(f"egress must be 'none' or 'nat', not {self.egress!r}")
        if self.registry_mirror is not None and not REGISTRY_MIRROR.match(self.registry_mirror):
            # It reaches containerd's hosts.toml through an unquoted heredoc (`spec/syntax.py`).
            raise ValueError(f"registry mirror {self.registry_mirror!r} is not a host[:port][/path]")
        if self.scheduler == "kubernetes" and self.cluster is None:
            raise ValueError("a Kubernetes node needs the cluster's name, endpoint, CA and service CIDR")
        if self.max_pods is not None and (self.scheduler != "kubernetes" or self.max_pods < 1):
            raise ValueError("maxPods is a positive kubelet setting of Kubernetes nodes")
        if self.scheduler == "slurm" and not self.slurm_controller:
            raise ValueError("a Slurm node needs the controller host for configless slurmd")
        if self.dcgm_diag_level is not None and self.dcgm_diag_level not in DCGM_TIMEOUT_S:
            raise ValueError(f"DCGM diagnostic level must be one of {sorted(DCGM_TIMEOUT_S)} at boot")
        if self.dcgm_diag_level is not None and self.instance_type.ami_family != "nvidia":
            raise ValueError("DCGM diagnostics apply to NVIDIA GPUs only")
        if self.dcgm_diag_level is not None and self.scheduler == "kubernetes":
            # The EKS AL2023 NVIDIA AMI ships no DCGM (EKS user guide, "EKS-optimized accelerated AMIs").
            raise ValueError("the EKS AL2023 AMI has no DCGM; run DCGM diagnostics from the DCGM exporter")
        if self.gpu_power_cap_w is not None:
            acc = self.instance_type.accelerator
            in_range = acc.power_limit_min_w <= self.gpu_power_cap_w <= acc.tdp_w
            if self.instance_type.ami_family != "nvidia" or not in_range:
                raise ValueError(
                    f"GPU power cap {self.gpu_power_cap_w} W is outside {acc.model}'s "
                    f"{acc.power_limit_min_w}-{acc.tdp_w} W range"
                )

    @property
    def expected_efa_devices(self) -> int:
        return efa_device_count(self.instance_type)

    @property
    def sovereign(self) -> bool:
        return self.profile == "sovereign"

    @property
    def offline(self) -> bool:
        return self.egress == "none"


def _flag_problems(ctx: BootstrapContext) -> list[str]:
    """Labels and taints reach the kubelet's comma-separated `--node-labels` and `--register-with-taints`
    flags: a key or value outside the Kubernetes syntax ("Labels and Selectors, Syntax and character
    set") could add labels or taints (`a,node-role.kubernetes.io/control-plane=`). The spec refuses
    them first (`spec/syntax.py`); here they are a programming error."""
    problems = []
    for key, value in ctx.node_labels.items():
        problems += [p for p in (qualified_name_problem(key), label_value_problem(value)) if p]
    for taint in ctx.taints:
        problems += [p for p in (qualified_name_problem(taint.key), label_value_problem(taint.value)) if p]
        if taint.effect not in TAINT_EFFECTS:
            problems.append(f"taint effect {taint.effect!r} is not one of {', '.join(TAINT_EFFECTS)}")
    return problems


def node_labels_flag(ctx: BootstrapContext) -> str:
    """`--node-labels=k=v,...` (kubelet reference, `--node-labels`), keys sorted."""
    return "--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(ctx.node_labels.items()))


def taints_flag(ctx: BootstrapContext, *extra: str) -> str:
    """`--register-with-taints=key=value:Effect,...` (kubelet reference)."""
    return "--register-with-taints=" + ",".join([*(str(t) for t in ctx.taints), *extra])


def image_requirements(ctx: BootstrapContext) -> tuple[str, ...]:
    """The binaries a Deep Learning AMI node's setup and health check run, which an image must carry
    when the stack has no egress (the Lustre kernel module is checked apart, with `modinfo`)."""
    needs = ["nvidia-smi"] if ctx.instance_type.ami_family == "nvidia" else ["neuron-ls", "python3"]
    if ctx.dcgm_diag_level:
        needs.append("dcgmi")
    if ctx.fsx is not None:
        needs += ["mount.lustre", "lfs"]
    # What each scheduler's mark_unhealthy calls (health_check.sh.j2).
    needs += {"slurm": ["scontrol"], "none": ["curl", "aws"]}.get(ctx.scheduler, [])
    return tuple(needs)


def _template_context(ctx: BootstrapContext) -> dict[str, object]:
    problems = _flag_problems(ctx)
    if problems:
        raise ValueError("node labels and taints must be Kubernetes syntax: " + "; ".join(problems))
    return {
        "ctx": ctx,
        "node_labels_flag": node_labels_flag(ctx),
        "taints_flag": taints_flag(ctx),
        "unhealthy_taints_flag": taints_flag(ctx, f"{UNHEALTHY_TAINT_KEY}=boot-check:NoSchedule"),
        "fstab_line": ctx.fsx.fstab_line if ctx.fsx else None,
        "setstripe_args": ctx.fsx.setstripe_args if ctx.fsx else (),
        "node_labels_file": "".join(f"{k}={v}\n" for k, v in sorted(ctx.node_labels.items())),
        "it": ctx.instance_type,
        "unhealthy_taint_key": UNHEALTHY_TAINT_KEY,
        "dcgm_timeout_s": DCGM_TIMEOUT_S.get(ctx.dcgm_diag_level or 0),
        "image_requirements": image_requirements(ctx),
    }


def health_check_script(ctx: BootstrapContext) -> str:
    """The bounded accelerator and EFA health check; exits non-zero and marks the node unhealthy.

    The Slurm scheduler can install the same script as HealthCheckProgram: it drains the node itself.
    """
    return render("bootstrap/health_check.sh.j2", **_template_context(ctx))


def node_setup_script(ctx: BootstrapContext) -> str:
    """EFA check, NCCL environment, Lustre mount and striping, power cap; then the health check."""
    return render("bootstrap/node_setup.sh.j2", **_template_context(ctx))


def nodeconfig(ctx: BootstrapContext) -> str:
    """The nodeadm NodeConfig document (YAML) of a Kubernetes node."""
    return render("bootstrap/nodeconfig.yaml.j2", **_template_context(ctx))


def cloud_config(ctx: BootstrapContext) -> str:
    """The `#cloud-config` document of a Deep Learning AMI node."""
    return render("bootstrap/cloud_config.yaml.j2", health_check=health_check_script(ctx), **_template_context(ctx))


def user_data_parts(ctx: BootstrapContext) -> list[tuple[str, str]]:
    """(MIME content type, body) of every part, in the order the node processes them."""
    if ctx.scheduler == "kubernetes":
        # EKS merges its own NodeConfig only when the launch template has no ImageId, and then only
        # with MIME multi-part user data; a full NodeConfig works either way (EKS user guide,
        # "Customize managed nodes with launch templates"). nodeadm-run starts the kubelet after
        # cloud-init's scripts have run, so the shell part prepares the node before it joins.
        return [
            ("application/node.eks.aws", nodeconfig(ctx)),
            ("text/x-shellscript", health_check_install_script(ctx)),
            ("text/x-shellscript", node_setup_script(ctx)),
        ]
    return [
        ("text/cloud-config", cloud_config(ctx)),
        ("text/x-shellscript", node_setup_script(ctx)),
    ]


def health_check_install_script(ctx: BootstrapContext) -> str:
    """Installs the health check where node_setup runs it (cloud-config does this on the DLAMI)."""
    return render("bootstrap/install_health_check.sh.j2", health_check=health_check_script(ctx))


def render_user_data(ctx: BootstrapContext) -> str:
    """MIME multi-part user data (RFC 2046) with a fixed boundary so renders are reproducible."""
    parts = user_data_parts(ctx)
    # RFC 2046 5.1.1: the boundary "must not appear inside any of the encapsulated parts".
    if any(BOUNDARY in body for _, body in parts):
        raise ValueError(f"a user data part contains the MIME boundary {BOUNDARY!r}")
    return render("bootstrap/user_data.mime.j2", boundary=BOUNDARY, parts=parts)
