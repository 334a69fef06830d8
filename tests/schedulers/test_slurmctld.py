"""A real slurmctld (Debian 12: 22.05.8) started on the generated configuration.

munged and slurmctld run in the foreground from a temporary directory: no systemd, no files outside
it. Node names must resolve for slurmctld to accept them (it resolves every NodeAddr at start), so
each command runs in a private mount namespace with a temporary /etc/hosts bound over the real one.
With CI=true a missing slurmctld fails the test; elsewhere it is a visible skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aifactory.planning import ec2_topology
from aifactory.planning.placement import plan_placement
from aifactory.planning.topology_model import Switch, SwitchTree
from aifactory.schedulers import slurm_power
from aifactory.schedulers.slurm import shipped_program
from aifactory.schedulers.slurm_config import (
    SCRIPT_NAMES,
    SlurmRuntime,
    render_slurm_configs,
    slurm_inputs_from_plan,
)
from aifactory.spec import spec_from_config
from moto.server import ThreadedMotoServer

from tests.schedulers.test_slurm_config import CASES
from tests.stackfiles import PINNED_IMAGES

pytestmark = pytest.mark.slow
EC2_ANSWER = Path(__file__).resolve().parent.parent / "fixtures" / "ec2" / "describe-instance-topology.json"

INSTALL = "bash tools/install_slurm.sh"
NAMESPACE_WRAPPER = 'mount --bind "$0" /etc/hosts && exec "$@"'


def _require_slurm() -> None:
    missing = [
        tool
        for tool in ("slurmctld", "munged", "mungekey", "scontrol", "sinfo", "unshare")
        if shutil.which(tool) is None
    ]
    problem = None
    if missing:
        problem = f"{', '.join(missing)} not installed: run `{INSTALL}` as root"
    elif os.geteuid() != 0:
        problem = f"the slurmctld test runs as root (it binds a temporary /etc/hosts); installer: `{INSTALL}`"
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem)
    pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Controller:
    root: Path
    hosts: Path
    conf: Path
    tree: SwitchTree
    partitions: dict[str, set[str]]
    default_partition: str
    reservation_nodes: dict[str, set[str]]

    def run(self, *command: str) -> str:
        wrapped = ["unshare", "--mount", "--", "sh", "-c", NAMESPACE_WRAPPER, str(self.hosts), *command]
        env = {**os.environ, "SLURM_CONF": str(self.conf)}
        result = subprocess.run(wrapped, capture_output=True, text=True, env=env, timeout=60, check=False)
        assert result.returncode == 0, f"{' '.join(command)} failed: {result.stdout}{result.stderr}"
        return result.stdout

    def hostnames(self, hostlist: str) -> set[str]:
        """Expand a Slurm hostlist with Slurm's own parser."""
        if not hostlist or hostlist == "(null)":
            return set()
        return set(self.run("scontrol", "show", "hostnames", hostlist).split())


