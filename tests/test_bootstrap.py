"""Rendered user data: golden files per (AMI family x scheduler x profile), checked by the real tools."""

from __future__ import annotations

import dataclasses
import email
import itertools
import re
import subprocess
from email.message import Message
from pathlib import Path

import jsonschema
import pytest
import yaml
from aifactory.bootstrap import (
    BOUNDARY,
    UNHEALTHY_TAINT_KEY,
    BootstrapContext,
    FsxMount,
    NodeadmCluster,
    health_check_script,
    image_requirements,
    node_setup_script,
    render_user_data,
)
from aifactory.catalog import get_instance_type
from aifactory.spec.model import Taint

from tests.golden import check_text
from tests.validators import cloud_config_schema, shellcheck, strict_crd_schema

GOLDEN = Path(__file__).parent / "golden" / "bootstrap"
NODECONFIG_CRD = Path(__file__).parent / "fixtures" / "crds" / "node.eks.aws_nodeconfigs.yaml"
TYPES = {"nvidia": "p5.48xlarge", "neuron": "trn1.32xlarge"}
SCHEDULERS = ("kubernetes", "slurm", "none")
PROFILES = ("sovereign", "commercial")
COMBOS = list(itertools.product(TYPES, SCHEDULERS, PROFILES))
LAYOUT = (("64M", 1), ("4G", 8), ("64G", 16), ("-1", 32))


def context(family: str, scheduler: str, profile: str) -> BootstrapContext:
    entry = get_instance_type(TYPES[family])
    sovereign = profile == "sovereign"
    return BootstrapContext(
        instance_type=entry,
        scheduler=scheduler,  # type: ignore[arg-type]
        profile=profile,  # type: ignore[arg-type]
        cluster=NodeadmCluster(
            name="factory",
            endpoint="https://ABCDEF.gr7.eu-central-1.eks.amazonaws.com",
            certificate_authority="Y2VydGlmaWNhdGVBdXRob3JpdHk=",
            service_cidr="172.20.0.0/16",
        )
        if scheduler == "kubernetes"
        else None,
        fsx=FsxMount(
            dns_name="fs-0123456789abcdef0.fsx.eu-central-1.amazonaws.com",
            mount_name="abcdef12",
            mount_path="/fsx",
            efa_enabled=sovereign,
            checkpoint_path="/fsx/checkpoints",
            layout=LAYOUT,
        ),
        gpu_power_cap_w=600 if family == "nvidia" and not sovereign else None,
        node_labels={"aifactory.io/fleet": "train", "aifactory.io/placement-domain": "pg-0"},
        taints=(
            Taint(
                key="nvidia.com/gpu" if family == "nvidia" else "aws.amazon.com/neuron",
                value="true",
                effect="NoSchedule",
            ),
        ),
        slurm_controller="slurm-head.factory.internal" if scheduler == "slurm" else None,
        dcgm_diag_level=1 if family == "nvidia" and scheduler != "kubernetes" else None,
        registry_mirror="111122223333.dkr.ecr.eu-central-1.amazonaws.com" if sovereign else None,
        # The sovereign default: no internet egress.
        egress="none" if sovereign else "nat",
    )


def parts(user_data: str) -> list[Message]:
    message = email.message_from_string(user_data)
    assert message.is_multipart()
    assert message.get_boundary() == BOUNDARY
    return [part for part in message.walk() if not part.is_multipart()]


def body(part: Message) -> str:
    payload = part.get_payload()
    assert isinstance(payload, str)
    return payload


@pytest.mark.parametrize(("family", "scheduler", "profile"), COMBOS)
def test_golden(family: str, scheduler: str, profile: str) -> None:
    rendered = render_user_data(context(family, scheduler, profile))
    check_text(GOLDEN / f"{family}-{scheduler}-{profile}.txt", rendered, __file__)


