"""Hostile values injected straight into the plan objects (bypassing the spec, which refuses them first):
every renderer either quotes them so they stay data, or refuses them as a programming error.

The node setup script is *executed* in a sandbox: every external command is a stub that records its
arguments, absolute paths point into a temp dir, and a payload that ran would create a file there.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from aifactory.bootstrap import BootstrapContext, FsxMount, NodeadmCluster, node_setup_script, render_user_data
from aifactory.catalog import get_instance_type
from aifactory.planning.factory_plan import plan_factory
from aifactory.rendering import one_line, render, shell_int, shell_quote, slurm_value
from aifactory.schedulers.kubernetes_manifests import FleetCapacity, capacity_block_drain
from aifactory.schedulers.slurm import head_user_data, join_script
from aifactory.schedulers.slurm_config import (
    SlurmInputs,
    host_cases,
    render_slurm_configs,
    slurm_inputs_from_plan,
)
from aifactory.spec.loading import spec_from_config
from aifactory.spec.model import Taint

from tests.stackfiles import base
from tests.validators import shellcheck

# Issue 16's payloads and their class siblings, for values that reach a shell word.
SHELL_PAYLOADS = ("$(touch {p}-1)", "`touch {p}-2`", ";touch {p}-3", "'$(touch {p}-4)'", '"$(touch {p}-5)"')
# What breaks a line-oriented format (kubelet flag lists, slurm.conf records, YAML).
LINE_PAYLOADS = ("a\nSlurmUser=root", "a,node-role.kubernetes.io/control-plane=", "a=b", "a b", "a#b", "ä")

STUBS = r"""
record() { local name=$1; shift; printf '%s\0' "$@" >>"$SANDBOX/$name.args"; printf '\n' >>"$SANDBOX/$name.args"; }
install() {
  local dir=0 args=()
  while [ $# -gt 0 ]; do
    case "$1" in -d) dir=1 ;; -m) shift ;; *) args+=("$1") ;; esac
    shift
  done
  record install "${args[@]}"
  if [ "$dir" = 1 ]; then mkdir -p -- "${args[@]}"; fi
}
timeout() { shift; "$@"; }
for stub in logger systemctl mount lfs modinfo dnf apt-get curl gpg modprobe lnetctl ip nvidia-smi chmod; do
  eval "$stub() { record $stub \"\$@\"; }"
