"""A bounded, seeded fuzz of the example stacks through `aifactory plan`, in process.

Each case mutates one example stack (`stacks/`) once, writes it and runs `main(["plan", file])` with
its output captured. Every case must end with exit 0, 1 or 2, never raise, print no traceback and finish
within `CASE_SECONDS`. Some classes must also be refused (exit 2): a duplicated key, an injected `$(`,
newline or a comma in a label value, a non-finite number, a boolean where a number goes.

`AIFACTORY_FUZZ_CASES` (default `DEFAULT_CASES`) is the number of cases over all classes; the cases are
spread over the classes and the stacks and are the same on every run (seeded by class and index).
slurm-aws gets one case in nine (`ROTATION`): it plans 128 nodes under the mock engine, about
ten times longer than the rest, and the whole fuzz should stay under a minute.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml
from aifactory.cli.main import main
from aifactory.spec.loading import read_stack_config

STACKS = Path(__file__).resolve().parents[2] / "stacks"
ROTATION = ["dev", "commercial-us", "sovereign-eu", "slurm-aws", *(["dev", "commercial-us", "sovereign-eu"] * 2)]
"""The stacks in case order: slurm-aws (128 nodes, ten times slower to plan) once in nine."""
DEFAULT_CASES = 154
"""Fourteen per class; about 20 s on two cores (310 cases, the issue's fuzz size, take about 26 s)."""
CASE_SECONDS = 60
"""Generous: a case that plans takes one to ten seconds here; a hang fails with the case named."""

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Case:
    kind: str
    stack: str
    description: str
    text: str
    must_refuse: bool


def _leaves(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every value in the config with its path; containers too (after their contents)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    if path:
        yield path, node


def _get(config: Any, path: Path_) -> Any:
    for part in path:
        config = config[part]
    return config


def _set(config: Any, path: Path_, value: Any) -> None:
    _get(config, path[:-1])[path[-1]] = value


def _pick(rng: random.Random, config: dict[str, Any], want: Callable[[Any], bool]) -> Path_ | None:
    choices = [p for p, v in _leaves(config) if want(v)]
    return rng.choice(choices) if choices else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _show(path: Path_) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


Mutation = Callable[[random.Random, dict[str, Any], str], tuple[str, str, bool] | None]
"""(rng, parsed config, file text) -> (new file text, description, must be refused) or None to skip."""


def _dump(config: dict[str, Any]) -> str:
    return yaml.safe_dump({"config": config}, sort_keys=False, allow_unicode=True)


def drop(rng: random.Random, config: dict[str, Any], _: str) -> tuple[str, str, bool] | None:
    path = _pick(rng, config, lambda v: True)
    if path is None:
        return None
    container = _get(config, path[:-1])
    del container[path[-1]]
    return _dump(config), f"drop {_show(path)}", False


def duplicate(rng: random.Random, _: dict[str, Any], text: str) -> tuple[str, str, bool] | None:
    """Repeat one `key: value` line of the file, as a careless edit or merge would."""
    lines = text.splitlines(keepends=True)
    candidates = [
        i
        for i, line in enumerate(lines)
        if line.startswith("  ") and ":" in line and not line.lstrip().startswith(("#", "- "))
    ]
    i = rng.choice(candidates)
    copy_line = lines[i]
    if i + 1 < len(lines) and len(lines[i + 1]) - len(lines[i + 1].lstrip()) > len(copy_line) - len(copy_line.lstrip()):
        # A key with a block value: repeat it with a scalar, the block stays with the first.
        copy_line = copy_line.split(":", 1)[0] + ": 1\n"
    lines.insert(i + 1, copy_line)
    return "".join(lines), f"duplicate line {i + 1}: {lines[i].strip()}", True


_RETYPED: list[Any] = [7, -3, 2.5, "text", True, None, [], {}, ["a", 1], {"k": "v"}]


def retype(rng: random.Random, config: dict[str, Any], _: str) -> tuple[str, str, bool] | None:
    path = _pick(rng, config, lambda v: True)
    if path is None:
        return None
    old = _get(config, path)
    value = rng.choice([v for v in _RETYPED if type(v) is not type(old)])
    _set(config, path, value)
    return _dump(config), f"{_show(path)}: {old!r} -> {value!r}", False


def swap(rng: random.Random, config: dict[str, Any], _: str) -> tuple[str, str, bool] | None:
    leaves = [p for p, _ in _leaves(config)]
    a, b = rng.sample(leaves, 2)
    if a[: len(b)] == b or b[: len(a)] == a:
        return None  # one contains the other
    va, vb = copy.deepcopy(_get(config, a)), copy.deepcopy(_get(config, b))
    _set(config, a, vb)
    _set(config, b, va)
    return _dump(config), f"swap {_show(a)} <-> {_show(b)}", False


def _number(values: list[Any], must_refuse: bool) -> Mutation:
    def mutate(rng: random.Random, config: dict[str, Any], _: str) -> tuple[str, str, bool] | None:
        path = _pick(rng, config, _is_number)
        if path is None:
            return None
        value = rng.choice(values)
        _set(config, path, value)
        return _dump(config), f"{_show(path)} = {value!r}", must_refuse

    return mutate


non_finite = _number([math.nan, math.inf, -math.inf], True)
extreme = _number([10**30, 2**63, -1, -(10**12), 0, 1e308, 0.5], False)
boolean = _number([True, False], True)

_INJECTIONS = ["$(id)", "\nrm -rf /", "a,b=c", 'a"b', "a'b", "`id`", "a\\", "x;reboot", "${HOME}"]


def inject(rng: random.Random, config: dict[str, Any], _: str) -> tuple[str, str, bool] | None:
    path = _pick(rng, config, lambda v: isinstance(v, str))
    if path is None:
        return None
    payload = rng.choice(_INJECTIONS)
    old = _get(config, path)
    value = old + payload if rng.random() < 0.7 else payload + old
    _set(config, path, value)
    in_label = "labels" in path
    refuse = "$(" in value or "\n" in value or (in_label and "," in value)
    return _dump(config), f"{_show(path)} = {value!r}", refuse


_LABEL_INJECTIONS = ["a,b", "x,team=other", "$(id)", "a\nb"]


def inject_label(rng: random.Random, config: dict[str, Any], _: str) -> tuple[str, str, bool] | None:
    """A fleet label value with a comma (the separator of kubelet `--node-labels` and of Slurm's
    feature lists), a newline or `$(`: where `inject` rarely lands."""
    fleets = config.get("aifactory:fleets")
    if not isinstance(fleets, list) or not fleets:
        return None
    index = rng.randrange(len(fleets))
    value = rng.choice(_LABEL_INJECTIONS)
    fleets[index].setdefault("labels", {})["team"] = value
    refuse = "$(" in value or "\n" in value or "," in value
    return _dump(config), f"aifactory:fleets[{index}].labels.team = {value!r}", refuse


def null(rng: random.Random, config: dict[str, Any], _: str) -> tuple[str, str, bool] | None:
    path = _pick(rng, config, lambda v: v is not None)
    if path is None:
        return None
    _set(config, path, None)
    return _dump(config), f"{_show(path)} = null", False


_NESTED = "nested-value-placeholder"


def nest(rng: random.Random, config: dict[str, Any], _: str) -> tuple[str, str, bool] | None:
    """A value wrapped in lists or mappings, up to far deeper than the loader allows (written as flow
    text: the YAML dumper itself recurses)."""
    path = _pick(rng, config, _is_scalar)
    if path is None:
        return None
    depth = rng.choice([3, 20, 60, 200, 3000])
    inner = yaml.safe_dump(_get(config, path), default_flow_style=True).strip().removesuffix("...").strip()
    opening = "".join(rng.choice(["[", "{a: "]) for _ in range(depth))
    closing = "".join("]" if o == "[" else "}" for o in reversed(opening.replace("{a: ", "{")))
    _set(config, path, _NESTED)
    return _dump(config).replace(_NESTED, opening + inner + closing), f"{_show(path)} nested {depth} deep", False


MUTATIONS: dict[str, Mutation] = {
    "drop": drop,
    "duplicate": duplicate,
    "retype": retype,
    "swap": swap,
    "non-finite": non_finite,
    "extreme-number": extreme,
    "boolean-for-number": boolean,
    "inject": inject,
    "inject-label": inject_label,
    "null": null,
    "nest": nest,
}


def _stacks_for(total: int) -> list[str]:
    return [ROTATION[i % len(ROTATION)] for i in range(total)]


def total_cases() -> int:
    return int(os.environ.get("AIFACTORY_FUZZ_CASES", DEFAULT_CASES))


def cases(kind: str) -> list[Case]:
    per_class = max(1, total_cases() // len(MUTATIONS))
    found: list[Case] = []
    for index, stack in enumerate(_stacks_for(per_class)):
        text = (STACKS / f"Pulumi.{stack}.yaml").read_text()
        rng = random.Random(f"{kind}-{index}")
        for _attempt in range(10):
            result = MUTATIONS[kind](rng, read_stack_config(STACKS / f"Pulumi.{stack}.yaml"), text)
            if result is not None:
                found.append(Case(kind, stack, result[1], result[0], result[2]))
                break
    return found


class CaseTimeout(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise CaseTimeout


def run_case(case: Case, directory: Path) -> str | None:
    """None when the case behaves, else what went wrong."""
    path = directory / f"Pulumi.{case.stack}.yaml"
    path.write_text(case.text)
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["plan", str(path)])
    except CaseTimeout:
        return f"no answer within {CASE_SECONDS} s"
    except BaseException as exc:  # any escape is the finding
        return f"raised {type(exc).__name__}: {exc}"[:400]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if "Traceback" in err.getvalue():
        return "printed a traceback"
    if code not in (0, 1, 2):
        return f"exit {code}"
    if case.must_refuse and code != 2:
        return f"exit {code}: must be refused (exit 2)"
    assert time.monotonic() - started < CASE_SECONDS
    return None


def _run_class(kind: str, tmp_path: Path) -> None:
    failures = []
    for case in cases(kind):
        problem = run_case(case, tmp_path)
        if problem is not None:
            failures.append(f"{case.stack}: {case.description}: {problem}")
    assert not failures, f"{len(failures)} {kind} case(s) failed:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "kind",
    list(MUTATIONS),
)
def test_fuzz_class(kind: str, tmp_path: Path) -> None:
    _run_class(kind, tmp_path)


def test_cases_are_deterministic_and_bounded() -> None:
    for kind in MUTATIONS:
        first, second = cases(kind), cases(kind)
        assert first == second and 0 < len(first) <= max(1, total_cases() // len(MUTATIONS))


def test_duplicate_case_is_refused_by_the_loader(tmp_path: Path) -> None:
    """The harness itself: a known duplicate is reported as refused, a known injection as a finding."""
    (case,) = [c for c in cases("duplicate") if c.stack == "dev"][:1]
    assert run_case(case, tmp_path) is None
    accepted = Case("inject", "dev", "harmless", (STACKS / "Pulumi.dev.yaml").read_text(), must_refuse=True)
    assert run_case(accepted, tmp_path) == "exit 0: must be refused (exit 2)"
