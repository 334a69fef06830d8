"""One Taint model: the kubelet's registration flag and the EKS node group say the same taint."""

from __future__ import annotations

import base64

import pytest
from aifactory.cli.planrun import plan_stack
from aifactory.spec.model import Taint, parse_taint

from tests.stackfiles import base, write_stack

EKS_EFFECT = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}


@pytest.mark.parametrize(
    ("text", "kubelet"),
    [
        ("dedicated=gpu:NoSchedule", "dedicated=gpu:NoSchedule"),
        ("example.com/spot:NoExecute", "example.com/spot:NoExecute"),
    ],
)
def test_kubelet_and_node_group_carry_the_same_taint(tmp_path: object, text: str, kubelet: str) -> None:
    config = base()
    config["aifactory:fleets"] = [{**config["aifactory:fleets"][0], "taints": [text]}]
    config["aifactory:scheduler"] = {"kind": "kubernetes"}
    result = plan_stack(str(write_stack(tmp_path, "taints", config)))  # type: ignore[arg-type]
    taint = Taint.model_validate(parse_taint(text))
    groups = [
        r
        for r in result.resources
        if r.type == "aws:eks/nodeGroup:NodeGroup" and "launchTemplate" in r.inputs and r.inputs.get("nodeGroupName")
    ]
    assert groups
    for group in groups:
        assert {"key": taint.key, "value": taint.value, "effect": EKS_EFFECT[taint.effect]} in [
            {k: t.get(k, "") for k in ("key", "value", "effect")} for t in group.inputs["taints"]
        ]
    templates = [
        r
        for r in result.resources
        if r.type == "aws:ec2/launchTemplate:LaunchTemplate"
        and "userData" in r.inputs
        and r.name.startswith("taints-train")
    ]
    assert templates
    for template in templates:
        user_data = base64.b64decode(template.inputs["userData"]).decode()
        assert f"--register-with-taints={kubelet}" in user_data or f"{kubelet}," in user_data
        assert "=:" not in user_data.split("--register-with-taints=")[1].split("\n")[0]
