"""The planned EFA layout of every catalog type satisfies the shared invariants."""

from __future__ import annotations

import dataclasses

import pytest
from aifactory.catalog import get_instance_type, instance_types
from aifactory.invariants import interface_layout_violations
from aifactory.planning.efa_layout import InterfaceSlot, efa_device_count, efa_interfaces

EFA_TYPES = sorted(name for name, entry in instance_types().items() if entry.efa_capable)


def as_engine_inputs(slots: list[InterfaceSlot], subnet: str = "subnet-1", sg: str = "sg-efa") -> list[dict]:
    """The camelCase shape the mock engine shows, ints as floats."""
    return [
        {
            "networkCardIndex": float(s.network_card_index),
            "deviceIndex": float(s.device_index),
            "interfaceType": s.interface_type,
            "subnetId": subnet,
            "securityGroups": [sg],
            "deleteOnTermination": "true",
        }
        for s in slots
    ]


@pytest.mark.parametrize("name", EFA_TYPES)
def test_every_catalog_type_satisfies_the_invariants(name: str) -> None:
    slots = efa_interfaces(get_instance_type(name))
    assert (
        interface_layout_violations(as_engine_inputs(slots), name, subnet_id="subnet-1", security_group_id="sg-efa")
        == []
    )


@pytest.mark.parametrize("name", EFA_TYPES)
def test_one_efa_only_interface_per_card_and_an_ena_primary(name: str) -> None:
    entry = get_instance_type(name)
    slots = efa_interfaces(entry)
    assert slots[0] == InterfaceSlot(0, 0, "interface")
    efa = [s for s in slots if s.interface_type != "interface"]
    assert sorted(s.network_card_index for s in efa) == list(range(entry.network_cards))
    assert all(s.interface_type == "efa-only" for s in efa)
    assert efa_device_count(entry) == entry.network_cards


def test_card_zero_efa_sits_at_device_one_and_other_cards_at_device_zero() -> None:
    slots = efa_interfaces(get_instance_type("p5.48xlarge"))
    assert len(slots) == 33
    assert InterfaceSlot(0, 1, "efa-only") in slots
    assert {s.device_index for s in slots if s.network_card_index > 0} == {0}


def test_type_with_fewer_efa_interfaces_than_cards_is_refused() -> None:
    short = dataclasses.replace(get_instance_type("p5.48xlarge"), max_efa_interfaces=4)
    with pytest.raises(ValueError, match="one EFA interface per card"):
        efa_interfaces(short)
