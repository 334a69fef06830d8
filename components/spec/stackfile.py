"""Read a `Pulumi.<stack>.yaml` file safely: one bounded pass, every problem with its file, line and
config path, as a `ConfigError`.

`yaml.safe_load` accepts what a stack file must not: a second `aifactory:profile` silently wins over
the first, a key `1:` or `yes:` becomes a number or a boolean, `!!binary` yields bytes, thousands of
nested brackets exhaust the recursion limit and a few lines of aliases ("billion laughs") expand to
billions of nodes. This loader composes the YAML node graph first (refusing nesting deeper than
`MAX_DEPTH` while it does), then checks the graph once (tags, keys, duplicates, expanded size and
depth through aliases) and only then builds Python values.

Limits (documented in the README, CLI section):
- `MAX_FILE_BYTES`: the file is read up to this size and refused above it.
- `MAX_DEPTH`: collections nested deeper than this (counting through aliases) are refused.
- `MAX_NODES`: the document may expand (aliases counted at every use) to at most this many nodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError, ConfigIssue

MAX_FILE_BYTES = 256 * 1024
"""A stack file is a few kilobytes; 256 KiB leaves room for very large factories and keeps a parse fast."""
MAX_DEPTH = 64
"""The deepest stack key is about six levels down (`aifactory:site.racks[0].cooling...`)."""
MAX_NODES = 100_000
"""Expanded nodes (aliases counted at every use): bounds what an alias bomb can make the model read."""

_CORE = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null"))
SEQ, MAP, MERGE, TIMESTAMP, VALUE = (f"{_CORE}{t}" for t in ("seq", "map", "merge", "timestamp", "value"))
ALLOWED_TAGS = frozenset({STR, INT, FLOAT, BOOL, NULL, SEQ, MAP, MERGE, TIMESTAMP, VALUE})
"""The YAML 1.1 core types a Pulumi config value can carry (Pulumi config values are strings or
JSON-shaped structures, "Configuration" in the Pulumi docs). `!!timestamp` keeps its text (the model
parses it); `!!binary`, `!!set`, `!!omap` and `!!pairs` have no JSON form and every other tag (`!Ref`,
`!!python/object`, ...) is not YAML core at all."""

_KEY_KIND = {INT: "a number", FLOAT: "a number", BOOL: "a boolean", NULL: "null", TIMESTAMP: "a timestamp"}


@dataclass(frozen=True)
class Location:
    line: int
    """1-based."""
    column: int
    """1-based."""


class SecureValue(str):
    """A `secure:` config value as the offline plan sees it: an opaque placeholder.

    Pulumi writes a secret config value as `key: {secure: <ciphertext>}` and decrypts it with the
    stack's secrets provider only under `pulumi up`/`preview` (Pulumi docs, "Secrets" and "Stack
    settings file reference"). `aifactory plan` has no secrets provider and never decrypts: the
    ciphertext is dropped when the file is read and the value is this placeholder, whose text (what
    the mock engine passes on, what a message could show) is `[secret]`.
    """

    TEXT = "[secret]"

    def __new__(cls) -> SecureValue:
        return super().__new__(cls, cls.TEXT)

    def __repr__(self) -> str:
        return self.TEXT


ENVIRONMENT_KEY = "environment"
"""The stack settings file's ESC key (Pulumi docs, "Stack settings file reference": `environment`, an
environment definition or a list of environments; "Use Pulumi ESC with Pulumi IaC": the list form,
merged in order). The definition form imports them under `imports:` (ESC "Import environments")."""

MISSING_PROBLEMS = frozenset({"is required but missing", "no region is set"})
"""The problems of a key that is not set at all (`loading`): an ESC environment may be what sets it."""


@dataclass
class StackFile:
    """A stack file's `config:` mapping (unvalidated values) and where each config path was written."""

    path: Path
    config: dict[str, Any]
    locations: dict[str, Location] = field(default_factory=dict)
    """Config path (`aifactory:fleets[0].count`, as `ConfigIssue.path` names it) -> where its value is."""
    environments: tuple[str, ...] = ()
    """The ESC environments the file imports, in order. Resolving them needs Pulumi Cloud; the offline
    plan does not, so the values they would add are missing (and said to be, see `locate`)."""

    def environment_warning(self) -> ConfigIssue | None:
        """The warning the plan prints for the environments it did not resolve, if there are any."""
        if not self.environments:
            return None
        where = self.locations.get(ENVIRONMENT_KEY)
        issue = ConfigIssue(
            ENVIRONMENT_KEY,
            "ESC environment(s) not resolved offline: " + ", ".join(self.environments),
            "this plan uses only the values written in the stack file; `pulumi preview` resolves the "
            "environments (or set the keys the plan needs in the stack file)",
            severity="warning",
        )
        return issue.at(str(self.path), where.line, where.column) if where else issue.at(str(self.path))

    def locate(self, error: ConfigError) -> ConfigError:
        """`error` with every issue placed in this file: at its config path, or at the nearest enclosing
        path that is written (a missing key is reported where its mapping is). When the file imports
        ESC environments, a missing key's fix says they may provide it."""
        return ConfigError([self.locate_issue(self._with_environments(issue)) for issue in error.issues])

    def _with_environments(self, issue: ConfigIssue) -> ConfigIssue:
        if not self.environments or issue.problem not in MISSING_PROBLEMS:
            return issue
        names = ", ".join(self.environments)
        return replace(
            issue,
            fix=f"{issue.fix}; the ESC environment(s) {names} may provide it, but `aifactory plan` does not "
            "resolve environments offline, so set it in the stack file to plan",
        )

    def locate_issue(self, issue: ConfigIssue) -> ConfigIssue:
        if issue.file is not None:
            return issue
        for candidate in _enclosing_paths(issue.path):
            if candidate in self.locations:
                where = self.locations[candidate]
                return issue.at(str(self.path), where.line, where.column)
        return issue.at(str(self.path))


