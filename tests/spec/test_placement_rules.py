"""AWS placement is a capacity choice: bad placement, reservation-group and power-limit input names its path."""

from __future__ import annotations

from typing import Any

import pytest
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import spec_from_config
from aifactory.spec.placement_rules import cluster_placement_problem, placement_group_problem

from tests.stackfiles import PINNED_IMAGES

RESERVATION = "cr-0123456789abcdef0"
ARN = "arn:aws:ec2:us-east-1:123456789012:placement-group/train-cpg"


def config(fleet: dict[str, Any] | None = None, site: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "aws:region": "us-east-1",
        "aifactory:profile": "commercial",
        "aifactory:images": PINNED_IMAGES,
        "aifactory:fleets": [{"name": "train", "instanceType": "p5.48xlarge", "count": 8, **(fleet or {})}],
    }
    if site is not None:
        cfg["aifactory:site"] = site
    return cfg


def hall(fleet: dict[str, Any]) -> dict[str, Any]:
    """A data hall of the customer's own servers (a hybrid fleet of 2 DGX H100) with `fleet`'s keys."""
    cfg = config(site={"kind": "datahall", "racks": 4})
    cfg["aifactory:fleets"] = [{"name": "train", "kind": "hybrid", "server": "dgx-h100", "count": 2, **fleet}]
    return cfg


def issues(cfg: dict[str, Any]) -> dict[str, str]:
    """Config path -> problem and fix of every issue."""
    with pytest.raises(ConfigError) as exc:
        spec_from_config(cfg)
    return {i.path: f"{i.problem} Fix: {i.fix}" for i in exc.value.issues}


def reservation(**extra: Any) -> dict[str, Any]:
    return {"capacity": {"type": "capacity-reservation", "reservationId": RESERVATION, **extra}}


@pytest.mark.parametrize("key", ["domainPowerKw", "maxNodesPerDomain"])
def test_removed_aws_site_keys_say_why_and_what_instead(key: str) -> None:
    found = issues(config(site={"kind": "aws", key: 110}))
    text = found[f"aifactory:site.{key}"]
    assert "was removed" in text and "placement: {strategy: partition" in text
    assert (
        "EC2 exposes no rack power"
        in issues(config(site={"kind": "aws", "domainPowerKw": 1}))["aifactory:site.domainPowerKw"]
    )


def test_unknown_site_key_is_still_a_typo() -> None:
    assert "is not a known key" in issues(config(site={"kind": "aws", "domainPower": 1}))["aifactory:site.domainPower"]


def test_spread_on_aws_names_the_partition_placement() -> None:
    text = issues(config({"strategy": "spread"}))["aifactory:fleets[0].strategy"]
    assert "placement: {strategy: partition}" in text
    # A data hall still spreads across racks.
    spec_from_config(hall({"strategy": "spread"}))


def test_partition_placement_passes() -> None:
    spec = spec_from_config(config({"placement": {"strategy": "partition", "partitions": 4}}))
    assert spec.fleets[0].placement is not None and spec.fleets[0].placement.partitions == 4


@pytest.mark.parametrize(
    ("placement", "says"),
    [
        ({"strategy": "partition", "partitions": 8}, "1-7 per Availability Zone"),
        ({"strategy": "partition", "partitions": 0}, "1-7 per Availability Zone"),
        ({"strategy": "partition", "partitions": 9, "count": 12}, "1-7"),
        ({"strategy": "cluster", "partitions": 2}, "only applies to `strategy: partition`"),
    ],
)
def test_partition_count_rules(placement: dict[str, Any], says: str) -> None:
    count = placement.pop("count", 8)
    assert says in issues(config({"placement": placement, "count": count}))["aifactory:fleets[0].placement.partitions"]


def test_more_partitions_than_nodes() -> None:
    text = issues(config({"count": 3, "placement": {"strategy": "partition", "partitions": 5}}))
    assert "leave partitions empty" in text["aifactory:fleets[0].placement.partitions"]


@pytest.mark.parametrize("ctype", ["capacity-reservation", "capacity-block"])
def test_placement_on_reserved_capacity_is_refused(ctype: str) -> None:
    cap: dict[str, Any] = {"type": ctype, "reservationId": RESERVATION}
    if ctype == "capacity-block":
        cap["endTime"] = "2030-01-01T00:00:00Z"
    text = issues(config({"capacity": cap, "placement": {"strategy": "cluster"}}))["aifactory:fleets[0].placement"]
    assert "its own placement" in text and "capacity.placementGroup" in text


def test_placement_in_a_data_hall_is_refused() -> None:
    found = issues(hall({"placement": {"strategy": "cluster"}}))
    assert "racks are the placement" in found["aifactory:fleets[0].placement"]


def test_ec2_fleets_beside_a_hall_keep_the_aws_placement_rules() -> None:
    cfg = hall({})
    cfg["aifactory:fleets"].append({"name": "cloud", "instanceType": "p5.48xlarge", "count": 2, "strategy": "spread"})
    assert "placement: {strategy: partition}" in issues(cfg)["aifactory:fleets[1].strategy"]


