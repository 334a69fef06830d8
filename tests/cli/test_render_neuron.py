"""A Trainium stack renders the Neuron device plugin and the nccom-test fabric test; NVIDIA stacks keep
nccl-tests and get no Neuron plugin; a fleet without a fabric test gets a note, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.cli.main import main

from tests.crd_validation import validate_custom_resource
from tests.stackfiles import base, write_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trn2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trn2-us")
    assert main(["render", "trn2-us", "--out", str(out)]) == 0
    return out / "kubernetes"


def test_the_cli_renders_the_trn2_stack(tmp_path: Path) -> None:
    done = subprocess.run(
        # The installed console script, as a user runs `aifactory render trn2-us --out DIR`.
        [str(Path(sys.executable).with_name("aifactory")), "render", "trn2-us", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "kubernetes" / "nccom-test.yaml").is_file()


def test_trn2_gets_the_neuron_device_plugin_release(trn2: Path) -> None:
    release = yaml.safe_load((trn2 / "helm" / "neuron-device-plugin.yaml").read_text())
    assert release["chart"] == "oci://public.ecr.aws/neuron/neuron-helm-chart"
    assert release["version"] == "1.9.0" and release["namespace"] == "kube-system"
    assert release["values"]["devicePlugin"]["enabled"] is True
    tolerations = release["values"]["devicePlugin"]["tolerations"]
    assert {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"} in tolerations


def test_trn2_gets_nccom_test_and_no_nccl_tests(trn2: Path) -> None:
    assert not (trn2 / "nccl-tests.yaml").exists() and not (trn2 / "fabric-test.md").exists()
    jobset = yaml.safe_load((trn2 / "nccom-test.yaml").read_text())
    validate_custom_resource(jobset)
    worker = jobset["spec"]["replicatedJobs"][1]["template"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["aws.amazon.com/neuron"] == 16
    assert worker["resources"]["limits"]["vpc.amazonaws.com/efa"] == 16
    assert (
        "nccom-test -r 128 -N 2 "
        in jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
    )
    assert "kubectl apply -f rendered/kubernetes/nccom-test.yaml" in (trn2 / "nccom-test.md").read_text()


def test_the_kueue_quota_is_the_resource_the_device_plugin_advertises(trn2: Path) -> None:
    # The Neuron device plugin registers aws.amazon.com/neuron, one per device (Neuron docs
    # containers/tutorials/k8s-neuron-device-plugin); the queue's quota and the test ask for exactly that.
    objects = list(yaml.safe_load_all((trn2 / "objects.yaml").read_text()))
    (cq,) = [o for o in objects if o["kind"] == "ClusterQueue"]
    (group,) = cq["spec"]["resourceGroups"]
    assert group["coveredResources"][0] == "aws.amazon.com/neuron"
    assert group["flavors"][0]["resources"][0] == {"name": "aws.amazon.com/neuron", "nominalQuota": 256}


def _kubernetes_files(tmp_path: Path, stack: str) -> dict[str, Any]:
    assert main(["render", stack, "--out", str(tmp_path)]) == 0
    return {p.relative_to(tmp_path / "kubernetes").as_posix(): p for p in (tmp_path / "kubernetes").rglob("*")}


def test_an_nvidia_stack_keeps_nccl_tests_and_gets_no_neuron_plugin(tmp_path: Path) -> None:
    files = _kubernetes_files(tmp_path, "commercial-us")
    assert "nccl-tests.yaml" in files and "nccl-tests.md" in files
    assert "nccom-test.yaml" not in files and "helm/neuron-device-plugin.yaml" not in files
    assert "fabric-test.md" not in files


def test_a_fleet_without_a_fabric_test_gets_a_note(tmp_path: Path) -> None:
    config = base()
    config["aifactory:fleets"] = [
        {"name": "trn", "instanceType": "trn2.48xlarge", "count": 1, "availabilityZone": "us-east-1a"}
    ]
    config["aws:region"] = "us-east-2"
    config["aifactory:network"] = {"cidr": "10.0.0.0/16", "availabilityZones": ["us-east-2a", "us-east-2b"]}
    config["aifactory:fleets"][0]["availabilityZone"] = "us-east-2a"
    config["aifactory:scheduler"] = {
        "kind": "kubernetes",
        "endpoint": "public",
        "publicAccessCidrs": ["203.0.113.0/24"],
        "queues": [{"name": "research", "namespace": "research", "gpuQuota": 16}],
    }
    stack = write_stack(tmp_path, "one-trn", config)
    out = tmp_path / "out"
    assert main(["render", str(stack), "--out", str(out)]) == 0
    note = (out / "kubernetes" / "fabric-test.md").read_text()
    assert "fewer than two nodes" in note
    assert not list((out / "kubernetes").glob("nccom-test.*")) and not list((out / "kubernetes").glob("nccl-tests.*"))
    assert (out / "kubernetes" / "helm" / "neuron-device-plugin.yaml").is_file()
