"""The Slurm head's first-boot script and the compute nodes' join script: one golden file per case
(egress nat/none x accounting on/off), `bash -n` and shellcheck on each, the exact packages installed
with egress, nothing fetched without it, and the image check run for real in bash."""

from __future__ import annotations

import gzip
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from aifactory.schedulers import slurm_power
from aifactory.schedulers.slurm import (
    ACCOUNTING_BINARIES,
    HEAD_BINARIES,
    NODE_BINARIES,
    SlurmComputeGroupArgs,
    head_user_data,
    join_script,
    power_map,
    shipped_program,
)

from tests.golden import check_text
from tests.validators import shellcheck

GOLDEN = Path(__file__).parent.parent / "golden" / "slurm" / "scripts"
MUNGE_ARN = "arn:aws:secretsmanager:eu-north-1:123456789012:secret:aif-munge-AbCdEf"
CASES = [(egress, accounting) for egress in ("nat", "none") for accounting in (False, True)]
# What reaches a package archive or the internet; IMDS (169.254.169.254) is on the instance.
INTERNET = re.compile(r"\b(apt-get|apt|dnf|yum|pip3?|snap install|wget)\b|curl [^\n]*https?://(?!169\.254\.169\.254)")


def head(egress: str, accounting: bool) -> str:
    return head_user_data(
        controller_host="slurmctld",
        zone="aif.slurm.internal",
        region="eu-north-1",
        munge_secret_arn=MUNGE_ARN,
        accounting=accounting,
        db_host="aif-accounting.abcdefghij.eu-north-1.rds.amazonaws.com" if accounting else None,
        db_secret_arn="arn:aws:secretsmanager:eu-north-1:123456789012:secret:rds!db-0a1b2c3d-AbCdEf"
        if accounting
        else None,
        files=[("slurm.conf", "ClusterName=aif\n")],
        egress=egress,
    )


def join(egress: str) -> str:
    script = join_script(
        zone="aif.slurm.internal",
        version="23.11",
        scripts=[("prolog.sh", "IyEvYmluL2Jhc2gK")],
        controller_host="slurmctld",
        egress=egress,
    )
    assert "{{" not in script  # no SSM parameter: nothing but the head's share gives the key
    return script


def bash_n(script: str) -> None:
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr


def _name(egress: str, accounting: bool) -> str:
    return f"head-{egress}-{'accounting' if accounting else 'no-accounting'}.sh"


@pytest.mark.parametrize(("egress", "accounting"), CASES)
def test_head_user_data_matches_golden_and_parses(egress: str, accounting: bool) -> None:
    script = head(egress, accounting)
    check_text(GOLDEN / _name(egress, accounting), script, __file__)
    bash_n(script)
    assert shellcheck(script) == []


@pytest.mark.parametrize("egress", ["nat", "none"])
def test_join_script_matches_golden_and_parses(egress: str) -> None:
    script = join(egress)
    check_text(GOLDEN / f"join-{egress}.sh", script, __file__)
    bash_n(script)
    assert shellcheck(script) == []


@pytest.mark.parametrize("accounting", [False, True])
def test_head_installs_exactly_its_packages_with_egress(accounting: bool) -> None:
    # A comment merged into this line (a block tag eating the newline) becomes package names.
    lines = [line for line in head("nat", accounting).splitlines() if "apt-get install" in line]
    assert len(lines) == 1
    words = shlex.split(lines[0])
    assert words[:5] == ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
    expected = ["slurmctld", "slurm-client", "munge", "nfs-kernel-server", "python3-boto3"] + (
        ["slurmdbd", "mariadb-client"] if accounting else []
    )
    assert words[5:] == expected


def test_join_installs_exactly_slurmd_and_munge_with_egress() -> None:
    [line] = [line for line in join("nat").splitlines() if "apt-get install" in line]
    assert shlex.split(line)[-3:] == ["slurmd", "munge", "nfs-common"]
    assert shlex.split(line)[:4] == ["timeout", "600", "apt-get", "install"]


