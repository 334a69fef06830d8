"""The project's one jinja2 environment: every generated file comes from templates/ through here."""

from __future__ import annotations

import functools

from jinja2 import Environment, PackageLoader, StrictUndefined


@functools.cache
def environment() -> Environment:
    # Not an HTML renderer: the outputs are shell, YAML, TOML and Slurm configs, so no autoescape.
    return Environment(
        loader=PackageLoader("aifactory.templates", ""),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(template_name: str, **context: object) -> str:
    """Render `template_name` (a path under templates/, e.g. "bootstrap/health_check.sh.j2")."""
    return environment().get_template(template_name).render(**context)
