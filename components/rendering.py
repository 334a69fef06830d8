"""The project's one jinja2 environment: every generated file comes from templates/ through here."""

from __future__ import annotations

import functools
import json
import re

from jinja2 import Environment, PackageLoader, StrictUndefined

from .schedulers.slurm_power import HOSTLIST_RANGE, split_hostlist


def shell_quote(value: object) -> str:
    """One shell word holding `value` verbatim: always in POSIX single quotes (a `'` inside becomes
    `'"'"'`), so no value is parsed as shell, and an assignment such as `host='head'` never reads as a
    command (shellcheck SC2209). Every script template applies it to each value it interpolates."""
    if value is None:
        raise ValueError("a script value is missing (None)")
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


def shell_int(value: object) -> str:
    """An integer a script reads unquoted (`timeout 60`, `[ "$n" -ne 8 ]`); anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a script number is not an integer: {value!r}")
    return str(value)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(value: object) -> str:
    """Text for a comment or a description: a line break would end the comment and start a command,
    a YAML key or a config record, so any control character is a programming error here (the spec
    refuses such values first)."""
    text = str(value)
    if _CONTROL.search(text):
        raise ValueError(f"a one-line value holds a line break or control character: {text!r}")
    return text


# slurm.conf(5), gres.conf(5), topology.conf(5): a line is `Keyword=Value` pairs separated by white
# space, '#' starts a comment and a line break a new record, so a value holding any of them (or '=')
# would add options or records. Non-ASCII is refused too: every name the factory writes is ASCII.
_SLURM_VALUE = re.compile(r"^[A-Za-z0-9_.,:/@()\[\]+-]+\Z")


def slurm_value(value: object) -> str:
    """A value Slurm reads as one `Keyword=Value` value; anything that is Slurm syntax is refused."""
    if value is None or isinstance(value, bool):
        raise ValueError(f"a Slurm value is missing or not text: {value!r}")
    text = str(value)
    if not _SLURM_VALUE.match(text):
        raise ValueError(f"a Slurm value holds white space, '#', '=', a quote or a line break: {text!r}")
    return text


def shell_hostlist(hostlist: object) -> str:
    """Shell words that expand to the names of a Slurm hostlist in `compress_hostlist`'s notation
    (`gpu-[0001-0096,0100],head`): each `prefix[ranges]` part becomes the quoted prefix followed by a
    brace expansion (`'gpu-'{{0001..0096},0100}`), each plain name a quoted word. Bash keeps the zero
    padding of a `{x..y}` range whose bounds start with a zero (bash(1), "Brace Expansion"), so a
    script names 12,500 nodes in a few words, and only digits, braces and commas are left unquoted."""
    text = str(hostlist)
    words = []
    for part in split_hostlist(text):
        opening = part.rfind("[")
        items = part[opening + 1 : -1].split(",") if opening > 0 and part.endswith("]") else []
        ranges = [HOSTLIST_RANGE.match(item) for item in items]
        if not items or not all(ranges):
            if any(c in part for c in "[],"):
                raise ValueError(f"a hostlist part is neither a name nor prefix[ranges]: {part!r}")
            words.append(shell_quote(part))
            continue
        pieces = [f"{{{m[1]}..{m[2]}}}" if m[2] else m[1] for m in ranges if m is not None]
        brace = pieces[0] if len(pieces) == 1 else "{" + ",".join(pieces) + "}"
        words.append(shell_quote(part[:opening]) + brace)
    return " ".join(words)


def to_json(value: object) -> str:
    """A JSON scalar or document, which is also YAML: for every config value in a YAML template."""
    return json.dumps(value, ensure_ascii=True)


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
    env.filters["shell_int"] = shell_int
    env.filters["shell_hostlist"] = shell_hostlist
    env.filters["one_line"] = one_line
    env.filters["slurm_value"] = slurm_value
    env.filters["yaml_scalar"] = to_json
    return env


def render(template_name: str, **context: object) -> str:
    """Render `template_name` (a path under templates/, e.g. "bootstrap/health_check.sh.j2")."""
    return environment().get_template(template_name).render(**context)
