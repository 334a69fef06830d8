"""Every preflight rule is documented: registered with a title and its AWS sources, and listed in the
README's rule table."""

from __future__ import annotations

from pathlib import Path

from aifactory.preflight import RULES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_rule_has_a_title_and_a_source() -> None:
    assert RULES
    assert all(rule.title and rule.sources for rule in RULES.values())


def test_the_readme_lists_every_rule() -> None:
    table = README.read_text()
    assert [r for r in RULES if f"| `{r}` |" not in table] == []
