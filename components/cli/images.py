"""`aifactory images pin STACK [--check]`: resolve the images a stack boots and record them in its file.

The stack names no image by default: `spec.images.required_images` says which images it boots and
which public SSM parameter names the current one of each. This command reads those parameters in
the stack's region and writes the ids under `aifactory:images` in `Pulumi.<stack>.yaml`, touching no
other line of the file; `--check` only reports where the pins and the current images differ. The
program itself never reads a parameter, so an image changes only when this command is run and its
diff committed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from ..spec.errors import NAMESPACE, ConfigError, ConfigIssue
from ..spec.images import ImageNeed, required_images
from ..spec.loading import read_stack_config, spec_from_config

IMAGES_KEY = f"{NAMESPACE}:images"
GET_PARAMETERS_BATCH = 10
"""GetParameters takes at most 10 names per call (AWS Systems Manager API reference, GetParameters)."""


class SsmClient(Protocol):
    def get_parameters(self, *, Names: list[str]) -> Mapping[str, Any]: ...  # `Names`: the SDK keyword


class ImageLookupError(Exception):
    """The stack's images could not be resolved; nothing was written."""


@dataclass(frozen=True)
class ImageStatus:
    """One image the stack boots: what is pinned and what its parameter names now."""

    need: ImageNeed
    pinned: str | None
    current: str

    @property
    def drifted(self) -> bool:
        return self.pinned != self.current

    def describe(self) -> str:
        where = f"{self.need.source.path} ({self.need.source.parameter})"
        if self.pinned is None:
            return f"{where}: not pinned; current {self.current}"
        if self.drifted:
            return f"{where}: pinned {self.pinned}, current {self.current}"
        return f"{where}: {self.pinned} is current"


