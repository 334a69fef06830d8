"""Helpers to write stack files for tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

BASE_CONFIG: dict[str, Any] = {
    "aws:region": "us-east-1",
    "aifactory:profile": "commercial",
    "aifactory:network": {"cidr": "10.0.0.0/16", "availabilityZones": ["us-east-1a", "us-east-1b"]},
    "aifactory:fleets": [
        {"name": "train", "instanceType": "p5.48xlarge", "count": 4, "availabilityZone": "us-east-1a"},
        {"name": "eval", "instanceType": "g6.8xlarge", "count": 2, "availabilityZone": "us-east-1b"},
    ],
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
}


def base(sovereign: bool = False) -> dict[str, Any]:
    return copy.deepcopy(SOVEREIGN_CONFIG if sovereign else BASE_CONFIG)


def write_stack(directory: Path, name: str, config: dict[str, Any]) -> Path:
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path