@pytest.mark.parametrize(("family", "scheduler", "profile"), COMBOS)
def test_every_shell_part_passes_shellcheck(family: str, scheduler: str, profile: str) -> None:
    ctx = context(family, scheduler, profile)
    scripts = [body(p) for p in parts(render_user_data(ctx)) if p.get_content_type() == "text/x-shellscript"]
    scripts.append(health_check_script(ctx))
    assert scripts
    for script in scripts:
        assert script.startswith("#!/bin/bash\n")
        syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
        assert syntax.returncode == 0, syntax.stderr
        assert shellcheck(script) == []


@pytest.mark.parametrize(("family", "profile"), list(itertools.product(TYPES, PROFILES)))
def test_nodeconfig_part_validates_strictly(family: str, profile: str) -> None:
    schema = strict_crd_schema(NODECONFIG_CRD, "v1alpha1")
    nodeconfigs = [
        p
        for p in parts(render_user_data(context(family, "kubernetes", profile)))
        if p.get_content_type() == "application/node.eks.aws"
    ]
    assert len(nodeconfigs) == 1
    doc = yaml.safe_load(body(nodeconfigs[0]))
    jsonschema.validate(doc, schema)
    flags = doc["spec"]["kubelet"]["flags"]
    assert "--node-labels=aifactory.io/fleet=train,aifactory.io/placement-domain=pg-0" in flags
    assert any(f.startswith("--register-with-taints=") and ":NoSchedule" in f for f in flags)


def test_strict_nodeconfig_schema_rejects_unknown_fields() -> None:
    schema = strict_crd_schema(NODECONFIG_CRD, "v1alpha1")
    doc = yaml.safe_load(body(parts(render_user_data(context("nvidia", "kubernetes", "commercial")))[0]))
    doc["spec"]["cluster"]["endpoint"] = "https://typo"
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        jsonschema.validate(doc, schema)


def test_unhealthy_dropin_is_a_valid_nodeconfig() -> None:
    script = health_check_script(context("nvidia", "kubernetes", "commercial"))
    dropin = script.split("<<'AIFACTORY_NODECONFIG'\n")[1].split("AIFACTORY_NODECONFIG\n")[0]
    doc = yaml.safe_load(dropin)
    jsonschema.validate(doc, strict_crd_schema(NODECONFIG_CRD, "v1alpha1"))
    assert doc["spec"]["kubelet"]["flags"] == [
        f"--register-with-taints=nvidia.com/gpu=true:NoSchedule,{UNHEALTHY_TAINT_KEY}=boot-check:NoSchedule"
    ]


@pytest.mark.parametrize(("family", "scheduler", "profile"), [c for c in COMBOS if c[1] != "kubernetes"])
def test_cloud_config_part_validates_against_cloud_init_schema(family: str, scheduler: str, profile: str) -> None:
    schema = cloud_config_schema()
    configs = [
        p
        for p in parts(render_user_data(context(family, scheduler, profile)))
        if p.get_content_type() == "text/cloud-config"
    ]
    assert len(configs) == 1
    text = body(configs[0])
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    jsonschema.validators.validator_for(schema)(schema).validate(doc)
    health = next(f for f in doc["write_files"] if f["path"] == "/opt/aifactory/bin/health-check")
    assert health["content"] == health_check_script(context(family, scheduler, profile))


def test_cloud_init_schema_catches_a_wrong_type() -> None:
    schema = cloud_config_schema()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validators.validator_for(schema)(schema).validate({"write_files": [{"content": "x"}]})


PROBES = ("nvidia-smi --", "neuron-ls --", "fi_info -p", "dcgmi diag")


