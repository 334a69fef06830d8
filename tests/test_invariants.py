"""Each launch-template invariant catches its violation and tolerates unknown preview values."""

from __future__ import annotations

import copy

import pytest
from aifactory.catalog import get_instance_type
from aifactory.invariants import (
    block_device_violations,
    interface_layout_violations,
    is_unknown,
    metadata_violations,
)
from aifactory.planning.efa_layout import efa_interfaces

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def p4d_layout() -> list[dict]:
    return [
        {
            "networkCardIndex": float(s.network_card_index),
            "deviceIndex": float(s.device_index),
            "interfaceType": s.interface_type,
            "securityGroups": ["sg-efa"],
        }
        for s in efa_interfaces(get_instance_type("p4d.24xlarge"))
    ]


def single(violations: list[str], fragment: str) -> None:
    assert len(violations) == 1, violations
    assert fragment in violations[0], violations


def test_compliant_layout_passes() -> None:
    assert interface_layout_violations(p4d_layout(), "p4d.24xlarge") == []


def test_missing_card_is_named() -> None:
    layout = [nic for nic in p4d_layout() if nic["networkCardIndex"] != 2.0]
    single(interface_layout_violations(layout, "p4d.24xlarge"), "network cards 2 of p4d.24xlarge")


def test_missing_cards_are_reported_as_ranges() -> None:
    layout = p4d_layout()[:2]
    single(interface_layout_violations(layout, "p4d.24xlarge"), "network cards 1-3")


def test_duplicate_pair() -> None:
    layout = p4d_layout()
    layout.append({**layout[-1], "interfaceType": "interface"})
    single(interface_layout_violations(layout, "p4d.24xlarge"), "card 3 / device 0 is declared 2 times")


def test_two_efa_interfaces_on_one_card() -> None:
    layout = p4d_layout()
    layout.append({**layout[-1], "deviceIndex": 1.0})
    single(interface_layout_violations(layout, "p4d.24xlarge"), "network card 3 has 2 EFA interfaces")


def test_efa_only_primary() -> None:
    layout = p4d_layout()
    layout[0]["interfaceType"] = "efa-only"
    violations = interface_layout_violations(layout, "p4d.24xlarge")
    assert any("primary interface is EFA-only" in v for v in violations)
    assert any("network card 0 has 2 EFA interfaces" in v for v in violations)


def test_efa_with_ena_primary_is_allowed() -> None:
    layout = [nic for nic in p4d_layout() if (nic["networkCardIndex"], nic["deviceIndex"]) != (0.0, 1.0)]
    layout[0]["interfaceType"] = "efa"
    assert interface_layout_violations(layout, "p4d.24xlarge") == []


def test_missing_primary() -> None:
    layout = p4d_layout()[1:]
    single(interface_layout_violations(layout, "p4d.24xlarge"), "no primary interface")


def test_card_beyond_the_type() -> None:
    layout = p4d_layout()
    layout.append(
        {"networkCardIndex": 4.0, "deviceIndex": 0.0, "interfaceType": "interface", "securityGroups": ["sg-efa"]}
    )
    single(interface_layout_violations(layout, "p4d.24xlarge"), "network card 4 does not exist")


@pytest.mark.parametrize("value", [True, "true", "True"])
def test_public_ip(value: object) -> None:
    layout = p4d_layout()
    layout[0]["associatePublicIpAddress"] = value
    single(interface_layout_violations(layout, "p4d.24xlarge"), "associatePublicIpAddress")


def test_unknown_interface_type() -> None:
    layout = p4d_layout()
    layout[0]["interfaceType"] = "efa_only"
    single(interface_layout_violations(layout, "p4d.24xlarge"), "'efa_only' is not one of")


def test_missing_security_group() -> None:
    layout = p4d_layout()
    del layout[1]["securityGroups"]
    layout[2]["securityGroups"] = []
    violations = interface_layout_violations(layout, "p4d.24xlarge")
    assert len(violations) == 2 and all("no security group" in v for v in violations)


def test_security_group_mismatch_when_given() -> None:
    layout = p4d_layout()
    layout[3]["securityGroups"] = ["sg-other"]
    single(
        interface_layout_violations(layout, "p4d.24xlarge", security_group_id="sg-efa"),
        "lack the EFA security group sg-efa",
    )


def test_subnets_mismatch_and_missing_when_given() -> None:
    layout = p4d_layout()
    for nic in layout:
        nic["subnetId"] = "subnet-a"
    layout[1]["subnetId"] = "subnet-b"
    del layout[2]["subnetId"]
    violations = interface_layout_violations(layout, "p4d.24xlarge", subnet_id="subnet-a")
    assert sum("is not the fleet's subnet subnet-a" in v for v in violations) == 1
    assert sum("no subnet" in v for v in violations) == 1
    assert sum("span subnets" in v for v in violations) == 1


