"""The stack-file loader: every hostile file is one `ConfigError` with its file, line and config path,
found in one bounded pass; ordinary YAML (timestamps, anchors, merge keys, explicit nulls) loads."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from aifactory.spec import ConfigError, ConfigIssue
from aifactory.spec.loading import load_stack_file, read_stack_config
from aifactory.spec.stackfile import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, parse, read_stack_file

from tests.stackfiles import base, write_stack

_BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
        "config:",
        "  aws:region: *i",
    ]
)

# (id, file text, config path of the first issue, line, column, words the problem must contain)
REFUSED: list[tuple[str, str, str, int | None, int | None, str]] = [
    (
        "duplicate-top-level-key",
        "config:\n  aifactory:profile: sovereign\n  aws:region: eu-north-1\n  aifactory:profile: commercial\n",
        "aifactory:profile",
        4,
        3,
        "twice (first at line 2)",
    ),
    (
        "duplicate-nested-key",
        "config:\n  aifactory:fleets:\n    - name: a\n      count: 2\n      count: 3\n",
        "aifactory:fleets[0].count",
        5,
        7,
        "twice",
    ),
    (
        "duplicate-flow-key",
        "config:\n  aifactory:network: {cidr: 10.0.0.0/16, cidr: 10.1.0.0/16}\n",
        "aifactory:network.cidr",
        2,
        42,
        "twice",
    ),
    ("duplicate-document-key", "config: {}\nconfig: {}\n", "F", 2, 1, "twice"),
    ("quoted-duplicate", "config:\n  aws:region: a\n  'aws:region': b\n", "aws:region", 3, 3, "twice"),
    ("integer-key", "config:\n  aifactory:fleets:\n    - 1: x\n", "aifactory:fleets[0]", 3, 7, "reads as a number"),
    ("boolean-key", "config:\n  yes: x\n", "F", 2, 3, "reads as a boolean"),
    ("null-key", "config:\n  ~: x\n", "F", 2, 3, "reads as null"),
    ("mapping-key", "config:\n  ? {a: 1}\n  : x\n", "F", 2, 5, "list or mapping"),
    ("custom-tag", "config:\n  aws:region: !Ref Region\n", "aws:region", 2, 15, "`!Ref`"),
    (
        "python-tag",
        "config:\n  aifactory:profile: !!python/object/apply:os.system [id]\n",
        "aifactory:profile",
        2,
        22,
        "python",
    ),
    ("binary-tag", "config:\n  aifactory:profile: !!binary aGVsbG8=\n", "aifactory:profile", 2, 22, "`!!binary`"),
    ("set-tag", "config:\n  aifactory:fleets: !!set {a, b}\n", "aifactory:fleets", 2, 21, "`!!set`"),
    ("syntax", "config:\n  aifactory:fleets: [\n", "F", 3, 1, "not valid YAML"),
    ("tab-indent", "config:\n\taws:region: x\n", "F", 2, 1, "not valid YAML"),
    ("control-character", 'config:\n  aws:region: "\x01"\n', "F", 2, None, "control character"),
    ("deep-flow", "config: " + "[" * 5000 + "]" * 5000 + "\n", "F", 1, None, f"more than {MAX_DEPTH} levels"),
    (
        "deep-block",
        "config:\n" + "".join("  " * i + "a:\n" for i in range(1, 200)),
        "F",
        64,
        None,
        f"more than {MAX_DEPTH} levels",
    ),
    (
        "deep-through-aliases",
        "".join(f"a{i}: &a{i} [*a{i - 1}]\n" if i else "a0: &a0 [x]\n" for i in range(80)) + "config: {}\n",
        "F",
        62,
        None,
        "through aliases",
    ),
    ("alias-bomb", _BOMB, "F", 1, 1, f"more than the {MAX_NODES:,}"),
    ("recursive-alias", "config: &x\n  a: *x\n", "F", 1, 9, "refers to its own node"),
    ("merge-of-scalar", "config:\n  m:\n    <<: 5\n", "F", 3, 9, "for merging"),
    ("empty", "", "F", None, None, "is empty"),
    ("comments-only", "# nothing\n", "F", None, None, "is empty"),
    ("list-document", "- a\n- b\n", "F", 1, None, "holds a list"),
    ("scalar-document", "hello\n", "F", 1, None, "holds a string"),
    ("no-config", "encryptionsalt: x\n", "F", None, None, "no `config:` mapping"),
    ("config-not-mapping", "config: [a]\n", "F", 1, 9, "holding a list"),
]


@pytest.mark.parametrize(
    ("text", "path", "line", "column", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused_with_file_line_and_path(
    tmp_path: Path, text: str, path: str, line: int | None, column: int | None, words: str
) -> None:
    file = tmp_path / "Pulumi.bad.yaml"
    file.write_text(text)
    started = time.monotonic()
    with pytest.raises(ConfigError) as raised:
        read_stack_file(file)
    assert time.monotonic() - started < 2, "a hostile file must be refused fast"
    issue = raised.value.issues[0]
    assert issue.file == str(file)
    assert issue.path == (str(file) if path == "F" else path)
    assert (issue.line, issue.column if column is not None else None) == (line, column)
    assert words in issue.problem
    assert issue.fix
    assert "\n" not in str(issue)


def test_every_problem_in_one_round(tmp_path: Path) -> None:
    file = tmp_path / "Pulumi.bad.yaml"
    file.write_text("config:\n  aws:region: !Ref R\n  1: x\n  aifactory:profile: a\n  aifactory:profile: b\n")
    with pytest.raises(ConfigError) as raised:
        read_stack_file(file)
    assert [(i.path, i.line) for i in raised.value.issues] == [
        ("aws:region", 2),
        (str(file), 3),
        ("aifactory:profile", 5),
    ]


@pytest.mark.parametrize(
    ("data", "words", "line"),
    [
        (b"config:\n  aws:region: \xff\xfe\n", "is not UTF-8 (byte 0xff at offset 22)", 2),
        (b"\xff\xfeconfig:\n", "is not UTF-8", 1),
        (b"config:\n" + b"#" * (MAX_FILE_BYTES + 1), "larger than 256 KiB", None),
    ],
    ids=["latin-1-value", "utf-16-bom", "too-large"],
)
def test_refused_bytes(tmp_path: Path, data: bytes, words: str, line: int | None) -> None:
    file = tmp_path / "Pulumi.bad.yaml"
    file.write_bytes(data)
    with pytest.raises(ConfigError) as raised:
        read_stack_file(file)
    (issue,) = raised.value.issues
    assert words in issue.problem and issue.line == line and issue.file == str(file)


def test_directory_and_missing_file(tmp_path: Path) -> None:
    for path, words in ((tmp_path, "is a directory"), (tmp_path / "Pulumi.none.yaml", "cannot be read")):
        with pytest.raises(ConfigError) as raised:
            read_stack_file(path)
        assert words in raised.value.issues[0].problem


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod 000 stops reads except for root (the tests may run as root), so the refusal is simulated
    there by making `open` raise what the kernel returns, EACCES."""
    file = tmp_path / "Pulumi.locked.yaml"
    file.write_text("config: {}\n")
    file.chmod(0)
    if os.geteuid() == 0:

        def refuse(self: Path, *args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ConfigError) as raised:
        read_stack_file(file)
    (issue,) = raised.value.issues
    assert issue.problem == "cannot be read (Permission denied)" and issue.path == str(file)