@pytest.mark.parametrize("group", ["train-cpg", ARN])
def test_reservation_placement_group_name_or_arn_passes(group: str) -> None:
    spec = spec_from_config(config(reservation(placementGroup=group)))
    assert spec.fleets[0].capacity.placement_group == group


@pytest.mark.parametrize(
    ("group", "says"),
    [
        ("my group", "not a placement group name"),
        ("x" * 256, "not a placement group name"),
        ("", "not a placement group name"),
        ("arn:aws:ec2:us-east-1:123456789012:instance/i-0abc", "not a placement group ARN"),
        ("arn:aws:ec2:eu-west-1:123456789012:placement-group/pg", "eu-west-1"),
        ("arn:aws:ec2:us-east-1:1234:placement-group/pg", "not 12 digits"),
        ("arn:aws:ec2:us-east-1:123456789012:placement-group/", "not a placement group name"),
    ],
)
def test_reservation_placement_group_syntax(group: str, says: str) -> None:
    assert says in issues(config(reservation(placementGroup=group)))["aifactory:fleets[0].capacity.placementGroup"]


@pytest.mark.parametrize("ctype", ["on-demand", "capacity-block"])
def test_placement_group_only_on_a_capacity_reservation(ctype: str) -> None:
    cap: dict[str, Any] = {"type": ctype, "placementGroup": "pg"}
    if ctype == "capacity-block":
        cap |= {"reservationId": RESERVATION, "endTime": "2030-01-01T00:00:00Z"}
    text = issues(config({"capacity": cap}))["aifactory:fleets[0].capacity.placementGroup"]
    assert "only a capacity reservation" in text


def test_placement_group_problem_direct() -> None:
    assert placement_group_problem("pg-1", "aws", "us-east-1") is None
    assert placement_group_problem(
        "arn:aws-us-gov:ec2:us-gov-west-1:123456789012:placement-group/a", "aws", "us-east-1"
    )


@pytest.mark.parametrize("itype", ["t3.large", "t4g.medium", "mac1.metal", "m7i-flex.large"])
def test_cluster_group_refuses_burstable_mac1_and_flex(itype: str) -> None:
    assert cluster_placement_problem(itype) is not None


@pytest.mark.parametrize("itype", ["p5.48xlarge", "trn2.48xlarge", "g6.xlarge", "p4d.24xlarge"])
def test_cluster_group_takes_the_catalog_types(itype: str) -> None:
    assert cluster_placement_problem(itype) is None


def test_gpu_power_cap_bounds_on_aws_are_refused_with_the_limit_to_use() -> None:
    text = issues(config({"gpuPowerCapW": {"min": 550, "max": 700}}))["aifactory:fleets[0].gpuPowerCapW"]
    assert "no rack power budget" in text and "gpuPowerLimit: {watts: 700" in text


@pytest.mark.parametrize("reason", ["throughput-study", "datahall-parity", "energy-study"])
def test_gpu_power_limit_with_a_reason_passes(reason: str) -> None:
    spec = spec_from_config(config({"gpuPowerLimit": {"watts": 500, "reason": reason}}))
    limit = spec.fleets[0].gpu_power_limit
    assert limit is not None and (limit.watts, limit.reason) == (500, reason)


def test_gpu_power_limit_for_cost_is_refused_with_why() -> None:
    text = issues(config({"gpuPowerLimit": {"watts": 500, "reason": "cost"}}))[
        "aifactory:fleets[0].gpuPowerLimit.reason"
    ]
    assert "billed per second" in text and "throughput-study" in text


def test_gpu_power_limit_needs_a_known_reason() -> None:
    found = issues(config({"gpuPowerLimit": {"watts": 500}}))
    assert "aifactory:fleets[0].gpuPowerLimit.reason" in found
    text = issues(config({"gpuPowerLimit": {"watts": 500, "reason": "throughput"}}))
    assert "throughput-study" in text["aifactory:fleets[0].gpuPowerLimit.reason"]


@pytest.mark.parametrize("watts", [100, 701])
def test_gpu_power_limit_range(watts: int) -> None:
    text = issues(config({"gpuPowerLimit": {"watts": watts, "reason": "throughput-study"}}))
    assert "outside what" in text["aifactory:fleets[0].gpuPowerLimit.watts"]


def test_gpu_power_limit_on_trainium() -> None:
    fleet = {"instanceType": "trn1.32xlarge", "gpuPowerLimit": {"watts": 300, "reason": "energy-study"}}
    assert "cannot be power-capped" in issues(config(fleet))["aifactory:fleets[0].gpuPowerLimit"]


def test_gpu_power_limit_in_a_data_hall_is_refused() -> None:
    found = issues(hall({"gpuPowerLimit": {"watts": 500, "reason": "throughput-study"}}))
    assert "gpuPowerCapW" in found["aifactory:fleets[0].gpuPowerLimit"]
