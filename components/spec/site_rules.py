"""Rules for `aifactory:site`."""

from __future__ import annotations

from .rules import Rule

SITE_RULES: tuple[Rule, ...] = ()
