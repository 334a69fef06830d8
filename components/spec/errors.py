"""Config errors that name the config path, say what is wrong and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

NAMESPACE = "aifactory"


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a stack's config: where (`aifactory:fleets[1].instanceType`), what, and the fix."""

    path: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}. Fix: {self.fix}"


class ConfigError(Exception):
    """An invalid stack config; raised before any resource is registered."""

    def __init__(self, issues: Sequence[ConfigIssue]):
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


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
