"""The size rules: every SSM document, user data and Image Builder component fits what AWS accepts,
measured on the planned resources; and the artifacts that follow the node count stay small at the
scale that broke them (a 12,500-server data hall, a Slurm factory of 40 fleets)."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import pytest
from aifactory.cli.planrun import PlanResult, plan_stack
from aifactory.preflight import preflight
from aifactory.preflight.limits import COMPONENT_DATA_MAX_CHARS, SSM_DOCUMENT_MAX_BYTES, USER_DATA_MAX_BYTES

from tests.preflight.world import ACCOUNT, PARTITION, REGION, b64, res
from tests.stackfiles import HALL_LINK_SLURM, PINNED_IMAGES, write_stack


def findings(resources: list[dict[str, Any]], rule: str) -> list[str]:
    found = preflight(resources, region=REGION, partition=PARTITION, account=ACCOUNT)
    return [f"{f.subject}: {f.message}" for f in found if f.rule == rule]


def _document(size: int) -> dict[str, Any]:
    return res("aws:ssm/document:Document", "join", content="x" * size)


def test_an_ssm_document_at_the_limit_passes_and_one_byte_more_is_named() -> None:
    assert findings([_document(SSM_DOCUMENT_MAX_BYTES)], "limits.ssm-document") == []
    (found,) = findings([_document(SSM_DOCUMENT_MAX_BYTES + 1)], "limits.ssm-document")
    assert found.startswith("SSM document join: its content is 65,537 B, over the 65,536 B AWS accepts")


def test_an_ssm_document_is_measured_in_bytes_not_characters() -> None:
    # Two bytes each in UTF-8: half the characters already reach the limit.
    document = res("aws:ssm/document:Document", "join", content="é" * (SSM_DOCUMENT_MAX_BYTES // 2 + 1))
    assert len(findings([document], "limits.ssm-document")) == 1


@pytest.mark.parametrize(
    ("typ", "key"),
    [
        ("aws:ec2/launchTemplate:LaunchTemplate", "userData"),
        ("aws:ec2/instance:Instance", "userDataBase64"),
    ],
)
def test_user_data_is_measured_raw_before_base64(typ: str, key: str) -> None:
    # 16,384 raw bytes are 21,848 base64 characters: the encoded length is not what EC2 limits.
    at_limit = res(typ, "node", **{key: b64("a" * USER_DATA_MAX_BYTES)})
    over = res(typ, "node", **{key: b64("a" * (USER_DATA_MAX_BYTES + 1))})
    assert findings([at_limit], "limits.user-data") == []
    (found,) = findings([over], "limits.user-data")
    assert "its user data is 16,385 B, over the 16,384 B AWS accepts" in found


def test_gzipped_user_data_counts_its_compressed_bytes() -> None:
    script = ("echo line\n" * 20_000).encode()  # 200 KB of script, a few hundred bytes of gzip
    head = res("aws:ec2/instance:Instance", "head", userDataBase64=base64.b64encode(gzip.compress(script)).decode())
    assert findings([head], "limits.user-data") == []


def test_plain_instance_user_data_counts_its_bytes() -> None:
    head = res("aws:ec2/instance:Instance", "head", userData="#!/bin/bash\n" + "x" * USER_DATA_MAX_BYTES)
    assert len(findings([head], "limits.user-data")) == 1


def test_an_inline_component_document_over_16000_characters_is_named() -> None:
    fits = res("aws:imagebuilder/component:Component", "gpu", data="x" * COMPONENT_DATA_MAX_CHARS)
    over = res("aws:imagebuilder/component:Component", "gpu", data="x" * (COMPONENT_DATA_MAX_CHARS + 1))
    assert findings([fits], "limits.component-document") == []
    assert findings([over], "limits.component-document") == [
        "Image Builder component gpu: its data is 16,001 chars, over the 16,000 chars AWS accepts; shorten the "
        "node image recipe's component or ship its document from S3 (`uri`)"
    ]


# --- at the scale that broke them -------------------------------------------------------------------


def _plan(tmp_path: Path, config: dict[str, Any]) -> PlanResult:
    write_stack(tmp_path, "big", config)
    return plan_stack("big", str(tmp_path))


def _join_document_bytes(result: PlanResult) -> int:
    (document,) = [r for r in result.resources if r.type == "aws:ssm/document:Document"]
    return len(document.inputs["content"].encode())


def _rules(result: PlanResult) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in result.preflight:
        found.setdefault(f["rule"], []).append(f["subject"])
    return found


def test_a_12500_server_data_hall_has_a_small_join_document_and_its_oversized_head_is_caught(
    tmp_path: Path,
) -> None:
    servers = 12_500
    config = {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:network": {"availabilityZones": ["us-east-1a", "us-east-1b"]},
        "aifactory:fleets": [{"name": "dgx", "kind": "hybrid", "server": "dgx-b200", "count": servers}],
        "aifactory:site": {
            "kind": "datahall",
            "racks": servers // 4,
            "rackDefaults": {"powerKw": 130, "cooling": "liquid", "rackUnits": 48},
        },
        "aifactory:scheduler": {"kind": "slurm", "partitions": [{"name": "all", "fleets": ["dgx"], "default": True}]},
        "aifactory:hybrid": {**HALL_LINK_SLURM, "remoteNodeCidrs": ["192.168.0.0/16"]},
    }
    result = _plan(tmp_path, config)
    # The health check names the servers as one hostlist: the join document was 548,816 B here.
    assert _join_document_bytes(result) < SSM_DOCUMENT_MAX_BYTES // 4
    assert result.plan.slurm is not None
    assert len(result.plan.slurm.config_files["healthcheck.sh"]) < 4096
    # slurm.conf and the topology list all 3,125 racks: the head's user data cannot carry them.
    assert _rules(result).get("limits.user-data") == ["instance big-slurm-head"]
    assert "limits.ssm-document" not in _rules(result)


def test_the_largest_slurm_factory_fits_the_heads_user_data(tmp_path: Path) -> None:
    fleets = [f"f{i:02d}" for i in range(100)]  # the most a stack declares (aifactory:fleets)
    config = {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:network": {"cidr": "10.0.0.0/16", "availabilityZones": ["us-east-1a", "us-east-1b"]},
        "aifactory:fleets": [
            {"name": f, "instanceType": "p5.48xlarge", "count": 12, "availabilityZone": "us-east-1a"} for f in fleets
        ],
        "aifactory:scheduler": {"kind": "slurm", "partitions": [{"name": "all", "fleets": fleets, "default": True}]},
    }
    result = _plan(tmp_path, config)
    assert _join_document_bytes(result) < SSM_DOCUMENT_MAX_BYTES // 4
    # The head carries its programs without comments (schedulers/slurm.py `shipped_program`): a stack's
    # most fleets fit in EC2's 16 KB; the data hall above shows the rule catching a head that does not.
    assert "limits.user-data" not in _rules(result)
