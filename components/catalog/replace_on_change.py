"""Which inputs replace a resource when they change, per resource type (data/replace_on_change.yaml)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from .yamldata import load_yaml


@dataclass(frozen=True)
class ReplaceRule:
    """A resource type's replace-on-change inputs (plan JSON names; `a.b` descends into `a`)."""

    type: str
    replace_on_change: tuple[str, ...]
    stateful: bool
    """Holds data that a replacement or a removal loses (file system, bucket, key, cluster, secret...)."""
    source: str
    checked: str
    """`source` (read in the provider's schema) or `docs` (its documentation page)."""


@functools.cache
def replace_rules() -> dict[str, ReplaceRule]:
    """Every listed resource type's rule, by type token."""
    text = resources.files("aifactory.catalog").joinpath("data/replace_on_change.yaml").read_text()
    rules: dict[str, ReplaceRule] = {}
    for typ, raw in load_yaml(text).items():
        rules[typ] = ReplaceRule(
            type=typ,
            replace_on_change=tuple(raw["replace_on_change"]),
            stateful=bool(raw.get("stateful", False)),
            source=raw["source"],
            checked=raw["checked"],
        )
    return rules


def replace_rule(typ: str) -> ReplaceRule | None:
    """The rule for a type token, or None when the table does not list it."""
    return replace_rules().get(typ)
