"""Rules for `aifactory:storage`."""

from __future__ import annotations

from .rules import Rule

STORAGE_RULES: tuple[Rule, ...] = ()
