"""`aifactory images pin`: resolves a stack's images from SSM (moto, no network, fake credentials) and
writes them into the stack file, touching nothing else; `--check` reports drift."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from aifactory.cli.images import GET_PARAMETERS_BATCH, fetch_parameters, with_pins
from aifactory.cli.main import main
from aifactory.spec import ConfigError, spec_from_config
from aifactory.spec.images import image_source, required_images
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm.models import Parameter, ssm_backends

from tests.stackfiles import base, fake_ami, write_stack

REPO = Path(__file__).resolve().parents[2]
NVIDIA_DLAMI = image_source("dlami-nvidia")
assert NVIDIA_DLAMI is not None

STACK_TEXT = """\
# A comment at the top that must survive.
config:
  aws:region: us-east-1
  aifactory:profile: commercial  # trailing comment
  aifactory:fleets:
    - {name: train, instanceType: p5.48xlarge, count: 2, availabilityZone: us-east-1a}
  aifactory:scheduler:
    kind: slurm
    partitions:
      - {name: train, fleets: [train], default: true}
"""


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A moto SSM with fake credentials: no request leaves the process."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def publish(region: str, values: Mapping[str, str]) -> None:
    """Serve public `/aws/service/...` parameters from moto, which refuses PutParameter for that reserved
    prefix and ships none of these paths: seeded the way moto seeds its own public parameters."""
    parameters = ssm_backends[DEFAULT_ACCOUNT_ID][region]._parameters
    for name, value in values.items():
        versions = parameters[name]
        versions.append(
            Parameter(
                account_id=DEFAULT_ACCOUNT_ID,
                name=name,
                value=value,
                parameter_type="String",
                description=None,
                allowed_pattern=None,
                keyid=None,
                last_modified_date=datetime.now(UTC),
                version=len(versions) + 1,
                data_type="text",
            )
        )


def _stack(tmp_path: Path, text: str = STACK_TEXT) -> Path:
    path = tmp_path / "Pulumi.pinme.yaml"
    path.write_text(text)
    return path


def _current(config: dict[str, Any], suffix: str = "") -> dict[str, str]:
    """A current value for every parameter the stack needs."""
    spec = spec_from_config(config, require_pinned_images=False)
    return {
        n.source.parameter: (fake_ami(n.key + suffix) if n.source.kind == "ami" else f"1.35.0-2026011{len(suffix)}")
        for n in required_images(spec)
    }


def test_unpinned_stack_fails_planning_naming_key_parameter_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = _stack(tmp_path)
    assert main(["plan", str(stack)]) == 2
    err = capsys.readouterr().err
    assert "aifactory:images.dlami-nvidia" in err
    assert NVIDIA_DLAMI.parameter in err
    assert "aifactory:images.slurm-head" in err
    assert "aifactory images pin" in err


def test_pin_writes_the_current_ids_and_keeps_every_other_line(
    ssm: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = _stack(tmp_path)
    config = yaml.safe_load(STACK_TEXT)["config"]
    current = _current(config)
    publish("us-east-1", current)

    assert main(["images", "pin", str(stack)]) == 0
    text = stack.read_text()
    assert text.startswith(STACK_TEXT)  # every line of the old file, in place, comments included
    pinned = yaml.safe_load(text)["config"]
    assert pinned["aifactory:images"] == {
        "dlami-nvidia": current[NVIDIA_DLAMI.parameter],
        "slurm-head": fake_ami("slurm-head"),
    }
    assert {k: v for k, v in pinned.items() if k != "aifactory:images"} == config
    # The pinned stack plans, and a second pin changes nothing.
    assert main(["plan", str(stack)]) == 0
    capsys.readouterr()
    assert main(["images", "pin", str(stack)]) == 0
    assert stack.read_text() == text
    assert "every image is current" in capsys.readouterr().out


def test_pin_updates_drifted_keys_in_place_and_keeps_unused_ones(ssm: None, tmp_path: Path) -> None:
    old = STACK_TEXT + (
        "  aifactory:images:\n"
        "    # pinned last month\n"
        "    dlami-nvidia: ami-0000000000000000a  # the old one\n"
        "    eks-1.34-nvidia: ami-0000000000000000b\n"
        "\n"
        "# trailing comment\n"
    )
    stack = _stack(tmp_path, old)
    current = _current(yaml.safe_load(STACK_TEXT)["config"])
    publish("us-east-1", current)

    assert main(["images", "pin", str(stack)]) == 0
    text = stack.read_text()
    assert "    # pinned last month\n" in text
    assert f"    dlami-nvidia: {current[NVIDIA_DLAMI.parameter]}  # the old one\n" in text
    assert "    eks-1.34-nvidia: ami-0000000000000000b\n" in text  # not this stack's, left alone
    assert text.endswith("\n# trailing comment\n")
    images = yaml.safe_load(text)["config"]["aifactory:images"]
    assert images["slurm-head"] == fake_ami("slurm-head")
    assert images["dlami-nvidia"] == current[NVIDIA_DLAMI.parameter]


def test_check_reports_drift_and_writes_nothing(ssm: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = _stack(tmp_path)
    config = yaml.safe_load(STACK_TEXT)["config"]
    publish("us-east-1", _current(config))
    assert main(["images", "pin", str(stack)]) == 0
    pinned = stack.read_text()
    capsys.readouterr()

    assert main(["images", "pin", str(stack), "--check"]) == 0
    assert "0 of 2 image(s) differ" in capsys.readouterr().out

    new = _current(config, suffix="-next")  # a new DLAMI and head image are published
    publish("us-east-1", new)
    assert main(["images", "pin", str(stack), "--check"]) == 1
    out = capsys.readouterr().out
    assert f"pinned {fake_ami('dlami-nvidia')}, current {new[NVIDIA_DLAMI.parameter]}" in out
    assert "2 of 2 image(s) differ" in out
    assert stack.read_text() == pinned


def test_missing_parameter_is_reported_and_nothing_is_written(
    ssm: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = _stack(tmp_path)
    current = _current(yaml.safe_load(STACK_TEXT)["config"])
    del current[NVIDIA_DLAMI.parameter]  # not published in this region
    publish("us-east-1", current)

    assert main(["images", "pin", str(stack)]) == 2
    err = capsys.readouterr().err
    assert (
        f"aifactory:images.dlami-nvidia: the SSM parameter {NVIDIA_DLAMI.parameter} does not exist in us-east-1" in err
    )
    assert stack.read_text() == STACK_TEXT


def test_a_parameter_value_that_is_not_an_image_is_refused(
    ssm: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = _stack(tmp_path)
    current = _current(yaml.safe_load(STACK_TEXT)["config"])
    current[NVIDIA_DLAMI.parameter] = "ami-XYZ\nconfig: injected"
    publish("us-east-1", current)

    assert main(["images", "pin", str(stack)]) == 2
    assert "is not an AMI id" in capsys.readouterr().err
    assert stack.read_text() == STACK_TEXT


def test_images_are_read_in_the_stacks_region(ssm: None, tmp_path: Path) -> None:
    config = base(sovereign=True)
    del config["aifactory:images"]
    stack = write_stack(tmp_path, "eu", config)
    current = _current(config)
    publish("us-east-1", {p: fake_ami("wrong-region") for p in current})
    publish("eu-north-1", current)

    assert main(["images", "pin", str(stack)]) == 0
    images = yaml.safe_load(stack.read_text())["config"]["aifactory:images"]
    assert set(images.values()) == set(current.values())


def test_lookups_are_batched_within_the_api_limit(ssm: None) -> None:
    names = [f"/aws/service/test/p{i}" for i in range(23)]
    publish("us-east-1", {n: fake_ami(n) for n in names[:20]})
    calls: list[int] = []
    client = boto3.client("ssm", region_name="us-east-1")

    class Counting:
        def get_parameters(self, *, Names: list[str]) -> Mapping[str, Any]:
            calls.append(len(Names))
            return client.get_parameters(Names=Names)

    values, invalid = fetch_parameters(Counting(), [*names, names[0]])
    assert calls == [10, 10, 3] and max(calls) <= GET_PARAMETERS_BATCH
    assert values == {n: fake_ami(n) for n in names[:20]}
    assert sorted(invalid) == sorted(names[20:])


def test_every_needed_key_names_its_parameter_once() -> None:
    config = copy.deepcopy(base())
    config["aifactory:scheduler"] = {"kind": "kubernetes", "version": "1.35"}
    config["aifactory:fleets"].append(
        {"name": "trn", "instanceType": "trn1.32xlarge", "count": 2, "availabilityZone": "us-east-1b"}
    )
    needs = {n.key: n.source.parameter for n in required_images(spec_from_config(config))}
    assert needs == {
        "eks-1.35-nvidia": "/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/nvidia/recommended/image_id",
        "eks-1.35-neuron": "/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/neuron/recommended/image_id",
        "eks-1.35-system-release": (
            "/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/release_version"
        ),
    }


def test_a_flow_style_block_is_rewritten_whole_and_checked() -> None:
    text = STACK_TEXT + "  aifactory:images: {dlami-nvidia: ami-0000000000000000a}\n"
    updated = with_pins(text, {"dlami-nvidia": "ami-0123456789abcdef0", "slurm-head": "ami-0123456789abcdef1"})
    assert yaml.safe_load(updated)["config"]["aifactory:images"] == {
        "dlami-nvidia": "ami-0123456789abcdef0",
        "slurm-head": "ami-0123456789abcdef1",
    }
    assert updated.startswith(STACK_TEXT)


def test_unknown_or_malformed_pins_are_config_errors() -> None:
    config = base()
    config["aifactory:images"] = {**config["aifactory:images"], "dlami-nvidai": "ami-0123456789abcdef0"}
    with pytest.raises(ConfigError) as bad_key:
        spec_from_config(config)
    (issue,) = bad_key.value.issues
    assert issue.path == "aifactory:images.dlami-nvidai"
    assert "did you mean 'dlami-nvidia'" in issue.fix

    for value in ("ami-123", "ami-0123456789ABCDEF0", "ami-0123456789abcdef", "img-0123456789abcdef0"):
        config = base()
        config["aifactory:images"] = {**config["aifactory:images"], "dlami-nvidia": value}
        with pytest.raises(ConfigError) as bad_value:
            spec_from_config(config)
        (issue,) = bad_value.value.issues
        assert issue.path == "aifactory:images.dlami-nvidia", value
        assert "is not an AMI id" in issue.problem
        assert "aifactory images pin" in issue.fix

    config = base()
    config["aifactory:images"] = {**config["aifactory:images"], "eks-1.35-system-release": "ami-0123456789abcdef0"}
    with pytest.raises(ConfigError) as bad_release:
        spec_from_config(config)
    assert bad_release.value.issues[0].path == "aifactory:images.eks-1.35-system-release"


def test_a_fleets_own_ami_needs_no_pin() -> None:
    config = base()
    del config["aifactory:images"]
    for fleet in config["aifactory:fleets"]:
        fleet["amiId"] = "ami-0123456789abcdef0"
    assert spec_from_config(config).images == {}


def test_example_stacks_carry_a_pin_for_every_image_they_boot() -> None:
    for path in sorted((REPO / "stacks").glob("Pulumi.*.yaml")):
        text = path.read_text()
        spec = spec_from_config(yaml.safe_load(text)["config"])
        assert {n.key for n in required_images(spec)} <= set(spec.images), path
        assert f"aifactory images pin {path.name.removeprefix('Pulumi.').removesuffix('.yaml')}" in text, path


@pytest.mark.parametrize("value", ["ami-0123456789abcde", "ami-0123456789", "ami-0123456789abcdef0"])
def test_a_fleets_own_ami_has_8_or_17_hex_digits(value: str) -> None:
    config = base()
    config["aifactory:fleets"][0]["amiId"] = value
    if len(value) == len("ami-0123456789abcdef0"):
        assert spec_from_config(config).fleets[0].ami_id == value
        return
    with pytest.raises(ConfigError) as error:
        spec_from_config(config)
    assert [i.path for i in error.value.issues] == ["aifactory:fleets[0].amiId"]


def test_pin_records_the_stacks_built_image_from_its_pipeline_parameter(ssm: None, tmp_path: Path) -> None:
    """With `nodeImages.boot` the fleets' image is the stack's own build: `pin` reads the parameter the
    pipeline's distribution wrote (a private one, not under /aws/service) like any other."""
    text = (
        STACK_TEXT.replace("kind: slurm", 'kind: slurm\n    version: "25.11"')
        + "  aifactory:nodeImages: {build: true, boot: true}\n"
    )
    stack = _stack(tmp_path, text)
    config = yaml.safe_load(text)["config"]
    current = _current(config)
    built = image_source("node-slurm-nvidia")
    head = image_source("node-slurm-head")
    assert built is not None and built.parameter in current and NVIDIA_DLAMI.parameter not in current
    assert head is not None and head.parameter in current
    for source in (built, head):
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name=source.parameter, Value=current.pop(source.parameter), Type="String", DataType="aws:ec2:image"
        )
    publish("us-east-1", current)

    assert main(["images", "pin", str(stack)]) == 0
    pinned = yaml.safe_load(stack.read_text())["config"]["aifactory:images"]
    # The head boots its own build; Ubuntu's image stays pinned as the pipelines' parent.
    assert pinned == {
        "node-slurm-nvidia": fake_ami("node-slurm-nvidia"),
        "node-slurm-head": fake_ami("node-slurm-head"),
        "slurm-head": fake_ami("slurm-head"),
    }
    assert main(["plan", str(stack)]) == 0


def test_pin_of_a_build_that_never_ran_writes_nothing(
    ssm: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        STACK_TEXT.replace("kind: slurm", 'kind: slurm\n    version: "25.11"')
        + "  aifactory:nodeImages: {build: true, boot: true}\n"
    )
    stack = _stack(tmp_path, text)
    current = _current(yaml.safe_load(text)["config"])
    built = image_source("node-slurm-nvidia")
    assert built is not None
    publish("us-east-1", {k: v for k, v in current.items() if k != built.parameter})
    assert main(["images", "pin", str(stack)]) != 0
    assert stack.read_text() == text
    assert built.parameter in capsys.readouterr().err
