"""`aifactory --version`, help on every argument and the generated shell completion."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from aifactory.cli.completion import command_tree, completion_script
from aifactory.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _parsers(parser: argparse.ArgumentParser, path: str = "aifactory"):  # type: ignore[no-untyped-def]
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                assert helps.get(name), f"subcommand `{path} {name}` has no help"
                yield from _parsers(sub, f"{path} {name}")


def test_every_argument_and_subcommand_has_help() -> None:
    missing = [
        f"{path}: {action.dest}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not (action.help or "").strip()
    ]
    assert missing == []


def test_the_help_walk_finds_an_argument_without_help() -> None:
    parser = build_parser()
    parser.add_argument("--undocumented")
    assert any(a.dest == "undocumented" and not a.help for _, p in _parsers(parser) for a in p._actions)


def test_version_is_the_pyproject_version(capsys: pytest.CaptureFixture[str]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"aifactory {version}"


def _bash_complete(script: Path, words: list[str], cwd: Path) -> list[str]:
    """COMPREPLY of the completion function for `words` (the last one being completed)."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    program = (
        f"source {script}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; COMPREPLY=()\n"
        "_aifactory\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    done = subprocess.run(["bash", "-c", program], cwd=cwd, capture_output=True, text=True, check=True)
    assert done.stderr == ""
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture
def bash_script(tmp_path: Path) -> Path:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    script = tmp_path / "aifactory.bash"
    script.write_text(completion_script(build_parser(), "bash"))
    return script


def test_bash_script_is_valid_bash(bash_script: Path) -> None:
    subprocess.run(["bash", "-n", str(bash_script)], check=True)


def test_bash_completes_subcommands_options_and_stack_names(bash_script: Path) -> None:
    stacks = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (ROOT / "stacks").glob("Pulumi.*"))
    assert len(stacks) >= 4
    assert "plan" in _bash_complete(bash_script, ["aifactory", ""], ROOT)
    assert set(stacks) <= set(_bash_complete(bash_script, ["aifactory", "plan", ""], ROOT))
    assert _bash_complete(bash_script, ["aifactory", "images", ""], ROOT) == ["pin"]
    # `images pin` takes the stack after the nested subcommand, and `--stacks-dir` moves the lookup.
    assert _bash_complete(bash_script, ["aifactory", "images", "pin", "de"], ROOT) == ["dev"]
    elsewhere = ROOT / "tests"
    assert _bash_complete(
        bash_script, ["aifactory", "render", "--stacks-dir", str(ROOT / "stacks"), "sovereign-e"], elsewhere
    ) == ["sovereign-eu"]
    assert "--stacks-dir" in _bash_complete(bash_script, ["aifactory", "plan", "--"], ROOT)
    assert _bash_complete(bash_script, ["aifactory", "completion", ""], ROOT) == ["bash", "zsh", "fish"]
    # One stack argument: nothing more to complete after it.
    assert _bash_complete(bash_script, ["aifactory", "plan", "dev", ""], ROOT) == []


def test_a_new_argument_completes_without_editing_the_script(bash_script: Path, tmp_path: Path) -> None:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.choices["plan"].add_argument("--brand-new", action="store_true", help="new")
    script = tmp_path / "new.bash"
    script.write_text(completion_script(parser, "bash"))
    assert "--brand-new" in _bash_complete(script, ["aifactory", "plan", "--b"], ROOT)
    assert "--brand-new" not in _bash_complete(bash_script, ["aifactory", "plan", "--b"], ROOT)


def test_zsh_and_fish_scripts_cover_every_subcommand() -> None:
    parser = build_parser()
    names = {name for node in command_tree(parser) for name in node.subcommands}
    zsh = completion_script(parser, "zsh")
    assert zsh.startswith("#compdef aifactory\n") and "bashcompinit" in zsh and "complete -o filenames -F" in zsh
    fish = completion_script(parser, "fish")
    for name in names:
        assert f"-a {name} " in fish
    assert "-l stacks-dir" in fish and "__aifactory_stacks" in fish
    if shutil.which("fish"):
        subprocess.run(["fish", "--no-execute", "-c", fish], check=True)


def test_completion_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    assert capsys.readouterr().out == completion_script(build_parser(), "bash")