def _enclosing_paths(path: str) -> Iterator[str]:
    """`aifactory:fleets[0].capacity.type` -> itself, `aifactory:fleets[0].capacity`, `aifactory:fleets[0]`,
    `aifactory:fleets`."""
    while path:
        yield path
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return
        path = path[:cut]


def read_stack_file(path: Path) -> StackFile:
    """Read and check `path`; raises `ConfigError` (each issue with file and line) on any problem."""
    name = str(path)
    text = _read_text(path)
    document, locations = parse(text, name)
    if document is None:
        raise ConfigError([_file_issue(name, "is empty", "put the stack's keys under `config:`")])
    if not isinstance(document, dict):
        raise ConfigError(
            [
                _file_issue(
                    name, f"holds {_kind(document)}, not a mapping", "write `config:` with the stack's keys under it", 1
                )
            ]
        )
    config = document.get("config")
    where = locations.get("config")
    if not isinstance(config, dict):
        problem = (
            "has no `config:` mapping" if config is None else f"has `config:` holding {_kind(config)}, not a mapping"
        )
        issue = _file_issue(name, problem, "put the stack's keys under `config:`")
        if where is not None:
            issue = issue.at(name, where.line, where.column)
        raise ConfigError([issue])
    environments = _environments(name, document.get(ENVIRONMENT_KEY), locations.get(ENVIRONMENT_KEY))
    issues: list[ConfigIssue] = []
    config = {key: _hide_secrets(value, key, name, locations, issues) for key, value in config.items()}
    if issues:
        raise ConfigError(issues)
    return StackFile(path, config, {k: v for k, v in locations.items() if k != "config"}, environments)


def _hide_secrets(value: Any, path: str, name: str, locations: dict[str, Location], issues: list[ConfigIssue]) -> Any:
    """`value` with every `{secure: <ciphertext>}` replaced by a `SecureValue` (the ciphertext is
    dropped, never decrypted). Pulumi's config value form: an object whose one key is `secure` holds a
    string ciphertext (Pulumi docs, "Secrets": `pulumi config set --secret`, and with `--path` inside
    an object or list)."""
    if isinstance(value, dict):
        if "secure" in value and len(value) == 1:
            if isinstance(value["secure"], str) and value["secure"].strip():
                return SecureValue()
            where = locations.get(path)
            issue = ConfigIssue(
                path,
                "has a `secure:` value that is not a ciphertext string",
                "set the secret with `pulumi config set --secret`, which writes the encrypted text",
            )
            issues.append(issue.at(name, where.line, where.column) if where else issue.at(name))
            return SecureValue()
        return {k: _hide_secrets(v, f"{path}.{k}", name, locations, issues) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide_secrets(v, f"{path}[{i}]", name, locations, issues) for i, v in enumerate(value)]
    return value


def _environments(name: str, value: Any, where: Location | None) -> tuple[str, ...]:
    """The environment names of the `environment:` key: a list of names, or a definition that imports
    them (`imports:`, each a name or a one-key mapping `{name: {merge: false}}` as ESC imports allow)."""
    if value is None:
        return ()
    imports = value.get("imports") if isinstance(value, dict) else value
    names: list[str] = []
    if isinstance(imports, list):
        for item in imports:
            if isinstance(item, dict) and len(item) == 1:
                item = next(iter(item))
            if not isinstance(item, str) or not item.strip():
                names = []
                break
            names.append(item.strip())
    if not names:
        issue = ConfigIssue(
            ENVIRONMENT_KEY,
            f"holds {_kind(value)}, not a list of ESC environment names",
            "write `environment:` with one `- <project>/<environment>` line per environment",
        )
        raise ConfigError([issue.at(name, where.line, where.column) if where else issue.at(name)])
    return tuple(names)