def _start(
    root: Path, case: str, config: dict[str, Any] | None = None, resume_program: str | None = None
) -> Iterator[Controller]:
    _require_slurm()
    for sub in ("state", "spool", "log", "run", "scripts", "munge"):
        (root / sub).mkdir(mode=0o700 if sub == "munge" else 0o755)
    # munged wants execute permission for all on every directory above its socket; pytest's
    # temp dirs are private, so the socket lives in its own world-searchable dir under /tmp.
    socket_dir = Path(tempfile.mkdtemp(prefix="aif-munge-"))
    socket_dir.chmod(0o755)
    runtime = SlurmRuntime(
        slurm_user="root",
        state_save_location=str(root / "state"),
        slurmd_spool_dir=str(root / "spool"),
        log_dir=str(root / "log"),
        run_dir=str(root / "run"),
        script_dir=str(root / "scripts"),
        slurmctld_port=_free_port(),
        slurmd_port=_free_port(),
        munge_socket=str(socket_dir / "munge.sock"),
        **({"resume_program": resume_program, "suspend_program": "/bin/true"} if resume_program else {}),
    )
    spec = spec_from_config(config if config is not None else CASES[case])
    plan = plan_placement(spec)
    # slurmctld only runs on the host SlurmctldHost names (slurm.conf(5)).
    head = socket.gethostname().split(".")[0]
    inputs = slurm_inputs_from_plan(spec, plan, f"aif-{case}", controller_host=head, runtime=runtime)
    files = render_slurm_configs(inputs)
    tree = inputs.switch_tree
    if inputs.measured_topology and config is None:
        # EC2: the file the head writes from recorded DescribeInstanceTopology answers (eight p5
        # under two layer-3 nodes, a four-layer p6-b200, one not running), with this case's nodes.
        answer = json.loads(EC2_ANSWER.read_text())
        ids = [i["InstanceId"] for i in answer["Instances"]]
        # Two leaves of the p5 tree, the four-layer p6-b200, then not running / not launched.
        picks: list[str | None] = [ids[0], ids[5], ids[8], ids[9], None]
        names = sorted({h for g in inputs.groups for h in g.hostnames})
        nodes = {n: picks[k] if k < len(picks) else None for k, n in enumerate(names)}
        measured = ec2_topology.switch_tree(nodes, [answer])
        files["topology.conf"] = ec2_topology.topology_conf(measured)
        tree = SwitchTree(tuple(Switch(s.name, nodes=s.nodes, switches=s.switches) for s in measured))
    for name, text in files.items():
        target = root / "scripts" / name if name in SCRIPT_NAMES else root / name
        target.write_text(text)
        if name.endswith(".sh"):
            target.chmod(0o755)
    names = sorted({h for g in inputs.groups for h in g.hostnames})
    hosts = root / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {head}\n" + "".join(f"127.0.0.1 {n}\n" for n in names))

    key = root / "munge" / "munge.key"
    subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
    key.chmod(0o600)
    munged = subprocess.Popen(
        [
            "munged",
            "--foreground",
            f"--key-file={key}",
            f"--socket={runtime.munge_socket}",
            f"--pid-file={root / 'munge' / 'munged.pid'}",
            f"--log-file={root / 'munge' / 'munged.log'}",
            f"--seed-file={root / 'munge' / 'munged.seed'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not Path(str(runtime.munge_socket)).exists():
        if munged.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"munged did not start:\n{(root / 'munge' / 'munged.log').read_text()}")
        time.sleep(0.1)
    conf = root / "slurm.conf"
    log = (root / "log" / "slurmctld.out").open("w")
    slurmctld = subprocess.Popen(
        [
            "unshare",
            "--mount",
            "--",
            "sh",
            "-c",
            NAMESPACE_WRAPPER,
            str(hosts),
            "slurmctld",
            "-D",
            "-i",
            "-f",
            str(conf),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SLURM_CONF": str(conf)},
    )
    controller = Controller(
        root=root,
        hosts=hosts,
        conf=conf,
        tree=tree,
        partitions={
            p.name: {h for g in inputs.groups if g.fleet in p.fleets for h in g.hostnames} for p in inputs.partitions
        },
        default_partition=next(p.name for p in inputs.partitions if p.default),
        reservation_nodes={
            f"capacity-block-end-{g.fleet}": set(g.hostnames) for g in inputs.groups if g.capacity_block_end is not None
        },
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if slurmctld.poll() is not None:
                output = (root / "log" / "slurmctld.out").read_text()
                pytest.fail(f"slurmctld exited {slurmctld.returncode}:\n{output}")
            ping = subprocess.run(
                ["unshare", "--mount", "--", "sh", "-c", NAMESPACE_WRAPPER, str(hosts), "scontrol", "ping"],
                capture_output=True,
                text=True,
                env={**os.environ, "SLURM_CONF": str(conf)},
                check=False,
            )
            if "UP" in ping.stdout:
                break
            assert time.monotonic() < deadline, f"slurmctld did not answer: {ping.stdout}{ping.stderr}"
            time.sleep(0.5)
        yield controller
    finally:
        slurmctld.terminate()
        slurmctld.wait(timeout=30)
        munged.terminate()
        munged.wait(timeout=30)
        log.close()
        shutil.rmtree(socket_dir, ignore_errors=True)


@pytest.fixture(scope="module", params=sorted(CASES))
def controller(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Controller]:
    yield from _start(tmp_path_factory.mktemp(f"slurm-{request.param}"), request.param)


def test_slurmctld_accepts_the_configuration(controller: Controller) -> None:
    log = (controller.root / "log" / "slurmctld.log").read_text()
    assert "fatal" not in log.lower(), log
    assert "Running as primary controller" in log


def test_scontrol_topology_equals_the_switch_tree(controller: Controller) -> None:
    by_name = {s.name: s for s in controller.tree.switches}

    def below(name: str) -> set[str]:
        switch = by_name[name]
        return set(switch.nodes).union(*(below(child) for child in switch.switches))

    seen: dict[str, tuple[set[str], set[str]]] = {}
    for line in controller.run("scontrol", "show", "topology").splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        nodes = controller.hostnames(fields.get("Nodes", ""))
        seen[fields["SwitchName"]] = (nodes, controller.hostnames(fields.get("Switches", "")))
    expected = {s.name: (below(s.name), set(s.switches)) for s in controller.tree.switches}
    assert seen == expected


def test_sinfo_lists_every_partition_and_node(controller: Controller) -> None:
    listed: dict[str, set[str]] = {}
    for line in controller.run("sinfo", "--noheader", "--Node", "--format=%N %P").splitlines():
        node, partition = line.split()
        listed.setdefault(partition, set()).add(node)
    expected = {
        (f"{name}*" if name == controller.default_partition else name): nodes
        for name, nodes in controller.partitions.items()
    }
    assert listed == expected


def test_capacity_block_reservations_are_created(controller: Controller) -> None:
    controller.run("bash", str(controller.root / "reservations.sh"))
    controller.run("bash", str(controller.root / "reservations.sh"))  # idempotent: a second run is a no-op
    text = controller.run("scontrol", "show", "reservation")
    created: dict[str, set[str]] = {}
    name = ""
    for part in text.split():
        key, _, value = part.partition("=")
        if key == "ReservationName":
            name = value
        elif key == "Nodes":
            created[name] = controller.hostnames(value)
        elif key == "Flags":
            assert "MAINT" in value
    assert created == controller.reservation_nodes


# 100,000 GPUs: 12,500 p5 CLOUD nodes on a capacity reservation, as the plan renders them.
CLOUD_NODES = 12_500
CLOUD_100K: dict[str, Any] = {
    "aws:region": "us-east-1",
    "aifactory:profile": "commercial",
    "aifactory:images": PINNED_IMAGES,
    "aifactory:fleets": [
        {
            "name": "train",
            "instanceType": "p5.48xlarge",
            "count": CLOUD_NODES,
            "availabilityZone": "us-east-1a",
            "capacity": {"type": "capacity-reservation", "reservationId": "cr-0c0ffee0c0ffee012"},
        }
    ],
    "aifactory:scheduler": {"kind": "slurm", "partitions": [{"name": "train", "fleets": ["train"], "default": True}]},
}


@dataclass
class CloudFactory:
    controller: Controller
    ec2: Any
    record: Path


def _free_port_server() -> ThreadedMotoServer:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    return server


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudFactory]:
    """slurmctld over 12,500 CLOUD nodes whose ResumeProgram is the real power program, called by
    slurmctld through a wrapper that keeps a copy of SLURM_RESUME_FILE and points boto3 at moto."""
    _require_slurm()
    root = tmp_path_factory.mktemp("slurm-cloud-100k")
    server = _free_port_server()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"  # type: ignore[union-attr]
    ec2 = boto3.client(
        "ec2", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x"
    )
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    template = ec2.create_launch_template(
        LaunchTemplateName="aif-train-d0", LaunchTemplateData={"ImageId": image, "InstanceType": "p5.48xlarge"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    node_map = {
        "cluster": "aif-cloud",
        "region": "us-east-1",
        "domains": [
            {
                "name": "train-d0",
                "nodes": f"train-[00001-{CLOUD_NODES}]",
                "launchTemplateId": template,
                "launchTemplateVersion": "1",
                "capacity": "capacity-reservation",
                "reservationId": "cr-0c0ffee0c0ffee012",
            }
        ],
    }
    (root / "map.json").write_text(json.dumps(node_map))
    # The ResumeProgram as the head's user data carries it (comments and docstrings stripped).
    program = root / "slurm_power.py"
    program.write_text(shipped_program(Path(slurm_power.__file__).read_text()) + "\n")
    record = root / "resume-record"
    record.mkdir()
    # slurmctld runs the program with an environment of its own (SLURM_CONF, SLURM_RESUME_FILE):
    # the wrapper sets everything else.
    wrapper = root / "aifactory-resume"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        f'cp "$SLURM_RESUME_FILE" {record}/resume.json\n'
        f'echo "$@" >{record}/argv\n'
        f"AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x "
        f'exec {sys.executable} {program} --map {root / "map.json"} resume "$@" '
        f">{record}/out 2>&1\n"
    )
    wrapper.chmod(0o755)
    (root / "slurm").mkdir()
    try:
        for controller in _start(root / "slurm", "cloud", CLOUD_100K, resume_program=str(wrapper)):
            yield CloudFactory(controller, ec2, record)
    finally:
        server.stop()


def test_slurmctld_holds_every_cloud_node_of_a_100k_gpu_factory(cloud: CloudFactory) -> None:
    log = (cloud.controller.root / "log" / "slurmctld.log").read_text()
    assert "fatal" not in log.lower(), log
    counts = cloud.controller.run("sinfo", "--noheader", "--format=%D %T")
    # Every planned node is a powered-down CLOUD node ("idle~"), none missing.
    assert sum(int(line.split()[0]) for line in counts.splitlines()) == CLOUD_NODES
    nodes = cloud.controller.run("scontrol", "show", "node", "train-12500")
    assert "CLOUD" in nodes and "POWERED_DOWN" in nodes


def test_a_job_makes_slurmctld_launch_its_nodes_through_create_fleet(cloud: CloudFactory) -> None:
    (cloud.controller.root / "job").mkdir(exist_ok=True)
    cloud.controller.run(
        "sbatch", "--nodes=2", "--partition=train", f"--chdir={cloud.controller.root / 'job'}", "--wrap=true"
    )
    deadline = time.monotonic() + 90
    while not (cloud.record / "out").exists() or not (cloud.record / "out").read_text():
        assert time.monotonic() < deadline, "slurmctld did not run the ResumeProgram"
        time.sleep(1)
    time.sleep(1)
    document = json.loads((cloud.record / "resume.json").read_text())
    # Debian's 22.05 writes the job -> node map the program parses.
    (job,) = slurm_power.parse_resume_file(document, [])
    assert len(job.nodes) == 2 and job.job_id is not None
    assert "launched 2 of 2 nodes" in (cloud.record / "out").read_text()
    tags = [
        {t["Key"]: t["Value"] for t in i.get("Tags", [])}
        for r in cloud.ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
    ]
    assert sorted(t[slurm_power.NODE_NAME_TAG] for t in tags) == sorted(job.nodes)
    assert {t[slurm_power.CLUSTER_TAG] for t in tags} == {"aif-cloud"}
