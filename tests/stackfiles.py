"""Helpers to write stack files for tests."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import yaml
from aifactory.spec.images import SLURM_HEAD_KEY, dlami_key, eks_node_key, eks_system_release_key
from aifactory.spec.kubernetes_rules import EKS_END_OF_EXTENDED_SUPPORT


def fake_ami(key: str) -> str:
    """A well-formed AMI id that names its key (17 hex digits)."""
    return "ami-" + hashlib.sha256(key.encode()).hexdigest()[:17]


def _all_pins() -> dict[str, str]:
    pins = {dlami_key(f): fake_ami(dlami_key(f)) for f in ("nvidia", "neuron")}
    pins[SLURM_HEAD_KEY] = fake_ami(SLURM_HEAD_KEY)
    for version in EKS_END_OF_EXTENDED_SUPPORT:
        pins.update({eks_node_key(version, f): fake_ami(eks_node_key(version, f)) for f in ("nvidia", "neuron")})
        pins[eks_system_release_key(version)] = f"{version}.0-20260115"
    return pins


PINNED_IMAGES: dict[str, str] = _all_pins()
"""Every image key a test stack can need, pinned as `aifactory images pin` would leave it (pins a stack
does not use are allowed), so tests about other keys plan with any scheduler, version or fleet."""

BASE_CONFIG: dict[str, Any] = {
    "aws:region": "us-east-1",
    "aifactory:profile": "commercial",
    "aifactory:network": {"cidr": "10.0.0.0/16", "availabilityZones": ["us-east-1a", "us-east-1b"]},
    "aifactory:fleets": [
        {"name": "train", "instanceType": "p5.48xlarge", "count": 4, "availabilityZone": "us-east-1a"},
        {"name": "eval", "instanceType": "g6.8xlarge", "count": 2, "availabilityZone": "us-east-1b"},
    ],
    "aifactory:images": PINNED_IMAGES,
}

SOVEREIGN_CONFIG: dict[str, Any] = {
    "aws:region": "eu-north-1",
    "aifactory:profile": "sovereign",
    "aifactory:sovereignty": {
        "allowedRegions": ["eu-north-1"],
        "registryMirror": "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror",
    },
    "aifactory:fleets": [
        {"name": "train", "instanceType": "p5en.48xlarge", "count": 4, "availabilityZone": "eu-north-1a"},
    ],
    "aifactory:images": PINNED_IMAGES,
}


def base(sovereign: bool = False) -> dict[str, Any]:
    return copy.deepcopy(SOVEREIGN_CONFIG if sovereign else BASE_CONFIG)


EXAMPLE_STACKS: tuple[str, ...] = tuple(
    sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in (Path(__file__).parents[1] / "stacks").glob("Pulumi.*.yaml")
    )
)
"""Every example stack in `stacks/`: the tests that run all of them read this, so a new stack is in each."""


def write_stack(directory: Path, name: str, config: dict[str, Any]) -> Path:
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


HALL_LINK_SLURM: dict[str, Any] = {
    "remoteNodeCidrs": ["192.168.0.0/20"],
    "link": {"kind": "vpn", "customerGatewayIp": "81.2.69.160", "bgpAsn": 65010},
}
"""`aifactory:hybrid` of a data hall whose servers run slurmd (the hall's node network and its VPN)."""

HALL_LINK_EKS: dict[str, Any] = {
    **HALL_LINK_SLURM,
    "remotePodCidrs": ["192.168.64.0/18"],
    "credentials": {"kind": "ssm"},
}
"""`aifactory:hybrid` of a data hall whose servers join EKS as hybrid nodes (plus Cilium's pod pool and SSM)."""


TRAINER_IMAGE = "nvcr.io/nvidia/pytorch:25.08-py3"
SERVER_IMAGE = "vllm/vllm-openai:v0.10.1"
MLFLOW_IMAGE = "ghcr.io/mlflow/mlflow:v3.1.1"


def production_line(
    name: str = "chat-ft",
    *,
    dataset: str,
    fleet: str,
    queue: str,
    expected_hours: float = 6,
    serving: dict[str, Any] | None = None,
    trigger: dict[str, Any] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """One `aifactory:production.lines[]` entry: a 2 x 8-GPU TrainJob on `fleet` through `queue`, checkpoints
    under `/fsx/checkpoints/<name>`, an eval_loss gate, and with `serving` (its image defaulted) a serving target.

    `changes` edit it afterwards: `section__field=value` sets one field of a section, `section=value`
    replaces it and `section=None` removes it."""
    line: dict[str, Any] = {
        "name": name,
        "dataset": dataset,
        "training": {
            "image": TRAINER_IMAGE,
            "nodes": 2,
            "gpusPerNode": 8,
            "fleet": fleet,
            "queue": queue,
            "checkpoint": {"directory": f"/fsx/checkpoints/{name}"},
            "expectedHours": expected_hours,
        },
        "evaluation": {
            "image": TRAINER_IMAGE,
            "command": ["python", "/workspace/eval.py"],
            "metric": "eval_loss",
            "threshold": 2.1,
            "goal": "minimize",
        },
    }
    if serving is not None:
        line["serving"] = {"image": SERVER_IMAGE, **serving}
    if trigger is not None:
        line["trigger"] = trigger
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            line[section][field] = value
        elif value is None:
            line.pop(section)
        else:
            line[section] = value
    return line
