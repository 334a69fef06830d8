"""Storage sizing against exhaustive search over every valid configuration, plus property tests."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from aifactory.catalog.prices import region_prices
from aifactory.planning.storage_sizing import (
    DEFAULT_QUOTA_GIB,
    FsxConfiguration,
    SizingError,
    StorageTargets,
    lfs_setstripe_command,
    monthly_cost_usd,
    size_filesystem,
    valid_capacities_gib,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.planning import fsx_lustre_table as aws


def brute_force(targets: StorageTargets, kinds: tuple, efa: bool, region: str, quota: int) -> float | None:
    """The lowest monthly cost of any configuration in AWS's table meeting the targets (None when none does)."""
    costs = [
        o.monthly_cost_usd(region)
        for o in aws.options(kinds, efa, quota)
        if aws.meets(
            o, targets.capacity_tib, targets.throughput_gbps, targets.checkpoint_size_tb, targets.checkpoint_seconds
        )
    ]
    return min(costs) if costs else None


def priced(region: str, kinds: tuple) -> bool:
    table = region_prices(region)
    return table is not None and all(table.fsx_lustre.get(k) for k in kinds)


def check_against_search(targets: StorageTargets, kinds: tuple, efa: bool, region: str, quota: int) -> None:
    # A region without FSx prices is sized by us-east-1's prices and shows no cost of its own.
    ranking_region = region if priced(region, kinds) else "us-east-1"
    best = brute_force(targets, kinds, efa, ranking_region, quota)
    try:
        sizing = size_filesystem(
            capacity_tib=targets.capacity_tib,
            throughput_gbps=targets.throughput_gbps,
            checkpoint_size_tb=targets.checkpoint_size_tb,
            checkpoint_seconds=targets.checkpoint_seconds,
            efa_enabled=efa,
            deployment_types=kinds,
            region=region,
            quota_gib=quota,
        )
    except SizingError:
        assert best is None, f"sizing failed but {best} USD/month meets {targets}"
        return
    assert best is not None, f"sized {targets} although nothing in AWS's table meets them"
    chosen = aws.Option(sizing.deployment_type, sizing.per_unit_throughput, sizing.capacity_gib, efa)
    assert chosen in set(aws.options(kinds, efa, quota)), f"{chosen} is not a configuration AWS accepts"
    assert aws.meets(
        chosen, targets.capacity_tib, targets.throughput_gbps, targets.checkpoint_size_tb, targets.checkpoint_seconds
    )
    assert sizing.throughput_gbps == pytest.approx(chosen.throughput_gbps)
    assert chosen.monthly_cost_usd(ranking_region) == pytest.approx(best)
    if ranking_region == region:
        assert sizing.monthly_cost_usd == pytest.approx(best)
    else:
        assert sizing.monthly_cost_usd is None and region in (sizing.price.note or "")


@pytest.mark.parametrize(
    ("tier", "efa"),
    [(t, efa) for t in aws.TIERS["PERSISTENT_2"] for efa in (False, True)] + [(aws.TIERS["SCRATCH_2"][0], False)],
)
def test_capacity_steps_match_the_api(tier: int, efa: bool) -> None:
    for quota in (1199, 1200, 9600, 20_000, DEFAULT_QUOTA_GIB, 400_000):
        assert list(valid_capacities_gib(tier, efa, quota)) == aws.capacities_gib(tier, efa, quota)
    # Spelled out, so the table itself is checked against the API text.
    assert aws.capacities_gib(125, False, 9600) == [1200, 2400, 4800, 7200, 9600]
    assert aws.capacities_gib(1000, True, 20_000) == [4800, 9600, 14400, 19200]
    assert aws.capacities_gib(125, True, DEFAULT_QUOTA_GIB) == [38_400, 76_800]


CAPACITIES = [None, 0.5, 1.0, 1.17, 1.2, 2.3, 2.35, 2.4, 5, 10, 37.5, 50, 75, 98.4375, 98.5]
THROUGHPUTS = [None, 0.1, 0.15, 0.3, 1, 2.5, 9.4, 10, 20, 37.5, 50, 75, 96, 98.4375, 99]


@pytest.mark.parametrize("efa", [False, True])
@pytest.mark.parametrize("kinds", [("PERSISTENT_2",), ("SCRATCH_2",), ("PERSISTENT_2", "SCRATCH_2")])
def test_matches_exhaustive_search_on_a_grid(kinds, efa):
    for capacity, throughput in itertools.product(CAPACITIES, THROUGHPUTS):
        check_against_search(StorageTargets(capacity, throughput), kinds, efa, "us-east-1", DEFAULT_QUOTA_GIB)


def test_matches_exhaustive_search_with_checkpoints_and_raised_quota():
    for size_tb, seconds in itertools.product([0.5, 2, 8, 30], [10, 60, 300, 900]):
        targets = StorageTargets(capacity_tib=20, checkpoint_size_tb=size_tb, checkpoint_seconds=seconds)
        check_against_search(targets, ("PERSISTENT_2",), False, "eu-north-1", 400_000)
        check_against_search(targets, ("PERSISTENT_2",), True, "eu-north-1", 400_000)


targets_strategy = st.builds(
    StorageTargets,
    capacity_tib=st.one_of(st.none(), st.floats(min_value=0.01, max_value=120)),
    throughput_gbps=st.one_of(st.none(), st.floats(min_value=0.01, max_value=120)),
)