@pytest.mark.parametrize("accounting", [False, True])
def test_without_egress_nothing_is_fetched_and_the_image_is_checked(accounting: bool) -> None:
    offline = head("none", accounting)
    assert INTERNET.findall(offline) == []
    require = [shlex.split(line) for line in offline.splitlines() if line.startswith("require ")]
    assert require == [["require", *HEAD_BINARIES, *(ACCOUNTING_BINARIES if accounting else ())]]
    assert ("command -v mariadb || command -v mysql" in offline) == accounting
    # The check comes before anything changes on the host.
    assert offline.index("\nrequire ") < offline.index("hostnamectl")
    node = join("none")
    assert INTERNET.findall(node) == []
    assert [shlex.split(line) for line in node.splitlines() if line.startswith("require ")] == [
        ["require", *NODE_BINARIES]
    ]
    assert node.index("\nrequire ") < node.index("curl ")
    # With egress the same scripts do install, so the pattern above can see an install.
    assert INTERNET.findall(head("nat", accounting)) and INTERNET.findall(join("nat"))


def _require_snippet(script: str) -> str:
    """The script's image check as it runs: the hint, the function and its call."""
    start = script.index("hint=")
    call = re.search(r"^require .*$", script, re.MULTILINE)
    assert call is not None
    return script[start : call.end()] + "\necho image-ok\n"


def _run_with(tmp_path: Path, snippet: str, present: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in present:
        tool = bin_dir / name
        tool.write_text("#!/bin/sh\nexit 0\n")
        tool.chmod(0o755)
    bash = subprocess.run(["bash", "-c", "command -v bash"], capture_output=True, text=True, check=True).stdout.strip()
    env = {"PATH": str(bin_dir)}
    return subprocess.run(
        [bash, "-c", f"set -euo pipefail\nlogger() {{ :; }}\n{snippet}"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=30,
    )


@pytest.mark.parametrize("which", ["head", "join"])
def test_image_check_names_every_missing_binary_and_stops(tmp_path: Path, which: str) -> None:
    script = head("none", True) if which == "head" else join("none")
    binaries = HEAD_BINARIES + ACCOUNTING_BINARIES if which == "head" else NODE_BINARIES
    snippet = _require_snippet(script)
    lacking = (binaries[0], binaries[-1])
    result = _run_with(tmp_path, snippet, tuple(b for b in binaries if b not in lacking))
    assert result.returncode == 1
    assert "image-ok" not in result.stdout
    assert f"lacks {lacking[0]} {lacking[1]};" in result.stderr
    assert "no internet egress" in result.stderr and "build the image" in result.stderr
    complete = _run_with(tmp_path, snippet, binaries)
    assert complete.returncode == 0, complete.stderr
    assert complete.stdout.strip() == "image-ok"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("controller_host", "head; reboot"),
        ("zone", "a b"),
        ("munge_secret_arn", "arn:$(id)"),
        ("db_host", "db'host"),
        ("db_secret_arn", "arn:x' ; id ; '"),
    ],
)
def test_interpolated_values_stay_one_shell_word(field: str, value: str) -> None:
    kwargs: dict[str, object] = {
        "controller_host": "slurmctld",
        "zone": "aif.slurm.internal",
        "region": "eu-north-1",
        "munge_secret_arn": MUNGE_ARN,
        "accounting": True,
        "db_host": "db.example",
        "db_secret_arn": "arn:aws:secretsmanager:eu-north-1:123456789012:secret:rds!db-1",
        "files": [],
        "egress": "none",
    }
    kwargs[field] = value
    script = head_user_data(**kwargs)  # type: ignore[arg-type]
    quoted = shlex.quote(value)
    assert quoted in script
    assert value not in script.replace(quoted, "")
    bash_n(script)


