"""`aifactory render` writes one nodeadm hybrid NodeConfig per server: strictly valid against aws/eks-hybrid's
CRD (v1.0.20), with the server's labels and taints, and no secret in the file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.cli.render import hybrid_files, render_stack
from aifactory.planning.factory_plan import plan_from_config
from aifactory.schedulers.hybrid_nodeconfig import hybrid_node_config
from aifactory.spec.model import Taint

from tests.crd_validation import CrdValidationError, validate_hybrid_node_config
from tests.golden import check_tree
from tests.stackfiles import PINNED_IMAGES, write_stack

GOLDEN = Path(__file__).parent.parent / "golden" / "hybrid"
CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ0FfY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"

CONFIG: dict[str, Any] = {
    "aws:region": "us-east-1",
    "aifactory:profile": "commercial",
    "aifactory:images": PINNED_IMAGES,
    "aifactory:fleets": [
        {
            "name": "hall",
            "kind": "hybrid",
            "server": "dgx-h100",
            "count": 2,
            "labels": {"example.com/team": "vision"},
            "taints": ["dedicated=vision:NoSchedule"],
        }
    ],
    "aifactory:site": {"kind": "datahall", "racks": 2},
    "aifactory:scheduler": {"kind": "kubernetes", "endpoint": "private"},
    "aifactory:hybrid": {
        "remoteNodeCidrs": ["192.168.0.0/20"],
        "remotePodCidrs": ["192.168.64.0/18"],
        "credentials": {"kind": "ssm"},
        "link": {"kind": "vpn", "customerGatewayIp": "81.2.69.160"},
    },
}


def files(**credentials: Any) -> dict[str, str]:
    config = copy.deepcopy(CONFIG)
    if credentials:
        config["aifactory:hybrid"]["credentials"] = credentials
    return hybrid_files(plan_from_config(config, "hall"))


@pytest.mark.parametrize(
    "credentials",
    [{}, {"kind": "roles-anywhere", "caCertificate": CA}],
    ids=["ssm", "roles-anywhere"],
)
def test_one_valid_node_config_per_server(credentials: dict[str, Any]) -> None:
    rendered = files(**credentials)
    assert sorted(rendered) == ["hybrid/nodeconfig/hall-0001.yaml", "hybrid/nodeconfig/hall-0002.yaml"]
    for name, text in rendered.items():
        config = yaml.safe_load(text)
        validate_hybrid_node_config(config)
        spec = config["spec"]
        assert spec["cluster"] == {"name": "hall-eks", "region": "us-east-1"}
        flags = spec["kubelet"]["flags"]
        labels = dict(kv.split("=", 1) for kv in flags[0].removeprefix("--node-labels=").split(","))
        assert labels["example.com/team"] == "vision"
        assert labels["aifactory.io/fleet"] == "hall"
        assert labels["nvidia.com/gpu.present"] == "true"
        assert "dedicated=vision:NoSchedule" in flags[1] and "nvidia.com/gpu" in flags[1]
        if credentials:
            ira = spec["hybrid"]["iamRolesAnywhere"]
            assert ira["nodeName"] == Path(name).stem
            assert ira["certificatePath"] == "/etc/iam/pki/server.pem"
            assert ira["trustAnchorArn"].startswith("<pulumi stack output --json hybridNodes")
        else:
            ssm = spec["hybrid"]["ssm"]
            # The activation code is never written: the placeholder names the secret output.
            assert (
                ssm["activationCode"]
                == "<pulumi stack output --show-secrets --json hybridNodes | jq -r .activationCode>"
            )


def test_the_schema_refuses_unknown_fields() -> None:
    config = hybrid_node_config(
        cluster_name="c", region="us-east-1", node_name="n", credentials={"kind": "ssm"}, labels={}, taints=()
    )
    validate_hybrid_node_config(config)
    config["spec"]["hybrid"]["ssm"]["activationToken"] = "x"
    with pytest.raises(CrdValidationError, match="activationToken"):
        validate_hybrid_node_config(config)


def test_bad_labels_never_reach_the_kubelet_flags() -> None:
    with pytest.raises(ValueError, match="node label"):
        hybrid_node_config(
            cluster_name="c",
            region="us-east-1",
            node_name="n",
            credentials={"kind": "ssm"},
            labels={"a": "b,c=d"},
            taints=(Taint(key="k", effect="NoSchedule"),),
        )


def test_slurm_and_ec2_stacks_render_no_node_config() -> None:
    config = copy.deepcopy(CONFIG)
    fleet = config["aifactory:fleets"][0]
    fleet["kind"], fleet["instanceType"] = "ec2", "p5.48xlarge"
    del fleet["server"], config["aifactory:hybrid"], config["aifactory:site"]
    assert hybrid_files(plan_from_config(config, "hall")) == {}


def test_golden_and_render_writes_them(tmp_path: Path) -> None:
    rendered = files()
    check_tree(GOLDEN, {Path(k).name: v for k, v in rendered.items()}, __file__)
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    write_stack(stacks, "hall", CONFIG)
    written = render_stack("hall", str(stacks), tmp_path / "out").written
    out = {p.relative_to(tmp_path / "out").as_posix() for p in written}
    assert set(rendered) <= out
    assert (tmp_path / "out" / "hybrid/nodeconfig/hall-0001.yaml").read_text() == rendered[
        "hybrid/nodeconfig/hall-0001.yaml"
    ]


def test_plan_shows_the_hybrid_section_in_text_and_json(tmp_path: Path) -> None:
    from aifactory.cli.planrun import plan_stack
    from aifactory.cli.report import plan_lines

    write_stack(tmp_path, "hall", CONFIG)
    result = plan_stack("hall", str(tmp_path))
    assert result.as_json()["summary"]["hybrid"] == {
        "remote_node_cidrs": ["192.168.0.0/20"],
        "remote_pod_cidrs": ["192.168.64.0/18"],
        "credentials": "ssm",
        "link": "vpn",
        "servers": 2,
        "hosts": "hall-[0001-0002]",
    }
    text = "\n".join(plan_lines(result))
    assert "hybrid nodes\n  node networks  192.168.0.0/20\n" in text
    assert "  link           vpn\n  servers        2\n  hosts          hall-[0001-0002]\n" in text