def parse(text: str, name: str = "<stack file>") -> tuple[Any, dict[str, Location]]:
    """The document in `text` (None when it is empty) and the location of each config path under its
    `config:` key; raises `ConfigError` naming `name` and the line of every problem."""
    loader: _StackLoader | None = None
    try:
        try:
            loader = _StackLoader(text)  # its reader checks for control characters here
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise ConfigError([_yaml_issue(name, exc)]) from None
        except yaml.reader.ReaderError as exc:
            line = text.count("\n", 0, exc.position) + 1
            raise ConfigError(
                [
                    _file_issue(
                        name,
                        f"contains the control character #x{exc.character:04x}, which YAML does not allow",
                        "remove it (or write it as an escape inside a double-quoted string)",
                        line,
                    )
                ]
            ) from None
        except yaml.YAMLError as exc:  # any other parser error: still one line, no traceback
            raise ConfigError([_file_issue(name, f"is not valid YAML ({exc})", "fix the YAML syntax")]) from None
        if node is None:
            return None, {}
        checker = _Checker(name)
        checker.check(node)
        if checker.issues:
            raise ConfigError(checker.issues)
        try:
            document = loader.construct_document(node)
        except yaml.MarkedYAMLError as exc:  # e.g. `<<:` merging something that is not a mapping
            raise ConfigError([_yaml_issue(name, exc)]) from None
        return document, checker.locations
    finally:
        if loader is not None:
            loader.dispose()


