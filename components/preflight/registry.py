"""Deploy preflight rules, registered by name with the AWS source they implement."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .inventory import Inventory


@dataclass(frozen=True)
class Finding:
    """One thing that would break on a real account: which rule, what it is about, why, how to fix."""

    rule: str
    subject: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"rule": self.rule, "subject": self.subject, "message": self.message}


Check = Callable[[Inventory], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    sources: tuple[str, ...]
    check: Check


RULES: dict[str, Rule] = {}


def rule(rule_id: str, title: str, *sources: str) -> Callable[[Check], Check]:
    """Register a preflight check under `rule_id`; `sources` name the AWS pages it implements."""

    def register(check: Check) -> Check:
        if rule_id in RULES:
            raise ValueError(f"preflight rule {rule_id!r} registered twice")
        RULES[rule_id] = Rule(rule_id, title, sources, check)
        return check

    return register