def test_health_check_content_per_family_and_scheduler() -> None:
    gpu_k8s = health_check_script(context("nvidia", "kubernetes", "commercial"))
    assert "nvidia-smi --query-gpu=index" in gpu_k8s and "readonly EXPECTED_ACCELERATORS=8" in gpu_k8s
    assert "readonly EXPECTED_EFA=32" in gpu_k8s and "fi_info -p efa" in gpu_k8s
    assert "dcgmi" not in gpu_k8s and "scontrol" not in gpu_k8s
    gpu_slurm = health_check_script(context("nvidia", "slurm", "commercial"))
    assert "timeout 120 dcgmi diag -r 1" in gpu_slurm and "state=drain" in gpu_slurm
    neuron = health_check_script(context("neuron", "slurm", "sovereign"))
    assert "neuron-ls" in neuron and "nvidia-smi" not in neuron and "EXPECTED_ACCELERATORS=16" in neuron
    plain = health_check_script(context("nvidia", "none", "commercial"))
    assert "set-instance-health" in plain
    for script in (gpu_k8s, gpu_slurm, neuron, plain):
        probes = [line for line in script.splitlines() if 'fail "' not in line and any(tool in line for tool in PROBES)]
        assert probes and all("timeout " in line for line in probes)


def test_setup_applies_power_cap_lustre_and_layout() -> None:
    user_data = render_user_data(context("nvidia", "slurm", "commercial"))
    assert "nvidia-smi -pl 600" in user_data and "nvidia-smi -pm 1" in user_data
    assert "fs-0123456789abcdef0.fsx.eu-central-1.amazonaws.com@tcp:/abcdef12 /fsx lustre" in user_data
    assert ",flock," in user_data
    assert "lfs setstripe -E 64M -c 1 -E 4G -c 8 -E 64G -c 16 -E -1 -c 32 /fsx/checkpoints" in user_data
    # slurmd itself is started by the Slurm join document, which knows the node's planned name.
    assert "systemctl enable --now slurmd" not in user_data
    assert "configless mode against\n# slurm-head.factory.internal" in user_data
    assert "export FI_PROVIDER=efa" in user_data
    sovereign = render_user_data(context("nvidia", "kubernetes", "sovereign"))
    assert "nvidia-smi -pl" not in sovereign and "kefalnd" in sovereign
    assert "mirror='111122223333.dkr.ecr.eu-central-1.amazonaws.com'" in sovereign
    assert '[host."https://${mirror}/v2/${upstream}"]' in sovereign
    # Every upstream registry the factory or a chart may name (ghcr.io too) resolves via the mirror.
    assert "for upstream in docker.io public.ecr.aws registry.k8s.io nvcr.io quay.io ghcr.io; do" in sovereign


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scheduler": "kubernetes", "cluster": None}, "cluster"),
        ({"scheduler": "slurm", "slurm_controller": None}, "controller"),
        ({"dcgm_diag_level": 4}, "level"),
        ({"gpu_power_cap_w": 800}, "outside"),
        ({"gpu_power_cap_w": 100}, "outside"),
    ],
)
def test_invalid_contexts_are_refused(changes: dict[str, object], message: str) -> None:
    base = context("nvidia", "slurm", "commercial").__dict__ | changes
    with pytest.raises(ValueError, match=message):
        BootstrapContext(**base)  # type: ignore[arg-type]


def test_dcgm_is_refused_on_eks_and_neuron() -> None:
    with pytest.raises(ValueError, match="no DCGM"):
        BootstrapContext(**(context("nvidia", "kubernetes", "commercial").__dict__ | {"dcgm_diag_level": 1}))
    with pytest.raises(ValueError, match="NVIDIA"):
        BootstrapContext(**(context("neuron", "slurm", "commercial").__dict__ | {"dcgm_diag_level": 1}))


def test_layout_must_reach_end_of_file() -> None:
    with pytest.raises(ValueError, match="-1"):
        FsxMount(
            dns_name="d",
            mount_name="m",
            mount_path="/fsx",
            efa_enabled=False,
            checkpoint_path="/fsx/c",
            layout=(("1G", 1),),
        )


