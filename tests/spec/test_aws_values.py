"""Values AWS or the node refuse: CIDRs, AZs, KMS key ARNs, mount paths, chart versions, nulls and
capacity-block times. Every case names the config path its issue must carry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aifactory.spec.aws_values import RESERVED_MOUNT_DIRS, kms_key_arn_problem, mount_path_problem
from aifactory.spec.clock import PLAN_TIME_ENV
from aifactory.spec.errors import ConfigError, ConfigIssue
from aifactory.spec.loading import spec_from_config, validate_config

from tests.stackfiles import base

Mutation = Callable[[dict[str, Any]], None]
PLAN_TIME = "2026-12-01T00:00:00Z"
KEY_ID = "5c2e8a41-7b3d-4f90-a6e1-0d9c4b7f2e35"
REGION_KEY = f"arn:aws:kms:us-east-1:123456789012:key/{KEY_ID}"
BLOCK = {"type": "capacity-block", "reservationId": "cr-0123456789abcdef0"}


@pytest.fixture(autouse=True)
def _plan_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLAN_TIME_ENV, PLAN_TIME)


def key(name: str, value: Any) -> Mutation:
    def apply(c: dict[str, Any]) -> None:
        c[f"aifactory:{name}"] = value

    return apply


def fleet(**fields: Any) -> Mutation:
    return lambda c: c["aifactory:fleets"][0].update(fields)


def network(**fields: Any) -> Mutation:
    return lambda c: c["aifactory:network"].update(fields)


def kms(arn: str) -> Mutation:
    return key(
        "sovereignty", {"allowedRegions": ["us-east-1"], "registryMirror": "mirror.example.internal", "kmsKeyArn": arn}
    )


def mount(path: str) -> Mutation:
    return key("storage", {"capacityTiB": 10, "throughputGBps": 1, "mountPath": path})


def public(*cidrs: str) -> Mutation:
    return key("scheduler", {"kind": "kubernetes", "endpoint": "public", "publicAccessCidrs": list(cidrs)})


def chart(**versions: str) -> Mutation:
    return key("scheduler", {"kind": "kubernetes", "charts": versions})


def ends(end: str) -> Mutation:
    return fleet(capacity={**BLOCK, "endTime": end})


ERRORS: list[tuple[str, Mutation, str]] = [
    ("vpc-cidr-/8", network(cidr="10.0.0.0/8"), "aifactory:network.cidr"),
    ("vpc-cidr-/15", network(cidr="10.0.0.0/15"), "aifactory:network.cidr"),
    ("vpc-cidr-/29", network(cidr="10.0.0.0/29"), "aifactory:network.cidr"),
    (
        "az-repeated",
        network(availabilityZones=["us-east-1a", "us-east-1b", "us-east-1a"]),
        "aifactory:network.availabilityZones[2]",
    ),
    (
        "az-other-region",
        network(availabilityZones=["us-east-1a", "eu-west-1b"]),
        "aifactory:network.availabilityZones[1]",
    ),
    ("kms-alias", kms("arn:aws:kms:us-east-1:123456789012:alias/factory"), "aifactory:sovereignty.kmsKeyArn"),
    ("kms-other-region", kms(f"arn:aws:kms:eu-north-1:123456789012:key/{KEY_ID}"), "aifactory:sovereignty.kmsKeyArn"),
    (
        "kms-other-partition",
        kms(f"arn:aws-cn:kms:us-east-1:123456789012:key/{KEY_ID}"),
        "aifactory:sovereignty.kmsKeyArn",
    ),
    ("kms-truncated", kms("arn:aws:kms:us-east-1:x"), "aifactory:sovereignty.kmsKeyArn"),
    ("kms-account-not-12-digits", kms(f"arn:aws:kms:us-east-1:1234:key/{KEY_ID}"), "aifactory:sovereignty.kmsKeyArn"),
    ("kms-key-not-uuid", kms("arn:aws:kms:us-east-1:123456789012:key/abc"), "aifactory:sovereignty.kmsKeyArn"),
    ("kms-mrk-short", kms("arn:aws:kms:us-east-1:123456789012:key/mrk-1234"), "aifactory:sovereignty.kmsKeyArn"),
    ("mount-root", mount("/"), "aifactory:storage.mountPath"),
    ("mount-etc", mount("/etc"), "aifactory:storage.mountPath"),
    ("mount-under-usr", mount("/usr/local/fsx"), "aifactory:storage.mountPath"),
    ("mount-dotdot", mount("/fsx/../etc"), "aifactory:storage.mountPath"),
    ("mount-relative", mount("fsx"), "aifactory:storage.mountPath"),
    ("mount-trailing-slash", mount("/fsx/"), "aifactory:storage.mountPath"),
    ("mount-double-slash", mount("/fsx//data"), "aifactory:storage.mountPath"),
    ("mount-space", mount("/fsx data"), "aifactory:storage.mountPath"),
    ("mount-dollar", mount("/fsx$(id)"), "aifactory:storage.mountPath"),
    ("public-halves-cover-internet", public("0.0.0.0/1", "128.0.0.0/1"), "aifactory:scheduler.publicAccessCidrs"),
    ("public-whole-internet", public("0.0.0.0/0"), "aifactory:scheduler.publicAccessCidrs[0]"),
    ("public-host-bits", public("203.0.113.7/24"), "aifactory:scheduler.publicAccessCidrs[0]"),
    ("public-ipv6", public("2001:db8::/32"), "aifactory:scheduler.publicAccessCidrs[0]"),
    ("public-more-than-40", public(*(f"203.0.{i}.0/24" for i in range(41))), "aifactory:scheduler.publicAccessCidrs"),
    ("chart-latest", chart(kueue="latest"), "aifactory:scheduler.charts.kueue"),
    ("chart-empty", chart(jobset=""), "aifactory:scheduler.charts.jobset"),
    ("chart-range", chart(dcgmExporter="^4.8"), "aifactory:scheduler.charts.dcgmExporter"),
    ("chart-two-parts", chart(fsxCsiDriver="1.17"), "aifactory:scheduler.charts.fsxCsiDriver"),
    ("null-scheduler", key("scheduler", None), "aifactory:scheduler"),
    ("null-storage", key("storage", None), "aifactory:storage"),
    ("null-site", key("site", None), "aifactory:site"),
    ("null-sovereignty", key("sovereignty", None), "aifactory:sovereignty"),
    ("null-network", key("network", None), "aifactory:network"),
    ("null-power-cap", fleet(gpuPowerCapW=None), "aifactory:fleets[0].gpuPowerCapW"),
    ("null-capacity", fleet(capacity=None), "aifactory:fleets[0].capacity"),
    ("null-checkpoint", key("storage", {"capacityTiB": 10, "checkpoint": None}), "aifactory:storage.checkpoint"),
    (
        "null-cluster-runner",
        key("scheduler", {"kind": "kubernetes", "clusterRunner": None}),
        "aifactory:scheduler.clusterRunner",
    ),
    (
        "k8s-version-not-a-version",
        key("scheduler", {"kind": "kubernetes", "version": "abc"}),
        "aifactory:scheduler.version",
    ),
    (
        "k8s-version-path",
        key("scheduler", {"kind": "kubernetes", "version": "1.35/../x"}),
        "aifactory:scheduler.version",
    ),
    ("block-ended", ends("2026-11-30T11:30:00Z"), "aifactory:fleets[0].capacity.endTime"),
]


def issues_of(config: dict[str, Any]) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as exc:
        spec_from_config(config)
    return list(exc.value.issues)


@pytest.mark.parametrize(("mutate", "path"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_refused_value_is_an_error_at_its_path(mutate: Mutation, path: str) -> None:
    config = base()
    mutate(config)
    found = [i for i in issues_of(config) if i.path == path]
    assert found and all(not i.is_warning for i in found), issues_of(config)


@pytest.mark.parametrize(
    "mutate",
    [
        network(cidr="10.0.0.0/16"),
        kms(REGION_KEY),
        kms("arn:aws:kms:us-east-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef"),
        mount("/fsx"),
        mount("/mnt/fsx/shared-1.2"),
        mount("/home/fsx"),
        public("203.0.113.0/24", "198.51.100.0/24"),
        public("0.0.0.0/1"),
        chart(kueue="0.19.2", efaDevicePlugin="v0.5.30", jobset="0.12.0-rc.1+build.5"),
        ends("2026-12-10T11:30:00Z"),
    ],
    ids=[
        "cidr",
        "kms",
        "kms-mrk",
        "mount",
        "mount-nested",
        "mount-home-sub",
        "public",
        "public-half",
        "charts",
        "block",
    ],
)
def test_accepted_values_pass_clean(mutate: Mutation) -> None:
    config = base()
    mutate(config)
    _, warnings = validate_config(config)
    assert warnings == ()


def test_every_parallelcluster_reserved_directory_is_refused() -> None:
    for directory in sorted(RESERVED_MOUNT_DIRS):
        config = base()
        mount(directory)(config)
        assert any(i.path == "aifactory:storage.mountPath" for i in issues_of(config)), directory


WARNINGS: list[tuple[str, str, str]] = [
    ("ends-within-a-day", "2026-12-01T11:30:00Z", "within 24 hours"),
    ("beyond-what-ec2-sells", "2027-12-01T11:30:00Z", "more than 238 days ahead"),
    ("not-at-1130-utc", "2026-12-10T10:00:00Z", "not 11:30 UTC"),
]


@pytest.mark.parametrize(("end", "problem"), [c[1:] for c in WARNINGS], ids=[c[0] for c in WARNINGS])
def test_suspicious_block_end_is_a_warning_that_does_not_stop_validation(end: str, problem: str) -> None:
    config = base()
    ends(end)(config)
    spec, warnings = validate_config(config)
    assert spec.fleets[0].capacity.end_time is not None
    assert [(w.path, w.severity) for w in warnings] == [("aifactory:fleets[0].capacity.endTime", "warning")]
    assert problem in warnings[0].problem
    assert str(warnings[0]).startswith("warning: ")


def test_warnings_come_with_the_errors_of_the_same_run() -> None:
    config = base()
    ends("2026-12-01T11:30:00Z")(config)
    config["aifactory:fleets"][1]["instanceType"] = "p5.48xlarg"
    found = issues_of(config)
    assert [i.severity for i in found] == ["error", "warning"]


def test_bad_plan_time_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLAN_TIME_ENV, "tomorrow")
    config = base()
    ends("2026-12-10T11:30:00Z")(config)
    assert [i.path for i in issues_of(config)] == [PLAN_TIME_ENV]


def test_structural_and_cross_field_errors_in_one_run() -> None:
    """A bad storage number (structural) and a fleet typo (cross-field) are reported together; the
    failed storage section contributes no cross-field issue of its own."""
    config = base()
    config["aifactory:storage"] = {"capacityTiB": True, "throughputGBps": 1}
    config["aifactory:fleets"][0]["instanceType"] = "p5.48xlarg"
    paths = [i.path for i in issues_of(config)]
    assert "aifactory:storage.capacityTiB" in paths
    assert "aifactory:fleets[0].instanceType" in paths


def test_a_failed_section_does_not_produce_spurious_issues() -> None:
    """Leaving out a sovereign stack's broken `sovereignty` must not add 'sovereignty is required'."""
    config = base(sovereign=True)
    config["aifactory:sovereignty"]["kmsKey"] = "typo"
    config["aifactory:fleets"][0]["name"] = "Train"
    paths = [i.path for i in issues_of(config)]
    assert sorted(paths) == ["aifactory:fleets[0].name", "aifactory:sovereignty.kmsKey"]


def test_no_cross_field_rules_when_fleets_fail() -> None:
    config = base()
    config["aifactory:fleets"][0]["count"] = True
    config["aifactory:network"]["availabilityZones"] = ["us-east-1a", "us-east-1a"]
    assert [i.path for i in issues_of(config)] == ["aifactory:fleets[0].count"]


def test_checks_called_directly_refuse_a_trailing_newline() -> None:
    """The model strips whitespace, but a component's args reach these checks unstripped; Python's `$`
    matches before a final newline, so each pattern ends in `\\Z`."""
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert kms_key_arn_problem(key, "aws", "us-east-1") is None
    assert kms_key_arn_problem(key + "\n", "aws", "us-east-1") is not None
    assert mount_path_problem("/fsx") is None
    assert mount_path_problem("/fsx\n") is not None