def fetch_parameters(client: SsmClient, names: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """The values of `names` and the names SSM reports invalid (absent in the region), in batches."""
    values: dict[str, str] = {}
    invalid: list[str] = []
    unique = list(dict.fromkeys(names))
    for start in range(0, len(unique), GET_PARAMETERS_BATCH):
        response = client.get_parameters(Names=unique[start : start + GET_PARAMETERS_BATCH])
        for parameter in response.get("Parameters", []):
            values[str(parameter["Name"])] = str(parameter["Value"])
        invalid.extend(str(name) for name in response.get("InvalidParameters", []))
    return values, invalid


def image_statuses(config: Mapping[str, Any], client: SsmClient) -> list[ImageStatus]:
    """Every image the stack boots with its pin and its current value; raises `ImageLookupError` when a
    parameter is missing or names something that is not an image of its kind."""
    spec = spec_from_config(config, require_pinned_images=False)
    needs = required_images(spec)
    values, invalid = fetch_parameters(client, [n.source.parameter for n in needs])
    problems: list[str] = []
    for need in needs:
        parameter = need.source.parameter
        if parameter in invalid or parameter not in values:
            problems.append(
                f"{need.source.path}: the SSM parameter {parameter} does not exist in {spec.region} (the image may "
                "not be published in this region); set the id by hand after checking it"
            )
            continue
        problem = need.source.value_problem(values[parameter])
        if problem is not None:
            problems.append(f"{need.source.path}: the SSM parameter {parameter} holds {problem}")
    if problems:
        raise ImageLookupError("\n".join(problems))
    return [ImageStatus(n, spec.images.get(n.key), values[n.source.parameter]) for n in needs]


def ssm_client(region: str) -> SsmClient:
    import boto3

    client: SsmClient = boto3.client("ssm", region_name=region)
    return client


def pin_stack(path: Path, client: SsmClient | None = None, *, check: bool = False) -> tuple[list[ImageStatus], bool]:
    """Resolve the stack's images; unless `check`, write the current ids into the file.

    Returns the statuses and whether the file changed (always False with `check`).
    """
    config = read_stack_config(path)
    if client is None:
        region = config.get("aws:region")
        if not isinstance(region, str):
            raise ConfigError([ConfigIssue("aws:region", "no region is set", "set `aws:region` in the stack file")])
        client = ssm_client(region)
    statuses = image_statuses(config, client)
    if check or not any(s.drifted for s in statuses):
        return statuses, False
    text = path.read_text()
    updated = with_pins(text, {s.need.key: s.current for s in statuses})
    path.write_text(updated)
    return statuses, True


# --- editing the stack file ---------------------------------------------------------------------

_KEY_LINE = re.compile(r"^(?P<indent>[ ]+)(?P<key>[^\s#:][^:#]*):(?P<rest>.*)$")
_ENTRY_LINE = re.compile(r"^(?P<indent>[ ]+)(?P<key>[A-Za-z0-9.-]+):[ ]*(?P<value>[^\s#]*)(?P<comment>[ ]+#.*)?$")


def with_pins(text: str, pins: Mapping[str, str]) -> str:
    """`text` (a stack file) with `pins` set under `config: aifactory:images:`, every other line as it was.

    The pinned block is edited line by line (comments and unrelated keys kept) when it is a plain block
    mapping, and written fresh otherwise. The result is parsed again and must equal the old config with
    only the images changed; anything else raises `ImageLookupError` and nothing is written.
    """
    before = yaml.safe_load(text) or {}
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    key_indent = _config_key_indent(lines)
    start = next(
        (i for i, line in enumerate(lines) if _is_key(line, key_indent, IMAGES_KEY)),
        None,
    )
    if start is None:
        end = _config_end(lines)
        block = [
            f"{key_indent}# Pinned by `aifactory images pin` from the public SSM parameters; run it again (and\n",
            f"{key_indent}# review the diff) to move to newer images.\n",
            f"{key_indent}{IMAGES_KEY}:\n",
            *(_entry(key_indent, k, v) for k, v in pins.items()),
        ]
        lines[end:end] = block
    else:
        end = _block_end(lines, start, key_indent)
        lines[start:end] = _edited_block(lines[start:end], key_indent, pins)
    result = "".join(lines)
    _verify(before, result, pins)
    return result


def _entry(key_indent: str, key: str, value: str) -> str:
    return f"{key_indent}  {key}: {value}\n"


def _edited_block(block: list[str], key_indent: str, pins: Mapping[str, str]) -> list[str]:
    header = _key_line(key_indent, IMAGES_KEY).match(block[0].rstrip("\n"))
    simple = header is not None and header["rest"].split("#", 1)[0].strip() == ""
    entries = [_ENTRY_LINE.match(line.rstrip("\n")) for line in block[1:]]
    entry_indent = f"{key_indent}  "
    plain = all(
        m is not None and m["indent"] == entry_indent
        for m, line in zip(entries, block[1:], strict=True)
        if line.strip() and not line.lstrip().startswith("#")
    )
    if not (simple and plain):
        return [f"{key_indent}{IMAGES_KEY}:\n", *(_entry(key_indent, k, v) for k, v in pins.items())]
    out = [block[0]]
    seen: set[str] = set()
    for match, line in zip(entries, block[1:], strict=True):
        if match is not None and match["key"] in pins:
            key = match["key"]
            seen.add(key)
            out.append(f"{entry_indent}{key}: {pins[key]}{match['comment'] or ''}\n")
        else:
            out.append(line)
    # New keys go after the last entry, before trailing blank lines or comments.
    last = max((i for i, line in enumerate(out) if i and _is_entry(line, entry_indent)), default=0)
    out[last + 1 : last + 1] = [_entry(key_indent, k, v) for k, v in pins.items() if k not in seen]
    return out


def _is_entry(line: str, indent: str) -> bool:
    match = _ENTRY_LINE.match(line.rstrip("\n"))
    return match is not None and match["indent"] == indent


def _key_line(indent: str, key: str) -> re.Pattern[str]:
    return re.compile(rf"^{indent}(['\"]?){re.escape(key)}\1:(?P<rest>.*)$")


def _is_key(line: str, indent: str, key: str) -> bool:
    return bool(_key_line(indent, key).match(line.rstrip("\n")))


def _config_key_indent(lines: list[str]) -> str:
    """The indentation of the keys under `config:` (two spaces when the mapping is empty)."""
    start = _config_line(lines)
    for line in lines[start + 1 :]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY_LINE.match(line.rstrip("\n"))
        if match is None:
            break
        return match["indent"]
    return "  "


def _config_line(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        if re.match(r"^config:\s*(#.*)?$", line):
            return i
    raise ImageLookupError("the stack file has no block `config:` mapping to pin the images in")


def _config_end(lines: list[str]) -> int:
    """The line after the last key of the `config:` mapping (before a following top-level key)."""
    start = _config_line(lines)
    end = start + 1
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line.startswith((" ", "#")):
            break
        if line.strip() and not line.lstrip().startswith("#"):
            end = i + 1
    return end


def _block_end(lines: list[str], start: int, key_indent: str) -> int:
    """The line after the block of the key at `start`: its value lines are indented deeper."""
    end = start + 1
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent <= len(key_indent):
            break
        end = i + 1
    return end


def _verify(before: Any, text: str, pins: Mapping[str, str]) -> None:
    after = yaml.safe_load(text) or {}
    expected = dict(before)
    config = dict(expected.get("config") or {})
    images = dict(config.get(IMAGES_KEY) or {})
    images.update(pins)
    config[IMAGES_KEY] = images
    expected["config"] = config
    if after != expected:
        raise ImageLookupError(
            "could not edit the stack file without changing other keys; set `aifactory:images` by hand to: "
            + ", ".join(f"{k}: {v}" for k, v in pins.items())
        )
