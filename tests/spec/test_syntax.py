"""Strict syntax for every config value that reaches a script, slurm.conf, kubelet flags or a manifest:
each hostile value from issue 16 and its class siblings is a ConfigError naming the config path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aifactory.planning.factory_plan import plan_factory
from aifactory.spec.errors import ConfigError
from aifactory.spec.loading import spec_from_config

from tests.stackfiles import base

# The issue's payloads and their class siblings: newline, command substitution, backticks, ';',
# quotes, ',', '=', spaces, non-ASCII, over-long.
HOSTILE = (
    "train\nSlurmUser=root",
    "x$(touch pwned)",
    "x`touch pwned`",
    "a;reboot",
    "a'b",
    'a"b',
    "a,node-role.kubernetes.io/control-plane=",
    "a=b",
    "a b",
    "tränen",
    "x" * 300,
)

Setter = Callable[[dict[str, Any], Any], None]


def _fleet(field: str) -> Setter:
    def set_(config: dict[str, Any], value: Any) -> None:
        config["aifactory:fleets"][0][field] = value

    return set_


def _label_value(config: dict[str, Any], value: Any) -> None:
    config["aifactory:fleets"][0]["labels"] = {"example.com/team": value}


def _label_key(config: dict[str, Any], value: Any) -> None:
    config["aifactory:fleets"][0]["labels"] = {value: "yes"}


def _taint(config: dict[str, Any], value: Any) -> None:
    config["aifactory:fleets"][0]["taints"] = [f"dedicated={value}:NoSchedule"]


def _mirror(config: dict[str, Any], value: Any) -> None:
    config["aifactory:profile"] = "sovereign"
    config["aifactory:sovereignty"] = {"allowedRegions": ["us-east-1"], "registryMirror": value}


def _partition(field: str) -> Setter:
    def set_(config: dict[str, Any], value: Any) -> None:
        partition = {"name": "train", "fleets": ["train", "eval"], field: value}
        config["aifactory:scheduler"] = {"kind": "slurm", "partitions": [partition]}

    return set_


def _queue(field: str) -> Setter:
    def set_(config: dict[str, Any], value: Any) -> None:
        queue = {"name": "team", "namespace": "team", "gpuQuota": 8, field: value}
        config["aifactory:scheduler"] = {"kind": "kubernetes", "queues": [queue]}

    return set_


def _priority(config: dict[str, Any], value: Any) -> None:
    config["aifactory:scheduler"] = {"kind": "kubernetes", "priorities": ["high", value]}


# (field, setter, config path the issue must name, valid values the syntax accepts)
FIELDS: list[tuple[str, Setter, str, tuple[str, ...]]] = [
    ("fleet name", _fleet("name"), "aifactory:fleets[0].name", ("train-2",)),
    ("label value", _label_value, "aifactory:fleets[0].labels.example.com/team", ("ml-infra", "A_b.c", "")),
    ("label key", _label_key, "aifactory:fleets[0].labels.", ("team", "example.com/team", "node.kubernetes.io/pool")),
    ("taint value", _taint, "aifactory:fleets[0].taints[0]", ("gpu",)),
    ("registry mirror", _mirror, "aifactory:sovereignty.registryMirror", ("registry.example.com:5000/mirror",)),
    ("partition name", _partition("name"), "aifactory:scheduler.partitions[0].name", ("gpu_a100.x", "Train")),
    ("partition maxTime", _partition("maxTime"), "aifactory:scheduler.partitions[0].maxTime", ("60",)),
    ("queue name", _queue("name"), "aifactory:scheduler.queues[0].name", ("team-a",)),
    ("queue namespace", _queue("namespace"), "aifactory:scheduler.queues[0].namespace", ("team-a",)),
    ("queue cohort", _queue("cohort"), "aifactory:scheduler.queues[0].cohort", ("research",)),
    ("priority", _priority, "aifactory:scheduler.priorities[1]", ("low",)),
]


def _issues(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        spec_from_config(config)
    return [f"{i.path}\t{i.problem}\t{i.fix}" for i in info.value.issues]


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda v: repr(v)[:24])
@pytest.mark.parametrize(("field", "setter", "path", "valid"), FIELDS, ids=[f[0] for f in FIELDS])
def test_a_hostile_value_is_a_config_error_at_its_path(
    field: str, setter: Setter, path: str, valid: tuple[str, ...], hostile: str
) -> None:
    config = base()
    setter(config, hostile)
    issues = _issues(config)
    assert any(line.startswith(path) for line in issues), (field, issues)
    # Every issue says how to fix it.
    assert all(line.split("\t")[2] for line in issues)


@pytest.mark.parametrize(("field", "setter", "path", "valid"), FIELDS, ids=[f[0] for f in FIELDS])
def test_the_syntax_accepts_ordinary_values(field: str, setter: Setter, path: str, valid: tuple[str, ...]) -> None:
    for value in valid:
        config = base()
        setter(config, value)
        spec_from_config(config)


@pytest.mark.parametrize(
    "key",
    [
        "node-role.kubernetes.io/control-plane",
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "node-restriction.kubernetes.io/team",
        "k8s.io/x",
        "sigs.k8s.io/x",
    ],
)
def test_labels_in_the_reserved_namespaces_are_refused(key: str) -> None:
    config = base()
    _label_key(config, key)
    [issue] = _issues(config)
    assert issue.startswith(f"aifactory:fleets[0].labels.{key}\t")
    assert "reserves" in issue


@pytest.mark.parametrize(
    "value",
    ["INFINITE", "UNLIMITED", "30", "30:00", "12:00:00", "2-12", "2-12:30", "2-12:30:00"],
)
def test_max_time_accepts_every_slurm_time_format(value: str) -> None:
    config = base()
    _partition("maxTime")(config, value)
    spec = spec_from_config(config)
    plan = plan_factory(spec, "dev")
    assert plan.slurm is not None
    assert f" MaxTime={value} " in plan.slurm.config_files["slurm.conf"]


@pytest.mark.parametrize("value", ["forever", "1h", "1:2:3:4", "-5", "1-", "٣٠", "unlimited\n"])
def test_max_time_refuses_what_slurm_cannot_read(value: str) -> None:
    config = base()
    _partition("maxTime")(config, value)
    assert any(line.startswith("aifactory:scheduler.partitions[0].maxTime\t") for line in _issues(config))


@pytest.mark.parametrize("name", ["DEFAULT", "default"])
def test_a_partition_cannot_be_named_like_slurms_defaults_record(name: str) -> None:
    config = base()
    _partition("name")(config, name)
    [issue] = _issues(config)
    assert issue.startswith("aifactory:scheduler.partitions[0].name\t")


@pytest.mark.parametrize("stack", ["bad name", "dev;reboot", "Dev", "dev\nSlurmUser=root", "x" * 41])
def test_a_stack_name_that_cannot_be_a_slurm_cluster_name_is_a_config_error(stack: str) -> None:
    config = base()
    _partition("name")(config, "train")
    spec = spec_from_config(config)
    with pytest.raises(ConfigError) as info:
        plan_factory(spec, stack)
    [issue] = info.value.issues
    assert issue.path == f"stack name {stack!r}"
    assert "rename the stack" in issue.fix


# Fields validated before the model strips white space (the others are stripped, so stay clean).
UNSTRIPPED = [f for f in FIELDS if not f[0].startswith(("fleet", "queue name", "queue namespace", "priority"))]


@pytest.mark.parametrize(("field", "setter", "path", "valid"), UNSTRIPPED, ids=[f[0] for f in UNSTRIPPED])
def test_a_trailing_line_break_is_refused_not_matched_by_dollar(
    field: str, setter: Setter, path: str, valid: tuple[str, ...]
) -> None:
    # Python's `$` also matches before a final "\n"; the syntax anchors with `\Z`.
    config = base()
    setter(config, (valid[0] or "x") + "\n")
    assert any(line.startswith(path) for line in _issues(config)), field