def _lnet_efa_interfaces_added(instance_type: str, devices: int, tmp_path: Path) -> list[str]:
    """Runs the rendered LNet-over-EFA function against `devices` fake EFA devices (and one non-EFA
    RDMA device) with stub lnetctl/modprobe/ip, and returns the devices LNet was given."""
    import os
    import subprocess

    ctx = context("nvidia", "slurm", "sovereign")
    ctx = BootstrapContext(
        **(ctx.__dict__ | {"instance_type": get_instance_type(instance_type), "dcgm_diag_level": None})
    )
    script = node_setup_script(ctx)
    start = script.index("readonly LNET_EFA_INTERFACES=")
    end = script.index("\n}\n", script.index("configure_lnet_efa() {")) + 3
    sysfs = tmp_path / "infiniband"
    for i in range(devices):
        driver = tmp_path / "drivers" / "efa"
        driver.mkdir(parents=True, exist_ok=True)
        (sysfs / f"rdmap{i:02d}s0" / "device").mkdir(parents=True)
        (sysfs / f"rdmap{i:02d}s0" / "device" / "driver").symlink_to(driver)
    other = tmp_path / "drivers" / "mlx5"
    other.mkdir(parents=True)
    (sysfs / "zz_other" / "device").mkdir(parents=True)
    (sysfs / "zz_other" / "device" / "driver").symlink_to(other)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "lnetctl.log"
    for tool, body in {
        "lnetctl": f'echo "$*" >> {calls}',
        "modprobe": "true",
        "ip": "echo 'default via 10.0.0.1 dev ens32 proto dhcp'",
    }.items():
        (bin_dir / tool).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / tool).chmod(0o755)
    function = script[start:end].replace("/sys/class/infiniband", str(sysfs))
    subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{function}configure_lnet_efa\n"],
        check=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    return [line.split("--if ")[1].split()[0] for line in calls.read_text().splitlines() if "--net efa --if" in line]


@pytest.mark.parametrize(
    ("instance_type", "devices", "expected"),
    [
        # 32 EFA devices, 8 LNet interfaces: every 4th device, one per PCI bus.
        ("p5.48xlarge", 32, [f"rdmap{i:02d}s0" for i in range(0, 32, 4)]),
        ("p5en.48xlarge", 16, [f"rdmap{i:02d}s0" for i in range(0, 16, 2)]),
        ("p6-b200.48xlarge", 8, [f"rdmap{i:02d}s0" for i in range(8)]),
        ("g6.8xlarge", 1, ["rdmap00s0"]),
        # Fewer devices than documented: each present device once.
        ("p5.48xlarge", 4, [f"rdmap{i:02d}s0" for i in range(4)]),
    ],
)
def test_lnet_uses_the_documented_number_of_efa_interfaces(
    instance_type: str, devices: int, expected: list[str], tmp_path: Path
) -> None:
    assert _lnet_efa_interfaces_added(instance_type, devices, tmp_path) == expected


def test_types_that_are_not_efa_clients_keep_lustre_on_tcp() -> None:
    ctx = context("neuron", "slurm", "sovereign")
    trn2 = BootstrapContext(**(ctx.__dict__ | {"instance_type": get_instance_type("trn2.48xlarge")}))
    script = node_setup_script(trn2)
    assert "lnetctl" not in script and "kefalnd" not in script
    assert "not an EFA client" in script


# Reaching a package archive or the internet; IMDS (169.254.169.254) is on the instance.
INTERNET = re.compile(r"\b(apt-get|apt|dnf|yum|pip3?|snap install|wget)\b|curl [^\n]*https?://(?!169\.254\.169\.254)")


@pytest.mark.parametrize(("family", "scheduler"), list(itertools.product(TYPES, ("slurm", "none"))))
def test_without_egress_node_setup_installs_nothing_and_checks_the_image(family: str, scheduler: str) -> None:
    offline = node_setup_script(context(family, scheduler, "sovereign"))
    assert INTERNET.findall(offline) == []
    assert "lustre-client-modules" in offline and "modinfo lustre" in offline
    # With NAT egress the same setup installs the Lustre client from the FSx repository.
    online = node_setup_script(
        BootstrapContext(**(context(family, scheduler, "sovereign").__dict__ | {"egress": "nat"}))
    )
    assert INTERNET.findall(online)
    assert "the image lacks" not in online


