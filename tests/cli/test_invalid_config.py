"""Every invalid stack config: exit 2, the config path named, no traceback, nothing registered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aifactory.cli.engine import ProgramRun, run_program
from aifactory.cli.main import main
from aifactory.program import main as program_main

from tests.stackfiles import base, write_stack

Mutation = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Mutation:
    """Mutation that replaces one top-level config key."""

    def apply(config: dict[str, Any]) -> None:
        config[key] = value

    return apply


def _fleet(**fields: Any) -> Mutation:
    def apply(config: dict[str, Any]) -> None:
        config["aifactory:fleets"][0].update(fields)

    return apply


def _both(*mutations: Mutation) -> Mutation:
    def apply(config: dict[str, Any]) -> None:
        for mutate in mutations:
            mutate(config)

    return apply


def _drop(key: str) -> Mutation:
    def apply(config: dict[str, Any]) -> None:
        del config[key]

    return apply


CASES: list[tuple[str, bool, Mutation, str]] = [
    # (id, sovereign base?, mutation, config path expected in the message)
    ("profile-typo", False, _set("aifactory:profile", "comercial"), "aifactory:profile"),
    ("profile-missing", False, _drop("aifactory:profile"), "aifactory:profile"),
    ("region-missing", False, _drop("aws:region"), "aws:region"),
    ("region-unknown", False, _set("aws:region", "us-east-9"), "aws:region"),
    ("unknown-top-key", False, _set("aifactory:fleet", []), "aifactory:fleet"),
    ("fleets-missing", False, _drop("aifactory:fleets"), "aifactory:fleets"),
    ("fleets-empty", False, _set("aifactory:fleets", []), "aifactory:fleets"),
    ("instance-type-typo", False, _fleet(instanceType="p5.48xlarg"), "aifactory:fleets[0].instanceType"),
    ("instance-type-unknown", False, _fleet(instanceType="m5.large"), "aifactory:fleets[0].instanceType"),
    (
        "instance-type-not-in-region",
        False,
        _fleet(instanceType="trn2.48xlarge", availabilityZone=None),
        "aifactory:fleets[0].instanceType",
    ),
    ("images-not-pinned", False, _drop("aifactory:images"), "aifactory:images.dlami-nvidia"),
    ("image-not-an-ami", False, _set("aifactory:images", {"dlami-nvidia": "latest"}), "aifactory:images.dlami-nvidia"),
    (
        "image-key-typo",
        True,
        _set("aifactory:images", {"dlami-nvidia": "ami-0123456789abcdef0", "dlam-nvidia": "ami-0123456789abcdef0"}),
        "aifactory:images.dlam-nvidia",
    ),
    (
        "images-for-another-kubernetes-version",
        False,
        _both(
            _set("aifactory:scheduler", {"kind": "kubernetes", "version": "1.34"}),
            _set("aifactory:images", {"eks-1.35-nvidia": "ami-0123456789abcdef0"}),
        ),
        "aifactory:images.eks-1.34-nvidia",
    ),
    ("count-zero", False, _fleet(count=0), "aifactory:fleets[0].count"),
    ("count-negative", False, _fleet(count=-3), "aifactory:fleets[0].count"),
    ("count-not-number", False, _fleet(count="many"), "aifactory:fleets[0].count"),
    ("fleet-unknown-key", False, _fleet(instanceTypes="p5.48xlarge"), "aifactory:fleets[0].instanceTypes"),
    ("fleet-name-upper", False, _fleet(name="Train"), "aifactory:fleets[0].name"),
    ("fleet-name-underscore", False, _fleet(name="train_1"), "aifactory:fleets[0].name"),
    ("fleet-name-duplicate", False, _fleet(name="eval"), "aifactory:fleets[1].name"),
    ("fleet-name-too-long", False, _fleet(name="a" * 41), "aifactory:fleets[0].name"),
    ("az-other-region", False, _fleet(availabilityZone="us-west-2a"), "aifactory:fleets[0].availabilityZone"),
    (
        "az-not-offering-type",
        False,
        _fleet(instanceType="p5en.48xlarge", availabilityZone="us-east-1b"),
        "aifactory:fleets[0].availabilityZone",
    ),
    ("az-without-subnet", False, _fleet(availabilityZone="us-east-1c"), "aifactory:fleets[0].availabilityZone"),
    (
        "network-az-other-region",
        False,
        _set("aifactory:network", {"availabilityZones": ["eu-west-1a"]}),
        "aifactory:network.availabilityZones[0]",
    ),
    ("cidr-invalid", False, _set("aifactory:network", {"cidr": "10.0.0.0/33"}), "aifactory:network.cidr"),
    ("cidr-host-bits", False, _set("aifactory:network", {"cidr": "10.0.0.1/16"}), "aifactory:network.cidr"),
    ("cidr-too-small", False, _set("aifactory:network", {"cidr": "10.0.0.0/28"}), "aifactory:network.cidr"),
    (
        "cidr-too-small-for-fleet",
        False,
        lambda c: (
            _fleet(count=3000)(c),
            _set("aifactory:network", {"cidr": "10.0.0.0/20", "availabilityZones": ["us-east-1a", "us-east-1b"]})(c),
        ),
        "aifactory:network.cidr",
    ),
    ("egress-typo", False, _set("aifactory:network", {"egress": "nta"}), "aifactory:network.egress"),
    (
        "network-unknown-key",
        False,
        _set("aifactory:network", {"cidrBlock": "10.0.0.0/16"}),
        "aifactory:network.cidrBlock",
    ),
    ("capacity-type-typo", False, _fleet(capacity={"type": "ondemand"}), "aifactory:fleets[0].capacity.type"),
    (
        "reservation-without-id",
        False,
        _fleet(capacity={"type": "capacity-reservation"}),
        "aifactory:fleets[0].capacity.reservationId",
    ),
    (
        "block-without-id",
        False,
        _fleet(capacity={"type": "capacity-block", "endTime": "2026-12-01T10:00:00Z"}),
        "aifactory:fleets[0].capacity.reservationId",
    ),
    (
        "block-without-end",
        False,
        _fleet(capacity={"type": "capacity-block", "reservationId": "cr-0123456789abcdef0"}),
        "aifactory:fleets[0].capacity.endTime",
    ),
    (
        "block-too-large",
        False,
        _fleet(
            count=65,
            capacity={
                "type": "capacity-block",
                "reservationId": "cr-0123456789abcdef0",
                "endTime": "2026-12-01T10:00:00Z",
            },
        ),
        "aifactory:fleets[0].count",
    ),
    (
        "reservation-id-malformed",
        False,
        _fleet(capacity={"type": "capacity-reservation", "reservationId": "res-1"}),
        "aifactory:fleets[0].capacity.reservationId",
    ),
    (
        "reservation-id-on-demand",
        False,
        _fleet(capacity={"type": "on-demand", "reservationId": "cr-0123456789abcdef0"}),
        "aifactory:fleets[0].capacity.reservationId",
    ),
    (
        "end-time-no-zone",
        False,
        _fleet(
            capacity={
                "type": "capacity-block",
                "reservationId": "cr-0123456789abcdef0",
                "endTime": "2026-12-01T10:00:00",
            }
        ),
        "aifactory:fleets[0].capacity.endTime",
    ),
    ("ami-malformed", False, _fleet(amiId="ubuntu"), "aifactory:fleets[0].amiId"),
    ("root-volume-small", False, _fleet(rootVolumeGiB=8), "aifactory:fleets[0].rootVolumeGiB"),
    (
        "efa-without-support",
        False,
        lambda c: c["aifactory:fleets"][1].update(instanceType="g6.xlarge"),
        "aifactory:fleets[1].instanceType",
    ),
    ("sovereign-without-sovereignty", True, _drop("aifactory:sovereignty"), "aifactory:sovereignty"),
    (
        "sovereign-region-not-allowed",
        True,
        _set(
            "aifactory:sovereignty", {"allowedRegions": ["eu-central-1"], "registryMirror": "mirror.example.internal"}
        ),
        "aws:region",
    ),
    (
        "sovereign-allowed-region-typo",
        True,
        _set(
            "aifactory:sovereignty",
            {"allowedRegions": ["eu-north-1", "eu-nort-1"], "registryMirror": "mirror.example.internal"},
        ),
        "aifactory:sovereignty.allowedRegions[1]",
    ),
    (
        "sovereign-partition-not-allowed",
        True,
        _set(
            "aifactory:sovereignty",
            {
                "allowedRegions": ["eu-north-1"],
                "allowedPartitions": ["aws-us-gov"],
                "registryMirror": "mirror.example.internal",
            },
        ),
        "aws:region",
    ),
    (
        "sovereign-partition-unknown",
        True,
        _set(
            "aifactory:sovereignty",
            {
                "allowedRegions": ["eu-north-1"],
                "allowedPartitions": ["aws-eu"],
                "registryMirror": "mirror.example.internal",
            },
        ),
        "aifactory:sovereignty.allowedPartitions[0]",
    ),
    (
        "sovereign-no-mirror",
        True,
        _set("aifactory:sovereignty", {"allowedRegions": ["eu-north-1"]}),
        "aifactory:sovereignty.registryMirror",
    ),
    (
        "sovereign-mirror-not-a-registry",
        True,
        _set("aifactory:sovereignty", {"allowedRegions": ["eu-north-1"], "registryMirror": "mirror.internal/$(id)"}),
        "aifactory:sovereignty.registryMirror",
    ),
    (
        "sovereign-kms-other-region",
        True,
        _set(
            "aifactory:sovereignty",
            {
                "allowedRegions": ["eu-north-1"],
                "registryMirror": "mirror.example.internal",
                "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/abc",
            },
        ),
        "aifactory:sovereignty.kmsKeyArn",
    ),
    ("sovereign-spot", True, _fleet(capacity={"type": "spot"}), "aifactory:fleets[0].capacity.type"),
    (
        "sovereignty-unknown-key",
        True,
        _set(
            "aifactory:sovereignty", {"allowedRegions": ["eu-north-1"], "registryMirror": "m.internal", "kmsKey": "x"}
        ),
        "aifactory:sovereignty.kmsKey",
    ),
    ("labels-not-strings", False, _fleet(labels={"team": ["a"]}), "aifactory:fleets[0].labels.team"),
    ("scheduler-kind-unknown", False, _set("aifactory:scheduler", {"kind": "nomad"}), "aifactory:scheduler"),
    ("taint-effect-misspelled", False, _fleet(taints=["dedicated=lab:Bogus"]), "aifactory:fleets[0].taints[0]"),
    ("taint-without-effect", False, _fleet(taints=["dedicated=gpu"]), "aifactory:fleets[0].taints[0]"),
    (
        "taint-key-with-space",
        False,
        _fleet(taints=["ok=1:NoSchedule", "bad key=x:NoSchedule"]),
        "aifactory:fleets[0].taints[1]",
    ),
    ("taint-value-too-long", False, _fleet(taints=["k=" + "v" * 64 + ":NoSchedule"]), "aifactory:fleets[0].taints[0]"),
    (
        "taint-key-too-long-for-eks",
        False,
        _fleet(taints=["a" * 30 + ".example.com/" + "k" * 30 + ":NoSchedule"]),
        "aifactory:fleets[0].taints[0]",
    ),
    ("taint-prefix-not-dns", True, _fleet(taints=["Bad_Prefix/k=v:NoExecute"]), "aifactory:fleets[0].taints[0]"),
]


@pytest.mark.parametrize(("sovereign", "mutate", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_config_exits_2_with_path_and_registers_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sovereign: bool, mutate: Mutation, path: str
) -> None:
    config = base(sovereign)
    mutate(config)
    stack_file = write_stack(tmp_path, "bad", config)

    assert main(["plan", str(stack_file)]) == 2
    captured = capsys.readouterr()
    assert path in captured.err, captured.err
    assert "Fix:" in captured.err
    assert "Traceback" not in captured.err + captured.out

    # The same config through the Pulumi program itself (what `pulumi up` runs) registers nothing.
    import pulumi

    run = ProgramRun()
    with pytest.raises(pulumi.RunError):
        run_program(config, "bad", config.get("aws:region", "us-east-1"), "aws", program_main, run)
    assert run.resources == []
    captured = capsys.readouterr()
    assert path in captured.err


@pytest.mark.parametrize("sovereign", [False, True], ids=["commercial", "sovereign"])
def test_valid_base_configs_plan_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str], sovereign: bool) -> None:
    """The base every invalid case mutates is valid and violates no mandatory policy: exit 0, so each
    case's exit 2 comes from its one mutation."""
    stack_file = write_stack(tmp_path, f"ok{int(sovereign)}", base(sovereign))
    code = main(["plan", str(stack_file)])
    assert code == 0, capsys.readouterr()