def test_unknown_catalog_type() -> None:
    single(interface_layout_violations(p4d_layout(), "p4d.24xlarg"), "not in the catalog")


def test_unknown_preview_values_are_not_violations() -> None:
    layout = copy.deepcopy(p4d_layout())
    layout[0]["networkCardIndex"] = None
    layout[1]["deviceIndex"] = UNKNOWN
    layout[2]["securityGroups"] = [UNKNOWN]
    assert interface_layout_violations(None, "p4d.24xlarge") == []
    assert interface_layout_violations(p4d_layout(), None) == []
    assert all(
        "primary" not in v and "security" not in v
        for v in interface_layout_violations(layout, "p4d.24xlarge", security_group_id="sg-efa")
    )
    assert is_unknown(None) and is_unknown(UNKNOWN) and not is_unknown("sg-1")


# --- metadata options -------------------------------------------------------------------------

GOOD_METADATA = {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 2.0}


def test_metadata_compliant() -> None:
    assert metadata_violations(GOOD_METADATA) == []


def test_metadata_absent() -> None:
    single(metadata_violations(None), "IMDSv1 stays enabled")


def test_imdsv1_allowed() -> None:
    single(metadata_violations({**GOOD_METADATA, "httpTokens": "optional"}), "'optional'")
    single(metadata_violations({k: v for k, v in GOOD_METADATA.items() if k != "httpTokens"}), "httpTokens is not set")


@pytest.mark.parametrize("hops", [1.0, 2.0, "1"])
def test_hop_limit_one_or_two_is_accepted(hops: object) -> None:
    # 0.1 refused 1 on launch templates, so a fleet could not keep pods off the node role.
    assert metadata_violations({**GOOD_METADATA, "httpPutResponseHopLimit": hops}) == []


@pytest.mark.parametrize("hops", [0.0, 3.0, 64.0])
def test_hop_limit_above_two_is_refused(hops: float) -> None:
    single(metadata_violations({**GOOD_METADATA, "httpPutResponseHopLimit": hops}), "at most 2")


def test_hop_limit_default_is_one_and_accepted() -> None:
    assert metadata_violations({"httpEndpoint": "enabled", "httpTokens": "required"}) == []


def test_hop_limit_does_not_excuse_imdsv1() -> None:
    single(metadata_violations({"httpTokens": "optional", "httpPutResponseHopLimit": 1.0}), "'optional'")


def test_metadata_endpoint_disabled() -> None:
    single(metadata_violations({**GOOD_METADATA, "httpEndpoint": "disabled"}), "httpEndpoint")


def test_metadata_unknown_values() -> None:
    assert metadata_violations({"httpTokens": UNKNOWN, "httpPutResponseHopLimit": None}) == []


# --- block devices -----------------------------------------------------------------------------

ROOT = {
    "deviceName": "/dev/xvda",
    "ebs": {
        "volumeType": "gp3",
        "encrypted": "true",
        "volumeSize": 200.0,
        "kmsKeyId": "arn:aws:kms:eu-central-1:111122223333:key/k",
    },
}


def test_block_devices_compliant() -> None:
    assert block_device_violations([ROOT], require_cmk=True) == []
    store = {"deviceName": "/dev/sdb", "virtualName": "ephemeral0"}
    assert block_device_violations([ROOT, store], True) == []


def test_block_devices_absent() -> None:
    single(block_device_violations(None, require_cmk=False), "inherits the AMI")
    single(block_device_violations([{"deviceName": "/dev/sdb", "noDevice": ""}], False), "no EBS volume")


def test_wrong_volume_type() -> None:
    single(block_device_violations([{**ROOT, "ebs": {**ROOT["ebs"], "volumeType": "gp2"}}], False), "'gp2'")


@pytest.mark.parametrize("encrypted", ["false", False])
def test_unencrypted(encrypted: object) -> None:
    single(
        block_device_violations([{**ROOT, "ebs": {**ROOT["ebs"], "encrypted": encrypted}}], False), "must be encrypted"
    )


def test_cmk_required_only_when_asked() -> None:
    no_key = {**ROOT, "ebs": {k: v for k, v in ROOT["ebs"].items() if k != "kmsKeyId"}}
    assert block_device_violations([no_key], require_cmk=False) == []
    single(block_device_violations([no_key], require_cmk=True), "customer-managed key")
    single(block_device_violations([{**ROOT, "ebs": {**ROOT["ebs"], "kmsKeyId": ""}}], True), "kmsKeyId")


def test_block_device_unknown_values() -> None:
    unknown = {**ROOT, "ebs": {"volumeType": UNKNOWN, "encrypted": None, "kmsKeyId": UNKNOWN}}
    assert block_device_violations([unknown], require_cmk=True) == []