done
"""


def _context(fsx: FsxMount | None = None, **overrides: object) -> BootstrapContext:
    fields: dict[str, object] = {
        "instance_type": get_instance_type("p5.48xlarge"),
        "scheduler": "none",
        "profile": "commercial",
        "fsx": fsx,
        "node_labels": {"aifactory.io/fleet": "train"},
        "taints": (Taint(key="nvidia.com/gpu", value="true", effect="NoSchedule"),),
    }
    fields.update(overrides)
    return BootstrapContext(**fields)  # type: ignore[arg-type]


def _run_in_sandbox(script: str, sandbox: Path) -> subprocess.CompletedProcess[str]:
    for directory in ("etc/systemd/system", "etc/profile.d", "etc/apt/sources.list.d", "usr/share/keyrings"):
        (sandbox / directory).mkdir(parents=True, exist_ok=True)
    body = script.split("\n", 1)[1]
    for root in ("/etc/", "/opt/aifactory/", "/usr/share/keyrings/", "/var/log/"):
        body = body.replace(root, f"{sandbox}{root}")
    program = sandbox / "setup.sh"
    program.write_text(f"#!/bin/bash\nSANDBOX={shell_quote(sandbox)}\n{STUBS}\n{body}")
    return subprocess.run(["bash", str(program)], capture_output=True, text=True, timeout=60, check=False)


def _args(sandbox: Path, command: str) -> list[list[str]]:
    path = sandbox / f"{command}.args"
    if not path.exists():
        return []
    return [line.split("\0")[:-1] for line in path.read_text().split("\n") if line]


@pytest.mark.parametrize("scheduler", ["none", "kubernetes"])
def test_node_setup_keeps_hostile_fsx_values_as_data_when_run(tmp_path: Path, scheduler: str) -> None:
    pwned = tmp_path / "pwned"
    # FsxMount refuses what fstab cannot hold (blanks, '#'), so the payloads use ${IFS} for spaces.
    payload = "".join(p.format(p=pwned).replace(" ", "${IFS}") for p in SHELL_PAYLOADS)
    sandbox = tmp_path / "sandbox"
    mount_path = f"{tmp_path}/fsx{payload}"
    fsx = FsxMount(
        dns_name=f"fs-1.example{payload}",
        mount_name=f"m{payload}",
        mount_path=mount_path,
        efa_enabled=False,
        checkpoint_path=f"{mount_path}/ckpt{payload}",
        layout=(("64M", 1), ("-1", 32)),
    )
    cluster = NodeadmCluster("factory", "https://example.eks.amazonaws.com", "Q0E=", "172.20.0.0/16")
    ctx = _context(fsx, scheduler=scheduler, cluster=cluster if scheduler == "kubernetes" else None)
    script = node_setup_script(ctx)
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    # SC2016 ("expressions don't expand in single quotes") is the payload staying quoted: the point.
    assert [f for f in shellcheck(script) if "SC2016" not in f] == []

    result = _run_in_sandbox(script, sandbox)

    assert result.returncode == 0, result.stderr
    assert not list(tmp_path.glob("pwned*")), "a payload ran"
    # Each value reached its command as one word, verbatim.
    assert [mount_path] in _args(sandbox, "mount")
    assert [fsx.checkpoint_path] in _args(sandbox, "install")
    [setstripe] = _args(sandbox, "lfs")
    assert setstripe == ["setstripe", "-E", "64M", "-c", "1", "-E", "-1", "-c", "32", fsx.checkpoint_path]
    assert (sandbox / "etc" / "fstab").read_text() == fsx.fstab_line + "\n"


@pytest.mark.parametrize(
    ("field", "value"),
    [("mount_path", "/fsx mnt"), ("mount_path", "/fsx\n/etc"), ("dns_name", "fs#1"), ("checkpoint_path", "")],
)
def test_fsx_values_fstab_cannot_hold_are_refused(field: str, value: str) -> None:
    fields = {"dns_name": "fs-1", "mount_name": "m", "mount_path": "/fsx", "checkpoint_path": "/fsx/c"}
    fields[field] = value
    with pytest.raises(ValueError, match=field):
        FsxMount(efa_enabled=False, layout=(("-1", 1),), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("end", ["64M;reboot", "$(id)", "1 G"])
def test_a_layout_component_that_is_no_lfs_size_is_refused(end: str) -> None:
    with pytest.raises(ValueError, match="lfs size"):
        FsxMount("fs-1", "m", "/fsx", False, "/fsx/c", ((end, 1), ("-1", 8)))


@pytest.mark.parametrize("value", LINE_PAYLOADS)
@pytest.mark.parametrize("where", ["label key", "label value", "taint key", "taint value"])
def test_kubelet_flags_refuse_what_would_add_labels_or_taints(value: str, where: str) -> None:
    overrides: dict[str, object] = {}
    if where == "label key":
        overrides["node_labels"] = {f"example.com/{value}": "x"}
    elif where == "label value":
        overrides["node_labels"] = {"example.com/team": value}
    else:
        key, val = (value, "x") if where == "taint key" else ("dedicated", value)
        overrides["taints"] = (Taint.model_construct(key=key, value=val, effect="NoSchedule"),)
    for scheduler in ("kubernetes", "slurm"):
        cluster = NodeadmCluster("factory", "https://e.example", "Q0E=", "172.20.0.0/16")
        ctx = _context(scheduler=scheduler, cluster=cluster, slurm_controller="slurmctld", **overrides)
        with pytest.raises(ValueError, match="Kubernetes syntax"):
            render_user_data(ctx)


@pytest.mark.parametrize("mirror", [f"x.example/{p.format(p='/tmp/p')}" for p in SHELL_PAYLOADS] + ["x.example\n"])
def test_a_hostile_registry_mirror_is_refused_before_it_reaches_hosts_toml(mirror: str) -> None:
    with pytest.raises(ValueError, match="registry mirror"):
        _context(registry_mirror=mirror)


@pytest.mark.parametrize("value", [*LINE_PAYLOADS, "x\n    evil: true", 'a"b', "a: b"])
def test_nodeconfig_keeps_hostile_cluster_values_as_yaml_scalars(value: str) -> None:
    cluster = NodeadmCluster(value, value, value, value)
    ctx = _context(scheduler="kubernetes", cluster=cluster)
    document = render_user_data(ctx).split('Content-Type: application/node.eks.aws; charset="us-ascii"\n\n')[1]
    nodeconfig = yaml.safe_load(document.split("\n--==AIFACTORY-BOUNDARY==")[0])
    assert nodeconfig["spec"]["cluster"] == {
        "name": value,
        "apiServerEndpoint": value,
        "certificateAuthority": value,
        "cidr": value,
    }
    assert set(nodeconfig["spec"]) == {"cluster", "kubelet"}


def _slurm_inputs() -> SlurmInputs:
    config = base()
    config["aifactory:scheduler"] = {"kind": "slurm", "partitions": [{"name": "train", "fleets": ["train", "eval"]}]}
    spec = spec_from_config(config)
    plan = plan_factory(spec, "dev")
    assert plan.placement is not None
    return slurm_inputs_from_plan(spec, plan.placement, cluster_name="dev", controller_host="slurmctld")


@pytest.mark.parametrize("value", [*LINE_PAYLOADS[:5], "a\tb", "a\rb"])
@pytest.mark.parametrize("field", ["partition name", "max time", "feature", "cluster name", "controller host"])
def test_slurm_renderer_refuses_values_slurm_would_read_as_syntax(value: str, field: str) -> None:
    inputs = _slurm_inputs()
    if field == "partition name":
        inputs = dataclasses.replace(inputs, partitions=(dataclasses.replace(inputs.partitions[0], name=value),))
    elif field == "max time":
        inputs = dataclasses.replace(inputs, partitions=(dataclasses.replace(inputs.partitions[0], max_time=value),))
    elif field == "feature":
        group = dataclasses.replace(inputs.groups[0], features=(value,))
        inputs = dataclasses.replace(inputs, groups=(group, *inputs.groups[1:]))
    elif field == "cluster name":
        inputs = dataclasses.replace(inputs, cluster_name=value)
    else:
        inputs = dataclasses.replace(inputs, controller_host=value)
    with pytest.raises(ValueError, match=r"Slurm value|one-line"):
        render_slurm_configs(inputs)


def test_every_slurm_line_of_a_normal_render_is_one_record() -> None:
    files = render_slurm_configs(_slurm_inputs())
    for name in ("slurm.conf", "gres.conf", "topology.conf"):
        for line in files[name].splitlines():
            if line and not line.startswith("#"):
                # `Keyword=Value` pairs, one '=' each, nothing else.
                assert all(re.fullmatch(r"[A-Za-z]+=[^=\s#]+", word) for word in line.split()), (name, line)


def _unquoted(script: str, payload: str) -> list[str]:
    """Lines where `payload` occurs outside single quotes (a small POSIX quote scanner)."""
    found = []
    for line in script.splitlines():
        start = 0
        while (at := line.find(payload, start)) >= 0:
            quoted, i = False, 0
            while i < at:
                if line[i] == "'":
                    quoted = not quoted
                elif line[i] == "\\" and not quoted:
                    i += 1
                i += 1
            if not quoted or "'" not in line[at + len(payload) :]:
                found.append(line)
            start = at + 1
    return found


def test_slurm_health_check_and_reservations_quote_hostile_hostnames(tmp_path: Path) -> None:
    inputs = _slurm_inputs()
    payload = f"gpu$(touch {tmp_path}/pwned)"
    group = dataclasses.replace(inputs.groups[0], hostnames=(payload,))
    script = render("slurm/healthcheck.sh.j2", host_cases=host_cases([group]), timeout=45)
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    assert [f for f in shellcheck(script) if "SC2016" not in f] == []
    assert payload in script
    assert _unquoted(script, payload) == []


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b", "a\x1bb"])
def test_one_line_refuses_line_breaks_and_control_characters(value: str) -> None:
    with pytest.raises(ValueError):
        one_line(value)


@pytest.mark.parametrize("value", ["8", 8.0, True, None, "8; reboot"])
def test_shell_int_refuses_anything_but_an_integer(value: object) -> None:
    with pytest.raises(ValueError):
        shell_int(value)


def test_slurm_value_accepts_the_values_the_renderer_writes() -> None:
    for value in ("gpu:h100:8", "/dev/nvidia[0-7]", "gpu-[001-016]", "fleet-train,rack-r01", "ANY,CYCLE", 60):
        assert slurm_value(value) == str(value)


def test_the_capacity_block_drain_script_keeps_a_hostile_fleet_name_as_data(tmp_path: Path) -> None:
    fleet = FleetCapacity(
        name=f"train$(touch {tmp_path}/pwned-1);touch {tmp_path}/pwned-2",
        instance_type="p5.48xlarge",
        nodes=2,
        capacity_block_end=datetime(2027, 1, 1, tzinfo=UTC),
    )
    [cronjob] = [m for m in capacity_block_drain(fleet, "1.35", timedelta(minutes=15)) if m["kind"] == "CronJob"]
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    shell, flag, script = container["command"]
    assert (shell, flag) == ("/bin/sh", "-c")
    program = tmp_path / "drain.sh"
    program.write_text(f"kubectl() {{ printf '%s\\n' \"$@\" >>{shell_quote(tmp_path / 'kubectl.args')}; }}\n{script}\n")
    result = subprocess.run(["sh", str(program)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert not list(tmp_path.glob("pwned*")), "a payload ran"
    words = (tmp_path / "kubectl.args").read_text().splitlines()
    assert words.count(f"aifactory.io/fleet={fleet.name}") == 2


def test_a_value_holding_the_mime_boundary_cannot_split_the_user_data() -> None:
    fsx = FsxMount("fs-1", "m", "/fsx/--==AIFACTORY-BOUNDARY==", False, "/fsx/c", (("-1", 1),))
    with pytest.raises(ValueError, match="MIME boundary"):
        render_user_data(_context(fsx))


HEAD_PAYLOAD = "x$(touch /tmp/aifactory-pwned)`id`;reboot"


@pytest.mark.parametrize("field", ["controller_host", "zone", "region", "munge_secret_arn", "db_host", "db_secret_arn"])
def test_the_slurm_head_script_keeps_every_value_one_quoted_word(field: str) -> None:
    values = {
        "controller_host": "slurmctld",
        "zone": "dev.slurm.internal",
        "region": "us-east-1",
        "munge_secret_arn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:munge",
        "db_host": "db.example",
        "db_secret_arn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:db",
    }
    values[field] = HEAD_PAYLOAD
    script = head_user_data(accounting=True, files=[("slurm.conf", "Q2x1c3Rlcg==")], egress="nat", **values)
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    assert HEAD_PAYLOAD in script
    assert _unquoted(script, HEAD_PAYLOAD) == []


@pytest.mark.parametrize("field", ["zone", "version", "controller_host", "script_dir"])
def test_the_slurmd_join_script_keeps_every_value_one_quoted_word(field: str) -> None:
    values = {
        "zone": "dev.slurm.internal",
        "version": "23.11",
        "controller_host": "slurmctld",
        "script_dir": "/etc/slurm/scripts",
    }
    values[field] = HEAD_PAYLOAD
    script = join_script(scripts=[("prolog.sh", "IyEvYmluL2Jhc2g=")], egress="nat", **values)
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    assert HEAD_PAYLOAD in script
    assert _unquoted(script, HEAD_PAYLOAD) == []


def test_the_quote_scanner_finds_an_unquoted_payload() -> None:
    assert _unquoted("echo x$(id) 'a'", "x$(id)") == ["echo x$(id) 'a'"]
    assert _unquoted('echo "x$(id)"', "x$(id)") == ['echo "x$(id)"']
    assert _unquoted("echo 'x$(id)'", "x$(id)") == []
