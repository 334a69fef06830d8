"""Rules for `aifactory:scheduler`."""

from __future__ import annotations

from .rules import Rule

SCHEDULER_RULES: tuple[Rule, ...] = ()
