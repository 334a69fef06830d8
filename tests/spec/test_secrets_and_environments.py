"""`secure:` values and ESC `environment:` in a stack file: the offline plan accepts both, never
decrypts or prints a secret, refuses a secret in a key the factory reads, and says which environments
it did not resolve (and that they may provide a missing key)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aifactory.cli.main import main
from aifactory.spec import ConfigError
from aifactory.spec.loading import load_stack_file
from aifactory.spec.stackfile import SecureValue, read_stack_file

ROOT = Path(__file__).resolve().parents[2]
CIPHER = "AAABAMz0c2VjcmV0LWNpcGhlcnRleHQtbmV2ZXItcHJpbnRlZA=="
DEV = (ROOT / "stacks" / "Pulumi.dev.yaml").read_text()


def _stack(tmp_path: Path, text: str, name: str = "p17") -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(text)
    return path


def _with(config_lines: str, tail: str = "") -> str:
    """The dev stack with `config_lines` first under `config:` and `tail` after it."""
    return DEV.replace("config:\n", "config:\n" + config_lines, 1) + tail


def _errors(path: Path) -> list[ConfigError]:
    with pytest.raises(ConfigError) as caught:
        load_stack_file(path)
    return [caught.value]


def test_a_secure_value_outside_the_factory_keys_is_an_opaque_placeholder(tmp_path: Path) -> None:
    path = _stack(
        tmp_path, _with(f"  aws:secretKey:\n    secure: {CIPHER}\n  other:token:\n    a: [{{secure: {CIPHER}}}]\n")
    )
    stack = read_stack_file(path)
    secret = stack.config["aws:secretKey"]
    assert isinstance(secret, SecureValue) and secret == "[secret]" and repr(secret) == "[secret]"
    assert isinstance(stack.config["other:token"]["a"][0], SecureValue)
    assert CIPHER not in repr(stack.config)
    assert load_stack_file(path)[1].region == "us-east-1"


@pytest.mark.parametrize(
    ("lines", "path"),
    [
        (f"  aifactory:profile:\n    secure: {CIPHER}\n", "aifactory:profile"),
        (f"  aws:region:\n    secure: {CIPHER}\n", "aws:region"),
        (f"  aifactory:access:\n    administrators:\n      - secure: {CIPHER}\n", "aifactory:access.administrators[0]"),
    ],
)
def test_a_secure_value_in_a_factory_key_is_a_clear_error_without_the_ciphertext(
    tmp_path: Path, lines: str, path: str
) -> None:
    # The dev stack sets the region and profile in plain text; the secret replaces that value.
    plain = {"aws:region": "  aws:region: us-east-1\n", "aifactory:profile": "  aifactory:profile: commercial\n"}
    text = _with(lines).replace(plain.get(path, "\0"), "", 1)
    (error,) = _errors(_stack(tmp_path, text))
    assert [issue.path for issue in error.issues] == [path]
    issue = error.issues[0]
    assert "secure:" in issue.problem and "must be plain text" in issue.problem
    assert "--plaintext" in issue.fix and issue.line is not None
    assert CIPHER not in str(error)


def test_a_secure_value_that_is_not_a_ciphertext_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_stack_file(_stack(tmp_path, _with("  aws:secretKey:\n    secure: [1, 2]\n")))
    assert [i.path for i in caught.value.issues] == ["aws:secretKey"]
    assert "not a ciphertext string" in caught.value.issues[0].problem


def test_the_cli_never_prints_a_ciphertext(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _with(f"  aifactory:storage:\n    capacityTiB:\n      secure: {CIPHER}\n")
    assert main(["plan", str(_stack(tmp_path, text))]) == 2
    captured = capsys.readouterr()
    assert "aifactory:storage.capacityTiB" in captured.err
    assert CIPHER not in captured.out + captured.err


@pytest.mark.parametrize(
    ("block", "names"),
    [
        ("environment:\n  - myorg/common\n  - myorg/dev\n", ("myorg/common", "myorg/dev")),
        (
            "environment:\n  imports:\n    - myorg/common\n    - myorg/dev: {merge: false}\n",
            ("myorg/common", "myorg/dev"),
        ),
    ],
)
def test_environments_are_read_in_both_forms(tmp_path: Path, block: str, names: tuple[str, ...]) -> None:
    assert read_stack_file(_stack(tmp_path, DEV + block)).environments == names


@pytest.mark.parametrize("block", ["environment: myorg/dev\n", "environment:\n  - 5\n", "environment: {values: {}}\n"])
def test_an_environment_block_of_another_shape_is_refused(tmp_path: Path, block: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_stack_file(_stack(tmp_path, DEV + block))
    (issue,) = caught.value.issues
    assert issue.path == "environment" and issue.line is not None and "environment names" in issue.problem


def test_plan_reports_the_environments_it_did_not_resolve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _stack(tmp_path, DEV + "environment:\n  - myorg/dev\n")
    assert main(["plan", str(path), "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    unresolved = [w for w in warnings if w["path"] == "environment"]
    assert len(unresolved) == 1
    assert unresolved[0]["severity"] == "warning"
    assert unresolved[0]["problem"] == "ESC environment(s) not resolved offline: myorg/dev"
    assert main(["plan", str(path)]) == 0
    assert "not resolved offline: myorg/dev" in capsys.readouterr().out


def test_a_stack_without_environments_gets_no_such_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "dev", "--json"]) == 0
    assert all(w["path"] != "environment" for w in json.loads(capsys.readouterr().out)["warnings"])


def test_a_missing_key_says_the_environment_may_provide_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = DEV.replace("  aifactory:profile: commercial\n", "").replace("  aws:region: us-east-1\n", "")
    assert main(["plan", str(_stack(tmp_path, text + "environment:\n  - myorg/dev\n")), "--json"]) == 2
    issues = {i["path"]: i for i in json.loads(capsys.readouterr().out)["errors"]}
    for key in ("aifactory:profile", "aws:region"):
        assert "myorg/dev may provide it" in issues[key]["fix"], key
    assert issues["environment"]["severity"] == "warning"
    # Without an environment the same error does not mention one.
    assert main(["plan", str(_stack(tmp_path, text, "plain")), "--json"]) == 2
    assert "environment" not in capsys.readouterr().out