def test_imds_firewall_admits_root_only_and_is_idempotent(tmp_path: Path) -> None:
    """Run the firewall script the join and head scripts install against iptables stand-ins that
    record their calls: both address families, root returns, everyone else is rejected, and a rerun
    (every boot) flushes the chain instead of stacking OUTPUT jumps."""
    script = join("nat")
    body = script.split("<<'AIFACTORY_IMDS'\n", 1)[1].split("\nAIFACTORY_IMDS\n", 1)[0]
    assert body == head("nat", False).split("<<'AIFACTORY_IMDS'\n", 1)[1].split("\nAIFACTORY_IMDS\n", 1)[0]
    log = tmp_path / "calls"
    rules = tmp_path / "rules"
    rules.mkdir()
    stub = (
        "#!/bin/bash\n"
        'echo "$(basename "$0") $*" >>"$LOG"\n'
        'args=" $* "\n'
        'state="$RULES/$(basename "$0")"\n'
        'case "$args" in\n'
        '  *" -N "*) [ -e "$state.chain" ] && exit 1; touch "$state.chain" ;;\n'
        '  *" -C OUTPUT "*) [ -e "$state.jump" ] || exit 1 ;;\n'
        '  *" -I OUTPUT "*) touch "$state.jump" ;;\n'
        "esac\n"
    )
    for tool in ("iptables", "ip6tables"):
        path = tmp_path / tool
        path.write_text(stub)
        path.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "LOG": str(log), "RULES": str(rules)}
    for _ in range(2):
        subprocess.run(["bash", "-c", body], env=env, check=True, timeout=30)
    calls = log.read_text().splitlines()
    first, second = calls[: len(calls) // 2], calls[len(calls) // 2 :]
    assert "iptables -w -A AIFACTORY-IMDS -m owner --uid-owner 0 -j RETURN" in first
    assert "iptables -w -A AIFACTORY-IMDS -j REJECT" in first
    assert "iptables -w -I OUTPUT 1 -d 169.254.169.254/32 -j AIFACTORY-IMDS" in first
    if Path("/proc/net/if_inet6").exists():
        assert "ip6tables -w -I OUTPUT 1 -d fd00:ec2::254/128 -j AIFACTORY-IMDS" in first
    # The rerun flushes the existing chain and finds the jump in place.
    assert "iptables -w -F AIFACTORY-IMDS" in second
    assert not [c for c in second if " -I OUTPUT " in c]
    # Root's RETURN comes before the REJECT.
    chain = [c for c in first if c.startswith("iptables -w -A AIFACTORY-IMDS")]
    assert chain[0].endswith("--uid-owner 0 -j RETURN") and chain[-1].endswith("-j REJECT")


def head_measuring(egress: str, version: str = "23.11") -> str:
    return head_user_data(
        controller_host="slurmctld",
        zone="aif.slurm.internal",
        region="eu-north-1",
        munge_secret_arn=MUNGE_ARN,
        accounting=False,
        db_host=None,
        db_secret_arn=None,
        files=[("slurm.conf", "ClusterName=aif\n")],
        egress=egress,
        cluster="aif",
        version=version,
        measured_topology=True,
        node_map=power_map("aif", "eu-north-1", [GROUP], [("lt-0123456789abcdef0", "3")]),
    )


GROUP: SlurmComputeGroupArgs = {
    "domain": "train-d0",
    "launch_template_id": "lt-0123456789abcdef0",
    "launch_template_version": "3",
    "capacity": "capacity-block",
    "reservation_id": "cr-0123456789abcdef0",
    "hostnames": ["train-0001", "train-0002"],
}


@pytest.mark.parametrize("egress", ["nat", "none"])
def test_head_measuring_topology_matches_golden_and_parses(egress: str) -> None:
    script = head_measuring(egress)
    check_text(GOLDEN / f"head-{egress}-measured-topology.sh", script, __file__)
    bash_n(script)
    assert shellcheck(script) == []
    # The refresh program inside the heredoc passes too.
    inner = script.split("<<'AIFACTORY_TOPOLOGY'\n", 1)[1].split("\nAIFACTORY_TOPOLOGY\n", 1)[0]
    bash_n(inner)
    assert shellcheck(inner) == []


def test_head_ships_the_translation_module_itself_and_the_planned_names() -> None:
    from aifactory.planning import ec2_topology

    script = head_measuring("none")
    programs = re.findall(r"<<'AIFACTORY_PROGRAM'\n(.*?)\nAIFACTORY_PROGRAM\n", script, re.S)
    # The modules' code without comments and docstrings (the head's user data is at most 16 KB).
    assert programs == [
        shipped_program(Path(slurm_power.__file__).read_text()),
        shipped_program(Path(ec2_topology.__file__).read_text()),
    ]
    encoded = script.split("cat >'/etc/slurm/aifactory-domains.json' <<'AIFACTORY_FILE'\n", 1)[1].split("\n")[0]
    node_map = slurm_power.load_map(json.loads(encoded))
    assert [(d.name, d.nodes, d.capacity) for d in node_map.domains] == [
        ("train-d0", ("train-0001", "train-0002"), "capacity-block")
    ]
    # The topology refresh's node list is the map's, written on the head.
    assert (
        "python3 '/usr/local/lib/aifactory/slurm_power.py' --map '/etc/slurm/aifactory-domains.json' nodes "
        ">'/etc/slurm/aifactory-nodes.json'" in script
    )
    assert "systemctl enable --now aifactory-hold.timer" in script
    assert "--format 'conf'" in script and "--output '/etc/slurm/topology.conf'" in script
    assert "aws ec2 describe-instance-topology" in script and "aws ec2 describe-instances" in script
    assert "systemctl enable --now aifactory-topology.timer" in script
    # Slurm 25.05 reads topology.yaml first (topology.yaml(5)).
    assert "--format 'yaml'" in head_measuring("none", "25.05")
    assert "--output '/etc/slurm/topology.yaml'" in head_measuring("none", "25.05")


def test_head_without_measured_topology_has_no_refresh() -> None:
    assert "aifactory-topology" not in head("none", False)


PAIRS = [["train-0001", "i-0p500000000000000"], ["train-0002", "i-0p500000000000005"]]


def test_refresh_runs_the_program_and_reconfigures_only_on_change(tmp_path: Path) -> None:
    """The refresh script as the head runs it, with `aws` and `scontrol` stubbed by recorded answers."""
    from aifactory.planning import ec2_topology

    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "ec2" / "describe-instance-topology.json"
    script = head_measuring("none")
    inner = script.split("<<'AIFACTORY_TOPOLOGY'\n", 1)[1].split("\nAIFACTORY_TOPOLOGY\n", 1)[0]
    program = tmp_path / "ec2_topology.py"
    # The program the head's user data carries, not the package's file.
    shipped = re.findall(r"<<'AIFACTORY_PROGRAM'\n(.*?)\nAIFACTORY_PROGRAM\n", script, re.S)[-1]
    assert shipped == shipped_program(Path(ec2_topology.__file__).read_text())
    program.write_text(shipped + "\n")
    nodes = tmp_path / "nodes.json"
    nodes.write_text(json.dumps(["train-0001", "train-0002"]))
    out = tmp_path / "topology.conf"
    inner = (
        inner.replace("/usr/local/lib/aifactory/ec2_topology.py", str(program))
        .replace("/etc/slurm/aifactory-nodes.json", str(nodes))
        .replace("/etc/slurm/topology.conf", str(out))
        .replace("PATH=/usr/local/sbin", f"PATH={tmp_path}/bin:/usr/local/sbin")
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(
        "#!/bin/bash\n"
        f'echo "$*" >>{tmp_path}/aws.log\n'
        'case "$2" in\n'
        f"  describe-instances) echo {shlex.quote(json.dumps(PAIRS))} ;;\n"
        f"  describe-instance-topology) cat {fixture} ;;\n"
        "esac\n"
    )
    (bin_dir / "scontrol").write_text(f'#!/bin/bash\necho "$*" >>{tmp_path}/scontrol.log\n')
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    run = tmp_path / "refresh.sh"
    run.write_text(inner)
    for _ in range(2):
        subprocess.run(["bash", str(run)], check=True, capture_output=True, text=True, timeout=60)
    assert "SwitchName=nn-1a2b3c4d5e6f70003 Nodes=train-0001" in out.read_text()
    assert "SwitchName=nn-1a2b3c4d5e6f70004 Nodes=train-0002" in out.read_text()
    # Reconfigured once: the second run found the same answers.
    assert (tmp_path / "scontrol.log").read_text().splitlines() == ["reconfigure"]
    calls = (tmp_path / "aws.log").read_text()
    assert "--instance-ids i-0p500000000000000 i-0p500000000000005" in calls
    assert "Name=tag:aifactory:slurm-cluster,Values=aif" in calls


# --- built images (aifactory:nodeImages.boot) and Slurm 25.11's registered topology ---------------


def head_built(version: str = "25.11") -> str:
    return head_user_data(
        controller_host="slurmctld",
        zone="aif.slurm.internal",
        region="eu-north-1",
        munge_secret_arn=MUNGE_ARN,
        accounting=False,
        db_host=None,
        db_secret_arn=None,
        files=[("slurm.conf", "ClusterName=aif\n")],
        egress="nat",
        built_images=True,
        cluster="aif",
        version=version,
        node_map=power_map("aif", "eu-north-1", [GROUP], [("lt-0123456789abcdef0", "3")]),
    )


def join_registering(region: str = "eu-north-1", partition: str = "aws") -> str:
    return join_script(
        zone="aif.slurm.internal",
        version="25.11",
        scripts=[("prolog.sh", "IyEvYmluL2Jhc2gK")],
        controller_host="slurmctld",
        egress="nat",
        built_images=True,
        region=region,
        partition=partition,
        registered_topology=True,
    )


def test_built_images_head_matches_golden_installs_nothing_and_checks_the_image() -> None:
    script = head_built()
    check_text(GOLDEN / "head-built-25.11.sh", script, __file__)
    bash_n(script)
    assert shellcheck(script) == []
    # Egress or not, the built image carries the recipe's Slurm: no apt, no snap at boot.
    assert INTERNET.findall(script) == []
    assert "built image (aifactory:nodeImages.boot)" in script
    assert "require 'slurmctld' 'scontrol' 'munged' 'mungekey' 'aws' 'exportfs' 'iptables' 'python3'" in script
    assert "rebuild it from the recipe and re-pin it" in script
    # 25.11 nodes place themselves: the head measures nothing.
    assert "aifactory-topology" not in script and "describe-instance-topology" not in script


def test_join_registering_topology_matches_golden_and_parses() -> None:
    script = join_registering()
    check_text(GOLDEN / "join-built-registered-topology.sh", script, __file__)
    bash_n(script)
    assert shellcheck(script) == []
    assert INTERNET.findall(script.replace("https://ec2.eu-north-1.amazonaws.com/", "")) == []
    assert "--conf=Topology=$topology" in script
    # The EC2 endpoint of the partition (China regions end in amazonaws.com.cn).
    assert "https://ec2.cn-north-1.amazonaws.com.cn/?Action=DescribeInstanceTopology" in join_registering(
        "cn-north-1", "aws-cn"
    )


def test_registered_topology_needs_slurm_25_11() -> None:
    with pytest.raises(ValueError, match=r"needs 25\.11 or later"):
        join_script(
            zone="aif.slurm.internal",
            version="25.05",
            scripts=[],
            controller_host="slurmctld",
            egress="nat",
            region="eu-north-1",
            registered_topology=True,
        )


def _answer(network_nodes: list[str], zone: str = "eun1-az1") -> str:
    # DescribeInstanceTopology's XML answer (EC2 Query API; botocore ec2 service-2.json: instanceSet,
    # networkNodeSet of item, zoneId).
    items = "".join(f"<item>{n}</item>" for n in network_nodes)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<DescribeInstanceTopologyResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        "<requestId>11111111-2222-3333-4444-555555555555</requestId><instanceSet><item>"
        "<instanceId>i-0p500000000000000</instanceId><instanceType>p5.48xlarge</instanceType>"
        f"<networkNodeSet>{items}</networkNodeSet><availabilityZone>eu-north-1a</availabilityZone>"
        f"<zoneId>{zone}</zoneId></item></instanceSet></DescribeInstanceTopologyResponse>"
    )


def _run_registration(tmp_path: Path, answer: str) -> tuple[str, str, str]:
    """The join's topology step as a node runs it: IMDS and EC2 answered by a curl stand-in."""
    script = join_registering()
    start = script.index("conf_server=")
    end = script.index("systemctl enable slurmd")
    step = script[start:end].replace("/etc/default/slurmd", str(tmp_path / "slurmd.env"))
    (tmp_path / "answer.xml").write_text(answer)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(
        "#!/bin/bash\n"
        "out= url=\n"
        "while [ $# -gt 0 ]; do\n"
        '  case "$1" in\n'
        "    -o) out=$2; shift 2 ;;\n"
        f'    -K) cp "$2" {tmp_path}/curl.conf; shift 2 ;;\n'
        "    -H|-m|--aws-sigv4) shift 2 ;;\n"
        "    -*) shift ;;\n"
        "    *) url=$1; shift ;;\n"
        "  esac\n"
        "done\n"
        f'echo "$url" >>{tmp_path}/calls.log\n'
        'case "$url" in\n'
        "  */meta-data/instance-id) echo i-0a500000000000000 ;;\n"
        "  */security-credentials/) echo aif-node ;;\n"
        '  */security-credentials/aif-node) echo \'{"AccessKeyId": "AKIDEXAMPLE", '
        '"SecretAccessKey": "wJalr/EXAMPLEKEY", "Token": "FwoGZXIvEXAMPLE"}\' ;;\n'
        f'  https://ec2.*) cat {tmp_path}/answer.xml >"$out" ;;\n'
        "esac\n"
    )
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    prelude = "set -euo pipefail\nimds=http://169.254.169.254/latest\ntoken=t\nnode=train-0001\n"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    result = subprocess.run(
        ["bash", "-c", prelude + step], capture_output=True, text=True, check=False, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return (tmp_path / "slurmd.env").read_text(), (tmp_path / "calls.log").read_text(), result.stderr


def test_a_node_registers_its_own_ec2_switch_path(tmp_path: Path) -> None:
    from aifactory.planning import ec2_topology

    env, calls, _ = _run_registration(
        tmp_path, _answer(["nn-1a2b3c4d5e6f70001", "nn-1a2b3c4d5e6f70002", "nn-1a2b3c4d5e6f70003"])
    )
    # topology.shtml "Dynamic Topology": `<topology>:<switches from the root>:<leaf>`, here under the
    # rendered file's `region` root (ec2_topology's names), its zone and its own network nodes.
    path = ":".join(
        [
            ec2_topology.TOPOLOGY_NAME,
            ec2_topology.REGION,
            f"{ec2_topology.ZONE_PREFIX}eun1-az1",
            "nn-1a2b3c4d5e6f70001",
            "nn-1a2b3c4d5e6f70002",
            "nn-1a2b3c4d5e6f70003",
            f"nn-1a2b3c4d5e6f70003{ec2_topology.HOSTS_SUFFIX}",
        ]
    )
    assert env == (
        f'SLURMD_OPTIONS="--conf-server slurmctld.aif.slurm.internal:6817 -N train-0001 --conf=Topology={path}"\n'
    )
    assert "Action=DescribeInstanceTopology&Version=2016-11-15&InstanceId.1=i-0a500000000000000" in calls
    # The role's keys went to curl through its config file, not its command line.
    assert "wJalr/EXAMPLEKEY" not in calls
    config = (tmp_path / "curl.conf").read_text()
    assert 'user = "AKIDEXAMPLE:wJalr/EXAMPLEKEY"' in config
    assert 'header = "x-amz-security-token: FwoGZXIvEXAMPLE"' in config


@pytest.mark.parametrize(
    "answer",
    [
        _answer([]),  # not yet reported, or a type without EC2 topology
        _answer(["nn-1a2b3c4d5e6f70001", "NN;reboot"]),  # not a network node id
        _answer(["nn-1a2b3c4d5e6f70001"], zone="eun1 az1"),  # not a zone id
        "<html>proxy error",  # not an EC2 answer at all
    ],
)
def test_a_node_ec2_does_not_place_registers_on_the_unreported_leaf(tmp_path: Path, answer: str) -> None:
    env, calls, stderr = _run_registration(tmp_path, answer)
    assert env == 'SLURMD_OPTIONS="--conf-server slurmctld.aif.slurm.internal:6817 -N train-0001"\n'
    assert calls.count("Action=DescribeInstanceTopology") == 12  # bounded retries
    assert "registers on the unreported leaf" in stderr


def test_shipped_programs_lose_comments_and_docstrings_but_keep_their_help_line() -> None:
    source = (
        '"""Tool.\n\nMore text."""\n# a comment\n\n\n'
        'def f() -> int:\n    """Doc."""\n    return 1  # why\n\n\n'
        'class C:\n    """Only a docstring."""\n\n\n'
        'X = 1\n"""X\'s docstring."""\n'
    )
    shipped = shipped_program(source)
    assert "comment" not in shipped and "why" not in shipped and "Doc." not in shipped and "More text" not in shipped
    namespace: dict[str, object] = {}
    exec(compile(shipped, "<shipped>", "exec"), namespace)
    assert namespace["__doc__"] == "Tool." and namespace["X"] == 1
    assert callable(namespace["f"]) and namespace["f"]() == 1  # type: ignore[operator]
    assert len(gzip.compress(shipped_program(Path(slurm_power.__file__).read_text()).encode())) < 0.8 * len(
        gzip.compress(Path(slurm_power.__file__).read_bytes())
    )