ACCEPTED: list[tuple[str, str, dict[str, object]]] = [
    # An unquoted ISO timestamp is a YAML 1.1 !!timestamp; it keeps its text for the model to parse.
    ("timestamp", "config:\n  t: 2026-12-15T11:30:00Z\n", {"t": "2026-12-15T11:30:00Z"}),
    ("date", "config:\n  t: 2026-12-15\n", {"t": "2026-12-15"}),
    ("value-key-type", "config:\n  e: =\n", {"e": "="}),
    ("explicit-null", "config:\n  aifactory:scheduler: null\n  s: ~\n", {"aifactory:scheduler": None, "s": None}),
    (
        "standard-tags",
        "config:\n  a: !!str 10\n  b: !!int '7'\n  c: !!float 1\n  d: !!bool true\n",
        {"a": "10", "b": 7, "c": 1.0, "d": True},
    ),
    (
        "anchors-and-merge",
        "config:\n  a: &b {x: 1, y: 2}\n  c:\n    <<: *b\n    y: 3\n",
        {"a": {"x": 1, "y": 2}, "c": {"x": 1, "y": 3}},
    ),
    (
        "same-key-in-two-list-items",
        "config:\n  f:\n    - name: a\n    - name: b\n",
        {"f": [{"name": "a"}, {"name": "b"}]},
    ),
    ("special-floats", "config:\n  n: .nan\n", {}),
    ("bom", "\ufeffconfig:\n  a: b\n", {"a": "b"}),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted(tmp_path: Path, text: str, expected: dict[str, object]) -> None:
    file = tmp_path / "Pulumi.ok.yaml"
    file.write_text(text, encoding="utf-8")
    config = read_stack_config(file)
    for key, value in expected.items():
        assert config[key] == value
    if not expected:
        assert config["n"] != config["n"]  # NaN passes through for the model to refuse


def test_nesting_up_to_the_limit_loads() -> None:
    depth = MAX_DEPTH - 2  # the document and `config:` mappings are two levels
    document, _ = parse("config:\n  a: " + "[" * depth + "]" * depth + "\n")
    value = document["config"]["a"]
    for _ in range(depth - 1):
        (value,) = value
    assert value == []


def test_locations_name_config_paths() -> None:
    _, locations = parse("config:\n  aifactory:fleets:\n    - name: a\n      count: 2\n")
    assert (locations["aifactory:fleets[0].count"].line, locations["aifactory:fleets[0].count"].column) == (4, 14)
    assert locations["aifactory:fleets"].line == 3


def test_model_issues_are_placed_at_their_line(tmp_path: Path) -> None:
    config = base()
    config["aifactory:fleets"][0]["count"] = -1
    path = write_stack(tmp_path, "bad", config)
    with pytest.raises(ConfigError) as raised:
        load_stack_file(path)
    issue = next(i for i in raised.value.issues if i.path == "aifactory:fleets[0].count")
    lines = path.read_text().splitlines()
    assert issue.file == str(path) and issue.line is not None
    assert lines[issue.line - 1].strip().startswith("count:")
    assert str(issue).endswith(f"(at {path}:{issue.line}:{issue.column})")


def test_issue_text_keeps_its_format() -> None:
    issue = ConfigIssue("aifactory:profile", "is wrong", "fix it")
    assert str(issue) == "aifactory:profile: is wrong. Fix: fix it"
    assert str(issue.at("Pulumi.a.yaml", 3, 5)) == "aifactory:profile: is wrong. Fix: fix it (at Pulumi.a.yaml:3:5)"
    assert issue.at("f").as_json() == {
        "path": "aifactory:profile",
        "problem": "is wrong",
        "fix": "fix it",
        "severity": "error",
        "file": "f",
        "line": None,
        "column": None,
    }
