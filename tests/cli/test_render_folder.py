"""`aifactory render STACK DIR` changes DIR only when every file rendered, removes what its previous
render wrote and this one does not, and never removes (or silently overwrites) a file it did not write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aifactory.cli import render
from aifactory.cli.main import main
from aifactory.cli.render import MANIFEST


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def manifest(folder: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads((folder / MANIFEST).read_text())
    return document


def test_a_new_folder_gets_every_file_and_a_manifest_of_them(tmp_path: Path) -> None:
    out = tmp_path / "new" / "rendered"
    assert main(["render", "dev", str(out)]) == 0
    recorded = manifest(out)
    assert recorded["stack"] == "dev"
    files = recorded["files"]
    assert isinstance(files, dict)
    assert set(files) == set(tree(out)) - {MANIFEST}
    assert "plan.json" in files and any(name.startswith("bootstrap/") for name in files)
    # Only the folder itself: the staging directory beside it is gone.
    assert [p.name for p in out.parent.iterdir()] == ["rendered"]


def test_another_stack_removes_the_stale_files_and_keeps_the_user_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rendered"
    assert main(["render", "dev", str(out)]) == 0
    dev_files = set(tree(out))
    (out / "notes.md").write_text("my review notes\n")
    (out / "bootstrap" / "mine.sh").write_text("echo mine\n")
    capsys.readouterr()
    assert main(["render", "slurm-aws", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    after = set(tree(out))
    stale = {name for name in dev_files if name.startswith("bootstrap/dev-")}
    assert stale and not stale & after
    assert all(f"removed {out / name}" in printed for name in stale)
    assert (out / "notes.md").read_text() == "my review notes\n"
    assert (out / "bootstrap" / "mine.sh").read_text() == "echo mine\n"
    assert "slurm/slurm.conf" in after
    files = manifest(out)["files"]
    assert isinstance(files, dict)
    assert manifest(out)["stack"] == "slurm-aws"
    assert set(files) == after - {MANIFEST, "notes.md", "bootstrap/mine.sh"}


def test_empty_directories_of_removed_files_go_too(tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    assert main(["render", "slurm-aws", str(out)]) == 0
    assert (out / "slurm").is_dir()
    assert main(["render", "dev", str(out)]) == 0
    assert not (out / "slurm").exists()


def test_a_stale_file_changed_since_it_was_written_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rendered"
    assert main(["render", "slurm-aws", str(out)]) == 0
    (out / "slurm" / "slurm.conf").write_text("# edited by hand\n")
    capsys.readouterr()
    assert main(["render", "dev", str(out)]) == 0
    assert (out / "slurm" / "slurm.conf").read_text() == "# edited by hand\n"
    assert f"kept {out / 'slurm' / 'slurm.conf'}" in capsys.readouterr().out
    assert not (out / "slurm" / "gres.conf").exists()


def test_a_failing_renderer_leaves_the_folder_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rendered"
    assert main(["render", "dev", str(out)]) == 0
    (out / "notes.md").write_text("mine\n")
    before = tree(out)

    def broken(plan: object) -> dict[str, str]:
        raise RuntimeError("template exploded")

    monkeypatch.setattr(render, "slurm_files", broken)
    capsys.readouterr()
    assert main(["render", "slurm-aws", str(out)]) == 1
    err = capsys.readouterr().err
    assert "render of stack slurm-aws failed (RuntimeError: template exploded)" in err
    assert f"{out} was left as it was" in err
    assert "Traceback" not in err
    assert tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["rendered"]


def test_a_failing_first_render_creates_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(result: object) -> dict[str, str]:
        raise OSError("disk full")

    monkeypatch.setattr(render, "user_data_files", broken)
    assert main(["render", "dev", str(tmp_path / "rendered")]) == 1
    assert "OSError: disk full" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_someone_else_s_files_is_refused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "docs"
    out.mkdir()
    (out / "plan.json").write_text("{}")
    (out / "index.md").write_text("mine\n")
    assert main(["render", "dev", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out} is not empty and has no {MANIFEST}" in err and "--force" in err
    assert tree(out) == {"index.md": b"mine\n", "plan.json": b"{}"}
    assert main(["render", "dev", str(out), "--force"]) == 0
    assert (out / "index.md").read_text() == "mine\n"
    assert (out / "plan.json").read_text() != "{}"
    assert "plan.json" in manifest(out)["files"]  # type: ignore[operator]


def test_a_user_file_where_render_writes_one_is_refused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rendered"
    assert main(["render", "dev", str(out)]) == 0
    (out / "slurm").mkdir()
    (out / "slurm" / "slurm.conf").write_text("# mine\n")
    before = tree(out)
    capsys.readouterr()
    assert main(["render", "slurm-aws", str(out)]) == 2
    assert "slurm/slurm.conf" in capsys.readouterr().err
    assert tree(out) == before
    assert main(["render", "slurm-aws", str(out), "--force"]) == 0
    assert (out / "slurm" / "slurm.conf").read_text() != "# mine\n"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps({"tool": "something else", "files": {}}),
        json.dumps({"tool": "aifactory render", "files": {"../outside.txt": "0" * 64}}),
        json.dumps({"tool": "aifactory render", "files": {"/etc/passwd": "0" * 64}}),
        json.dumps({"tool": "aifactory render", "files": ["plan.json"]}),
    ],
)
def test_a_manifest_aifactory_did_not_write_deletes_nothing(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    out = tmp_path / "rendered"
    out.mkdir()
    (out / MANIFEST).write_text(text)
    assert main(["render", "dev", str(out)]) == 2
    assert "is not a manifest aifactory wrote" in capsys.readouterr().err
    assert main(["render", "dev", str(out), "--force"]) == 0
    assert outside.read_text() == "keep me\n"


def test_a_file_is_not_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "rendered"
    target.write_text("x")
    assert main(["render", "dev", str(target)]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert target.read_text() == "x"


def test_the_folder_is_named_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "dev"]) == 2
    assert main(["render", "dev", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 2
    assert "name the directory once" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_invalid_stack_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  aws:region: us-east-1\n  aifactory:profile: nope\n")
    out = tmp_path / "rendered"
    assert main(["render", str(bad), str(out)]) == 2
    assert not out.exists()


def test_the_current_directory_is_staged_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "rendered"
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert main(["render", str(Path(__file__).parents[2] / "stacks" / "Pulumi.dev.yaml"), "."]) == 0
    assert (folder / MANIFEST).is_file() and (folder / "plan.json").is_file()
    assert not [p for p in folder.iterdir() if ".render-" in p.name]
    assert [p.name for p in tmp_path.iterdir()] == ["rendered"]


def test_a_symlinked_folder_is_staged_beside_its_target(tmp_path: Path) -> None:
    real = tmp_path / "disk" / "rendered"
    real.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert main(["render", "dev", str(link)]) == 0
    assert (real / "plan.json").is_file() and link.is_symlink()
    assert [p.name for p in real.parent.iterdir()] == ["rendered"]


def test_a_move_that_fails_is_reported_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rendered"
    assert main(["render", "dev", str(out)]) == 0
    (out / "slurm" / "slurm.conf").mkdir(parents=True)  # a directory where a file goes: no rename over it
    capsys.readouterr()
    assert main(["render", "slurm-aws", str(out), "--force"]) == 1
    err = capsys.readouterr().err
    assert f"moving the rendered files into {out} failed" in err and "Traceback" not in err
    files = manifest(out)["files"]
    assert isinstance(files, dict) and "slurm/gres.conf" in files  # on record for the next render