def test_image_requirements_follow_the_node() -> None:
    assert image_requirements(context("nvidia", "slurm", "sovereign")) == (
        "nvidia-smi",
        "dcgmi",
        "mount.lustre",
        "lfs",
        "scontrol",
    )
    assert image_requirements(context("neuron", "none", "sovereign")) == (
        "neuron-ls",
        "python3",
        "mount.lustre",
        "lfs",
        "curl",
        "aws",
    )


def _preflight(script: str) -> str:
    start = script.index("log() {")
    end = script.index("\nfi\n", script.index('if [ "${#missing[@]}"')) + len("\nfi\n")
    return script[start:end] + "echo preflight-ok\n"


@pytest.mark.parametrize("family", TYPES)
def test_preflight_names_what_the_image_lacks_and_stops(tmp_path: Path, family: str) -> None:
    ctx = context(family, "slurm", "sovereign")
    snippet = _preflight(node_setup_script(ctx))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    needed = image_requirements(ctx)
    # Everything but the first requirement, and a `modinfo` that finds no lustre module.
    for name in (*needed[1:], "logger", "uname"):
        (bin_dir / name).write_text("#!/bin/sh\necho 6.8.0-aws\n" if name == "uname" else "#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    (bin_dir / "modinfo").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "modinfo").chmod(0o755)
    bash = subprocess.run(["bash", "-c", "command -v bash"], capture_output=True, text=True, check=True).stdout.strip()
    result = subprocess.run(
        [bash, "-c", "set -euo pipefail\n" + snippet],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(bin_dir)},
        timeout=30,
    )
    assert result.returncode == 1
    assert "preflight-ok" not in result.stdout
    assert f"the image lacks: {needed[0]} the lustre kernel module (lustre-client-modules-6.8.0-aws)" in result.stdout
    assert "no internet egress" in result.stdout
    (bin_dir / "modinfo").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / needed[0]).write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / needed[0]).chmod(0o755)
    ok = subprocess.run(
        [bash, "-c", "set -euo pipefail\n" + snippet],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(bin_dir)},
        timeout=30,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().endswith("preflight-ok")


def test_without_egress_eks_nodes_install_no_lustre_client_and_check_the_image() -> None:
    # 0.1 ran `dnf install lustre-client` on EKS nodes of stacks without egress.
    offline = node_setup_script(context("nvidia", "kubernetes", "sovereign"))
    assert INTERNET.findall(offline) == []
    assert 'missing+=("the lustre kernel module (lustre-client)")' in offline
    online = node_setup_script(
        BootstrapContext(**(context("nvidia", "kubernetes", "sovereign").__dict__ | {"egress": "nat"}))
    )
    assert "dnf install -y lustre-client" in online


def test_max_pods_reaches_nodeadm_kubelet_config_and_validates_strictly() -> None:
    schema = strict_crd_schema(NODECONFIG_CRD, "v1alpha1")
    ctx = dataclasses.replace(context("nvidia", "kubernetes", "commercial"), max_pods=16)
    doc = yaml.safe_load(body(parts(render_user_data(ctx))[0]))
    # `kubelet.config` is a map of runtime.RawExtension in nodeadm's Go types, which the generated CRD
    # renders as objects; nodeadm decodes any JSON value there and its own docs set `maxPods: 110`
    # (awslabs/amazon-eks-ami doc/usage/nodeadm.md). The rest of the document validates strictly.
    assert doc["spec"]["kubelet"].pop("config") == {"maxPods": 16}
    jsonschema.validate(doc, schema)
    assert doc["spec"]["kubelet"]["flags"]
    default = yaml.safe_load(body(parts(render_user_data(context("nvidia", "kubernetes", "commercial")))[0]))
    assert "config" not in default["spec"]["kubelet"]


def test_max_pods_is_for_kubernetes_nodes_only() -> None:
    with pytest.raises(ValueError, match="maxPods"):
        dataclasses.replace(context("nvidia", "slurm", "commercial"), max_pods=16)
    with pytest.raises(ValueError, match="maxPods"):
        dataclasses.replace(context("nvidia", "kubernetes", "commercial"), max_pods=0)
