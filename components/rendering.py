"""The project's one jinja2 environment: every generated file comes from templates/ through here."""

from __future__ import annotations

import functools

from jinja2 import Environment, PackageLoader, StrictUndefined


def shell_quote(value: object) -> str:
    """One shell word holding `value` verbatim: always in POSIX single quotes (a `'` inside becomes
    `'"'"'`), so no value is parsed as shell, and an assignment such as `host='head'` never reads as a
    command (shellcheck SC2209). Every script template applies it to each value it interpolates."""
    if value is None:
        raise ValueError("a script value is missing (None)")
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


@functools.cache
def environment() -> Environment:
    # Not an HTML renderer: the outputs are shell, YAML, TOML and Slurm configs, so no autoescape.
    env = Environment(
        loader=PackageLoader("aifactory.templates", ""),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["shell_quote"] = shell_quote
    return env


def render(template_name: str, **context: object) -> str:
    """Render `template_name` (a path under templates/, e.g. "bootstrap/health_check.sh.j2")."""
    return environment().get_template(template_name).render(**context)