def _read_text(path: Path) -> str:
    name = str(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise ConfigError([_file_issue(name, "is a directory", "name a `Pulumi.<stack>.yaml` file")]) from None
    except OSError as exc:
        raise ConfigError(
            [_file_issue(name, f"cannot be read ({exc.strerror or exc})", "check the path and its read permission")]
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            [
                _file_issue(
                    name,
                    f"is larger than {MAX_FILE_BYTES // 1024} KiB, the limit for a stack file",
                    "check that this is the stack file; stack files are a few kilobytes",
                )
            ]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            [
                _file_issue(
                    name,
                    f"is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                    "save the file as UTF-8",
                    line,
                )
            ]
        ) from None


def _file_issue(name: str, problem: str, fix: str, line: int | None = None) -> ConfigIssue:
    return ConfigIssue(name, problem, fix, file=name, line=line)


def _yaml_issue(name: str, exc: yaml.MarkedYAMLError) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    problem = " ".join(p for p in (exc.context, exc.problem) if p)
    fix = "fix the YAML syntax" + (f" at line {mark.line + 1}" if mark is not None else "")
    if isinstance(exc, _TooDeep):
        fix = f"nest at most {MAX_DEPTH} levels"
    issue = ConfigIssue(name, f"is not valid YAML: {problem or exc}", fix)
    return issue.at(name, mark.line + 1, mark.column + 1) if mark is not None else issue.at(name)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


class _TooDeep(yaml.MarkedYAMLError):
    pass


class _StackLoader(yaml.SafeLoader):
    """`SafeLoader` whose composer stops at `MAX_DEPTH` (PyYAML composes recursively, so a deeper
    document would exhaust Python's recursion limit) and whose timestamps and `=` keep their text."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(
                    None,
                    None,
                    f"collections are nested more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_as_text(self, node: ScalarNode) -> str:
        return str(self.construct_scalar(node))


# YAML 1.1 "Timestamp Language-Independent Type" (yaml.org/type/timestamp) makes an unquoted
# `2026-12-15T11:30:00Z` a timestamp, which PyYAML turns into a datetime that JSON (the engine's config
# encoding) cannot carry; the Pulumi engine hands config values to the program as strings, so the text
# is kept and the model parses it. `=` is YAML 1.1's "value" key type, which SafeLoader cannot construct.
_StackLoader.add_constructor(TIMESTAMP, _StackLoader.construct_as_text)
_StackLoader.add_constructor(VALUE, _StackLoader.construct_as_text)


class _Checker:
    """One walk over the composed graph: tags, key types, duplicate keys, expanded size and depth.

    Alias targets are measured once (memoised), so an alias bomb costs its written size to check.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.issues: list[ConfigIssue] = []
        self.locations: dict[str, Location] = {}
        self._measured: dict[int, tuple[int, int]] = {}
        self._open: set[int] = set()

    def check(self, root: Node) -> None:
        size, _ = self._walk(root, None, 1)
        if size > MAX_NODES:
            self._fatal(
                root,
                f"expands to {size:,} values through its aliases, more than the {MAX_NODES:,} a stack file may hold",
                "write the values out or use fewer nested aliases",
            )

    def _walk(self, node: Node, path: str | None, depth: int) -> tuple[int, int]:
        """(expanded size, height) of `node` at `depth`; `path` is its config path (None outside `config:`)."""
        key = id(node)
        if key in self._open:
            self._fatal(node, "has an alias that refers to its own node", "remove the recursive alias")
        measured = self._measured.get(key)
        if measured is None:
            if depth > MAX_DEPTH:
                self._too_deep(node)
            self._open.add(key)
            measured = self._measure(node, path, depth)
            self._open.discard(key)
            self._measured[key] = measured
        if depth + measured[1] - 1 > MAX_DEPTH:
            self._too_deep(node)
        return measured

    def _measure(self, node: Node, path: str | None, depth: int) -> tuple[int, int]:
        self._check_tag(node, path)
        size, height = 1, 1
        if isinstance(node, SequenceNode):
            for index, child in enumerate(node.value):
                child_path = f"{path}[{index}]" if path is not None else None
                self._place(child_path, child)
                child_size, child_height = self._walk(child, child_path, depth + 1)
                size, height = size + child_size, max(height, child_height + 1)
        elif isinstance(node, MappingNode):
            seen: dict[str, Node] = {}
            for key_node, value_node in node.value:
                name = self._key(key_node, path, seen)
                child_path = _child_path(path, depth, name)
                self._place(child_path, value_node)
                key_size, _ = self._walk(key_node, None, depth + 1)
                child_size, child_height = self._walk(value_node, child_path, depth + 1)
                size, height = size + key_size + child_size, max(height, child_height + 1)
        return size, height

    def _too_deep(self, node: Node) -> None:
        self._fatal(node, f"nests more than {MAX_DEPTH} levels deep through aliases", "use fewer nested aliases")

    def _key(self, key_node: Node, path: str | None, seen: dict[str, Node]) -> str | None:
        """The key's text, after checking it is a string and not a duplicate (YAML 1.2.2, "Nodes": the
        content of a mapping is a set of key/value pairs in which each key is unique)."""
        if key_node.tag == MERGE:
            name = "<<"
        elif key_node.tag not in ALLOWED_TAGS:
            return None  # reported by the tag check
        elif not isinstance(key_node, ScalarNode):
            self._issue(key_node, path, "has a key that is a list or mapping", "use a plain string key")
            return None
        elif key_node.tag != STR:
            kind = _KEY_KIND.get(key_node.tag, f"tagged {key_node.tag}")
            self._issue(
                key_node,
                path,
                f"has the key `{key_node.value}`, which YAML reads as {kind}",
                f"quote it: '{key_node.value}'",
            )
            return None
        else:
            name = str(key_node.value)
        first = seen.get(name)
        if first is not None:
            self._issue(
                key_node,
                _child_path(path, 0, name) if path is not None else path,
                f"sets `{name}` twice (first at line {first.start_mark.line + 1}); YAML keys must be unique",
                "keep one of them",
            )
        else:
            seen[name] = key_node
        return name

    def _check_tag(self, node: Node, path: str | None) -> None:
        if node.tag in ALLOWED_TAGS:
            return
        tag = node.tag.replace(_CORE, "!!")
        self._issue(
            node,
            path,
            f"uses the YAML tag `{tag}`, which a stack file does not support",
            "remove the tag and write a plain string, number, boolean, list or mapping",
        )

    def _place(self, path: str | None, node: Node) -> None:
        if path is not None and path not in self.locations:
            mark = node.start_mark
            self.locations[path] = Location(mark.line + 1, mark.column + 1)

    def _issue(self, node: Node, path: str | None, problem: str, fix: str) -> None:
        mark = node.start_mark
        where = self.name if path in (None, "config") else path
        self.issues.append(ConfigIssue(where, problem, fix).at(self.name, mark.line + 1, mark.column + 1))

    def _fatal(self, node: Node, problem: str, fix: str) -> None:
        mark = node.start_mark
        raise ConfigError([ConfigIssue(self.name, problem, fix).at(self.name, mark.line + 1, mark.column + 1)])


def _child_path(path: str | None, depth: int, name: str | None) -> str | None:
    """The config path of key `name` under `path`. The document's `config` key starts config paths (its
    keys are fully qualified, `aifactory:fleets`); other top-level keys are located under their own name."""
    if name is None:
        return None
    if path is None:
        return name if depth == 1 else None
    if path == "config":
        return name
    return f"{path}.{name}"
