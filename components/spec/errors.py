"""Config errors that name the config path, say what is wrong and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

NAMESPACE = "aifactory"

Severity = Literal["error", "warning"]
"""`error` stops the plan; `warning` is a valid but suspicious value, printed with the plan."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a stack's config: where (`aifactory:fleets[1].instanceType`), what, and the fix."""

    path: str
    problem: str
    fix: str
    severity: Severity = "error"

    @property
    def is_warning(self) -> bool:
        return self.severity == "warning"

    def __str__(self) -> str:
        text = f"{self.path}: {self.problem}. Fix: {self.fix}"
        return f"warning: {text}" if self.is_warning else text

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "problem": self.problem, "fix": self.fix, "severity": self.severity}


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
