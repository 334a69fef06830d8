"""Config errors that name the config path, say what is wrong and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

NAMESPACE = "aifactory"

Severity = Literal["error", "warning"]
"""`error` stops the plan; `warning` is a valid but suspicious value, printed with the plan."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a stack's config: where (`aifactory:fleets[1].instanceType`), what, and the fix."""

    path: str
    problem: str
    fix: str
    file: str | None = None
    """The stack file the problem is in, when it was read from one."""
    line: int | None = None
    """1-based line (and column) in `file` of the value, or of the enclosing mapping for a missing key."""
    column: int | None = None
    severity: Severity = "error"

    @property
    def is_warning(self) -> bool:
        return self.severity == "warning"

    def __str__(self) -> str:
        text = f"{self.path}: {self.problem}. Fix: {self.fix}"
        if self.is_warning:
            text = f"warning: {text}"
        if self.file is None or (self.file == self.path and self.line is None):
            return text
        where = self.file + "".join(f":{n}" for n in (self.line, self.column) if n is not None)
        return f"{text} (at {where})"

    def at(self, file: str, line: int | None = None, column: int | None = None) -> ConfigIssue:
        """This issue placed in `file` (at `line`, `column` when known)."""
        return replace(self, file=file, line=line, column=column)

    def as_json(self) -> dict[str, Any]:
        """The issue as `aifactory plan --json` prints it (README, "Config errors as JSON")."""
        return {
            "path": self.path,
            "problem": self.problem,
            "fix": self.fix,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }


def warning(path: str, problem: str, fix: str) -> ConfigIssue:
    """A `warning` issue: reported with the plan, never stops it."""
    return ConfigIssue(path, problem, fix, severity="warning")


class ConfigError(Exception):
    """An invalid stack config; raised before any resource is registered.

    Its issues are the errors first, then any warnings found in the same run (so a user fixing the
    errors sees the warnings too)."""

    def __init__(self, issues: Sequence[ConfigIssue]):
        self.issues = tuple(sorted(issues, key=lambda i: i.is_warning))
        super().__init__("\n".join(str(i) for i in self.issues))

    @property
    def errors(self) -> tuple[ConfigIssue, ...]:
        return tuple(i for i in self.issues if not i.is_warning)


def config_path(*parts: str | int) -> str:
    """`config_path("fleets", 1, "instanceType")` -> `aifactory:fleets[1].instanceType`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return f"{NAMESPACE}:{text}"


def closest(value: str, choices: Iterable[str]) -> str | None:
    """The most similar valid choice for a typo, if any is reasonably close."""
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """A fix sentence suggesting the closest valid value, or listing the valid values."""
    options = sorted(choices)
    guess = closest(value, options)
    if guess:
        return f"did you mean '{guess}'? Valid values: {', '.join(options)}"
    return f"use one of: {', '.join(options)}"
