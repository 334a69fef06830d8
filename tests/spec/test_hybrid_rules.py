"""`aifactory:hybrid`: every refusal names its config path and a fix, and nothing is planned."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aifactory.spec import ConfigError, spec_from_config
from aifactory.spec.hybrid import remote_cidr_problem
from aifactory.spec.loading import validate_config

CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ0FfY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"


def config(scheduler: str = "kubernetes", **hybrid: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "remoteNodeCidrs": ["192.168.0.0/20"],
        "remotePodCidrs": ["192.168.64.0/18"],
        "credentials": {"kind": "ssm"},
        "link": {"kind": "vpn", "customerGatewayIp": "81.2.69.160", "bgpAsn": 65010},
    }
    section.update(hybrid)
    sched: dict[str, Any]
    if scheduler == "kubernetes":
        sched = {"kind": "kubernetes", "endpoint": "private"}
    else:
        sched = {"kind": "slurm", "partitions": [{"name": "hall", "fleets": ["hall"], "default": True}]}
        section.pop("credentials")
        section.pop("remotePodCidrs")
    return {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:fleets": [{"name": "hall", "kind": "hybrid", "server": "dgx-h100", "count": 4}],
        "aifactory:site": {"kind": "datahall", "racks": 4},
        "aifactory:scheduler": sched,
        "aifactory:hybrid": section,
    }


def problems(cfg: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        spec_from_config(cfg, require_pinned_images=False)
    for issue in exc.value.issues:
        assert issue.fix, issue
    return {i.path: i.problem for i in exc.value.errors}


def test_valid_sections_pass() -> None:
    spec = spec_from_config(config(), require_pinned_images=False)
    assert spec.hybrid is not None and spec.hybrid.credentials is not None
    assert spec.hybrid.credentials.kind == "ssm"
    spec_from_config(config("slurm"), require_pinned_images=False)
    ira = config(credentials={"kind": "roles-anywhere", "caCertificate": CA})
    spec_from_config(ira, require_pinned_images=False)
    dx = config(link={"kind": "direct-connect", "directConnectGatewayId": "5f294f92-bafb-4011-916d-9b0bdeadbeef"})
    spec_from_config(dx, require_pinned_images=False)


@pytest.mark.parametrize(
    ("cidr", "words"),
    [
        ("8.8.8.0/24", "RFC 1918"),
        ("10.0.0.0/7", "/8 to /32"),
        ("192.168.0.1/16", "not an IPv4 network"),
        ("fd00::/64", "not an IPv4 network"),
    ],
)
def test_remote_cidr_problem(cidr: str, words: str) -> None:
    problem = remote_cidr_problem(cidr)
    assert problem is not None and words in problem
    assert remote_cidr_problem("192.168.1.1/32") is None


def test_remote_cidrs_overlapping_vpc_service_or_each_other() -> None:
    found = problems(
        config(remoteNodeCidrs=["10.0.128.0/20", "172.20.5.0/24", "192.168.0.0/16"], remotePodCidrs=["192.168.8.0/24"])
    )
    assert "VPC CIDR" in found["aifactory:hybrid.remoteNodeCidrs[0]"]
    assert "service CIDR" in found["aifactory:hybrid.remoteNodeCidrs[1]"]
    assert "overlaps 192.168.0.0/16" in found["aifactory:hybrid.remotePodCidrs[0]"]
    assert "RFC 1918" in problems(config(remotePodCidrs=["100.64.0.0/16"]))["aifactory:hybrid.remotePodCidrs[0]"]


def test_hybrid_fleet_without_section_and_section_without_fleet() -> None:
    cfg = config()
    del cfg["aifactory:hybrid"]
    assert "hybrid" in problems(cfg)["aifactory:hybrid"]
    cfg = config()
    cfg["aifactory:fleets"][0]["kind"] = "ec2"
    assert "no fleet is `kind: hybrid`" in problems(cfg)["aifactory:hybrid"]
    # Without a scheduler the servers are only racked: a warning, and no section is needed.
    cfg = config()
    del cfg["aifactory:scheduler"], cfg["aifactory:hybrid"]
    _, warnings = validate_config(cfg, require_pinned_images=False)
    assert [w.path for w in warnings] == ["aifactory:fleets[0].kind"] and "only racked" in warnings[0].problem


def test_eks_needs_credentials_and_pod_cidrs() -> None:
    cfg = config()
    del cfg["aifactory:hybrid"]["credentials"]
    del cfg["aifactory:hybrid"]["remotePodCidrs"]
    found = problems(cfg)
    assert "nodeadm" in found["aifactory:hybrid.credentials"]
    assert "Cilium" in found["aifactory:hybrid.remotePodCidrs"]


def test_slurm_refuses_eks_only_fields() -> None:
    cfg = config("slurm")
    cfg["aifactory:hybrid"]["credentials"] = {"kind": "ssm"}
    cfg["aifactory:hybrid"]["remotePodCidrs"] = ["192.168.64.0/18"]
    found = problems(cfg)
    assert "EKS Hybrid Nodes" in found["aifactory:hybrid.credentials"]
    assert "EKS Hybrid Nodes" in found["aifactory:hybrid.remotePodCidrs"]


def test_public_endpoint_is_the_mix_eks_refuses() -> None:
    cfg = config()
    cfg["aifactory:scheduler"] = {"kind": "kubernetes", "endpoint": "public", "publicAccessCidrs": ["203.0.113.0/24"]}
    assert "public-and-private" in problems(cfg)["aifactory:scheduler.endpoint"]


def test_ssm_limits() -> None:
    found = problems(config(credentials={"kind": "ssm", "registrationLimit": 2, "expiryDays": 31}))
    assert "2 of the 4" in found["aifactory:hybrid.credentials.registrationLimit"]
    assert "30 days" in found["aifactory:hybrid.credentials.expiryDays"]
    cfg = config()
    cfg["aifactory:fleets"][0]["count"] = 1001
    assert "at most 1000" in problems(cfg)["aifactory:hybrid.credentials.registrationLimit"]


def test_roles_anywhere_needs_one_source_and_safe_paths() -> None:
    both = {"kind": "roles-anywhere", "caCertificate": CA, "acmPcaArn": "arn:aws:acm-pca:us-east-1:123456789012:x"}
    found = problems(config(credentials=both))
    assert "exactly one source" in found["aifactory:hybrid.credentials"]
    assert "not an AWS Private CA ARN" in found["aifactory:hybrid.credentials.acmPcaArn"]
    pca = "arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/12345678-1234-1234-1234-123456789012"
    bad = {"kind": "roles-anywhere", "acmPcaArn": pca, "certificatePath": "etc/x.pem", "privateKeyPath": "/a/$(id)"}
    found = problems(config(credentials=bad))
    assert "eu-west-1" in found["aifactory:hybrid.credentials.acmPcaArn"]
    assert "aifactory:hybrid.credentials.certificatePath" in found
    assert "aifactory:hybrid.credentials.privateKeyPath" in found
    found = problems(config(credentials={"kind": "roles-anywhere", "caCertificate": "not a cert"}))
    assert "PEM" in found["aifactory:hybrid.credentials.caCertificate"]


def test_link_problems() -> None:
    found = problems(config(link={"kind": "vpn", "customerGatewayIp": "10.1.2.3"}))
    assert "internet-routable" in found["aifactory:hybrid.link.customerGatewayIp"]
    dx = {"kind": "direct-connect", "directConnectGatewayId": "dxgw-1", "allowedPrefixes": ["10.1.0.0/16"]}
    found = problems(config(link=dx))
    assert "aifactory:hybrid.link.directConnectGatewayId" in found
    assert "VPC CIDR" in found["aifactory:hybrid.link.allowedPrefixes[0]"]


def test_unknown_link_and_credential_kinds_name_their_path() -> None:
    found = problems(config(link={"kind": "tgw"}))
    assert "aifactory:hybrid.link.kind" in found
    cfg = config(link={"kind": "vpn", "customerGatewayIp": "81.2.69.160", "bgpAsm": 1})
    assert "aifactory:hybrid.link.bgpAsm" in problems(copy.deepcopy(cfg))