@settings(max_examples=300, deadline=None)
@given(
    targets=targets_strategy,
    efa=st.booleans(),
    region=st.sampled_from(["us-east-1", "eu-north-1", "ap-south-1"]),
)
def test_never_undershoots_and_is_never_beaten(targets, efa, region):
    check_against_search(targets, ("PERSISTENT_2",), efa, region, DEFAULT_QUOTA_GIB)


@settings(max_examples=200, deadline=None)
@given(size_tb=st.floats(min_value=0.01, max_value=50), seconds=st.floats(min_value=1, max_value=3600))
def test_checkpoint_time_meets_the_target(size_tb, seconds):
    try:
        sizing = size_filesystem(checkpoint_size_tb=size_tb, checkpoint_seconds=seconds)
    except SizingError:
        fastest = max(o.throughput_gbps for o in aws.options(("PERSISTENT_2",), False, DEFAULT_QUOTA_GIB))
        assert size_tb * 1000 / seconds > fastest
        return
    assert sizing.checkpoint_seconds is not None
    assert sizing.checkpoint_seconds <= seconds * (1 + 1e-9)
    assert sizing.throughput_gbps >= size_tb * 1000 / seconds


def test_known_answer_fifty_gbps_picks_the_top_tier():
    # 50 GB/s: 1000 MB/s/TiB needs 51,200 GiB -> 52,800 GiB at $0.600 = $31,680;
    # 500 MB/s/TiB would need 103,200 GiB, over the quota.
    sizing = size_filesystem(throughput_gbps=50)
    assert (sizing.per_unit_throughput, sizing.capacity_gib) == (1000, 52_800)
    assert sizing.monthly_cost_usd == pytest.approx(52_800 * 0.600)
    assert sizing.throughput_gbps == pytest.approx(51.5625)
    assert sizing.metadata_mode is None


def test_capacity_only_takes_the_cheapest_tier():
    sizing = size_filesystem(capacity_tib=10)
    assert (sizing.per_unit_throughput, sizing.capacity_gib) == (125, 12_000)
    assert sizing.monthly_cost_usd == pytest.approx(12_000 * 0.145)


def test_efa_needs_a_metadata_configuration_and_efa_steps():
    sizing = size_filesystem(throughput_gbps=20, efa_enabled=True)
    assert sizing.metadata_mode == "AUTOMATIC"
    assert sizing.capacity_gib % aws.EFA_MULTIPLE_GIB[sizing.per_unit_throughput] == 0


def test_efa_on_scratch_has_no_configuration():
    with pytest.raises(SizingError):
        size_filesystem(capacity_tib=1, efa_enabled=True, deployment_types=("SCRATCH_2",))


def test_over_the_quota_is_an_error_naming_the_ceiling():
    with pytest.raises(SizingError, match="100800 GiB"):
        size_filesystem(capacity_tib=100)
    assert size_filesystem(capacity_tib=100, quota_gib=200_000).capacity_gib == 103_200


def test_scratch_takes_no_per_unit_throughput_argument():
    sizing = size_filesystem(capacity_tib=3, deployment_types=("SCRATCH_2",))
    assert sizing.per_unit_storage_throughput is None
    assert sizing.capacity_gib == 4800
    assert sizing.throughput_gbps == pytest.approx(200 * 4800 / 1024 / 1000)


def test_region_without_prices_has_no_cost_and_says_so():
    sizing = size_filesystem(capacity_tib=1, region="ap-south-1")
    assert sizing.monthly_cost_usd is None
    assert sizing.price.source is None and sizing.price.date is None
    assert "no FSx for Lustre PERSISTENT_2 price for ap-south-1" in (sizing.price.note or "")
    # the choice is still the cheapest: ranked by us-east-1's prices, whose figure is not shown
    assert (sizing.per_unit_throughput, sizing.capacity_gib) == (125, 1200)


def test_priced_region_names_source_and_date():
    sizing = size_filesystem(capacity_tib=1, region="us-east-1")
    assert sizing.monthly_cost_usd == pytest.approx(1200 * 0.145)
    assert sizing.price.source is not None and sizing.price.source.startswith("C3X:")
    assert sizing.price.date == "2026-09-01" and not sizing.price.estimate


def test_throughput_billed_apart_is_added(monkeypatch: pytest.MonkeyPatch) -> None:
    table = region_prices("us-east-1")
    assert table is not None
    tier = table.fsx_lustre["PERSISTENT_2"][125]
    billed = dataclasses.replace(tier, usd_per_mbps_month=0.5)
    patched = dataclasses.replace(table, fsx_lustre={"PERSISTENT_2": {125: billed}})
    config = FsxConfiguration("PERSISTENT_2", 125, 2400, False)
    # 2,400 GiB at 125 MB/s/TiB is 292.97 MB/s, billed at $0.50 per MBps-month on top of storage
    assert monthly_cost_usd(config, patched) == pytest.approx(2400 * tier.usd_per_gb_month + 125 * 2400 / 1024 * 0.5)
    assert monthly_cost_usd(FsxConfiguration("PERSISTENT_2", 250, 2400, False), patched) is None


def test_gbps_per_gpu():
    sizing = size_filesystem(throughput_gbps=10)
    assert sizing.gbps_per_gpu(32) == pytest.approx(sizing.throughput_gbps / 32)
    assert sizing.gbps_per_gpu(0) == 0.0


def test_checkpoint_layout_spreads_large_files_over_every_ost():
    command = lfs_setstripe_command("/fsx/checkpoints")
    assert command == "lfs setstripe -E 64M -c 1 -E 1G -c 4 -E 16G -c 16 -E -1 -c -1 /fsx/checkpoints"
