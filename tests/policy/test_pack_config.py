"""`--policy-config FILE`: the JSON `pulumi preview --policy-pack-config` takes, checked against the registry
and each policy's `configSchema`, applied offline with the levels and properties CrossGuard applies."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aifactory.policies import POLICIES, PolicyConfig, run_policies
from aifactory.policies.crossguard import build_policies
from aifactory.policies.pack_config import (
    ENFORCEMENT_LEVELS,
    PackConfig,
    config_schema,
    parse_pack_config,
    read_pack_config,
)
from aifactory.spec import ConfigError

from tests.policy.harness import validate_resource

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "policy" / "config.example.json"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
COMMERCIAL = PolicyConfig(profile="commercial")


def issues(document: Any) -> dict[str, tuple[str, str]]:
    with pytest.raises(ConfigError) as raised:
        parse_pack_config(document, "pc.json")
    assert all(i.file == "pc.json" for i in raised.value.issues)
    return {i.path: (i.problem, i.fix) for i in raised.value.issues}


def log_group(days: int) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:s::aifactory::{LOG_GROUP}::logs",
        "type": LOG_GROUP,
        "name": "logs",
        "inputs": {"retentionInDays": days},
    }


def verdicts(pack: PackConfig, days: int = 30) -> list[tuple[str, str]]:
    found = run_policies([log_group(days)], "commercial", COMMERCIAL, None, pack)
    return [(v.policy, v.level) for v in found if v.policy == "log-group-retention"]


# --- the file ------------------------------------------------------------------------------------


def test_the_example_file_parses_and_is_the_one_the_readme_shows() -> None:
    pack = read_pack_config(EXAMPLE)
    assert pack.all_level == "mandatory"
    assert pack.levels["no-open-egress"] == "advisory" and pack.levels["s3-access-logging"] == "disabled"
    assert pack.properties["log-group-retention"] == {"minRetentionDays": 400}
    readme = (ROOT / "policy" / "README.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", readme, re.S)
    assert json.loads(EXAMPLE.read_text()) in [json.loads(b) for b in blocks]


def test_an_empty_file_is_no_config(tmp_path: Path) -> None:
    path = tmp_path / "pc.json"
    path.write_text("\n")
    assert read_pack_config(path) == PackConfig()


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{", "is not valid JSON"), ("[]", "is not a JSON object keyed by policy name"), ("\xff", None)],
)
def test_a_file_that_is_not_a_config_object(tmp_path: Path, text: str, problem: str | None) -> None:
    path = tmp_path / "pc.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError) as raised:
        read_pack_config(path)
    (issue,) = raised.value.issues
    assert issue.path == str(path) and issue.fix
    assert problem is None or problem in issue.problem


def test_every_mistake_of_a_file_at_once_with_its_path_and_fix() -> None:
    found = issues(
        {
            "no-open-egres": "disabled",
            "required-tags": {"enforcementLevel": "strict", "requiredTags": "x", "requireTags": []},
            "log-group-retention": {"minRetentionDays": 0},
            "rack-power-and-cooling": {"coolingLimitsKw": {"air": "a"}},
            "fsx-lustre-durability": 5,
            "imdsv2-required": {"enforcementLevel": 1},
            "all": {"enforcementLevel": "advisory", "requiredTags": ["a"]},
            "kms-key-rotation": "Mandatory",
        }
    )
    assert set(found) == {
        "no-open-egres",
        "required-tags.enforcementLevel",
        "required-tags.requireTags",
        "required-tags.requiredTags",
        "log-group-retention.minRetentionDays",
        "rack-power-and-cooling.coolingLimitsKw.air",
        "fsx-lustre-durability",
        "imdsv2-required.enforcementLevel",
        "all.requiredTags",
        "kms-key-rotation",
    }
    assert found["no-open-egres"] == (
        "is not a policy of the aifactory pack",
        "did you mean 'no-open-egress'? The policies are listed in policy/README.md",
    )
    assert found["required-tags.enforcementLevel"][0] == '"strict" is not an enforcement level'
    assert all(level in found["required-tags.enforcementLevel"][1] for level in ENFORCEMENT_LEVELS)
    assert "did you mean 'mandatory'" in found["kms-key-rotation"][1]
    assert "did you mean 'requiredTags'" in found["required-tags.requireTags"][1]
    assert "is not of type 'array'" in found["required-tags.requiredTags"][0]
    assert "a list of strings" in found["required-tags.requiredTags"][1]
    assert "less than the minimum of 1" in found["log-group-retention.minRetentionDays"][0]
    assert "an integer of at least 1" in found["log-group-retention.minRetentionDays"][1]
    assert "number" in found["rack-power-and-cooling.coolingLimitsKw.air"][1]
    assert "neither an enforcement level nor an object" in found["fsx-lustre-durability"][0]
    assert "takes only enforcementLevel" in found["all.requiredTags"][0]


def test_a_policy_without_tunables_takes_only_the_profile() -> None:
    found = issues({"imdsv2-required": {"hopLimit": 1}})
    assert found == {
        "imdsv2-required.hopLimit": ("is not a property of imdsv2-required", "imdsv2-required takes profile")
    }


# --- levels --------------------------------------------------------------------------------------


def test_levels_follow_all_then_the_policy_s_own() -> None:
    assert verdicts(PackConfig()) == [("log-group-retention", "mandatory")]
    assert verdicts(parse_pack_config({"log-group-retention": "advisory"}, "f")) == [
        ("log-group-retention", "advisory")
    ]
    assert verdicts(parse_pack_config({"all": "disabled"}, "f")) == []
    both = {"all": "disabled", "log-group-retention": {"enforcementLevel": "advisory"}}
    assert verdicts(parse_pack_config(both, "f")) == [("log-group-retention", "advisory")]
    # Our policies have no remediation: a remediate policy reports as mandatory, as the SDK does.
    assert verdicts(parse_pack_config({"log-group-retention": "remediate"}, "f")) == [
        ("log-group-retention", "mandatory")
    ]


def test_a_disabled_policy_does_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(*args: Any) -> list[str]:
        calls.append("ran")
        return []

    counted = dataclasses.replace(POLICIES["log-group-retention"], resource_check=counting)
    monkeypatch.setattr(POLICIES, "_by_id", {**POLICIES._by_id, counted.id: counted})
    run_policies([log_group(30)], "commercial", COMMERCIAL, None)
    assert calls == ["ran"]
    run_policies([log_group(30)], "commercial", COMMERCIAL, None, parse_pack_config({"all": "disabled"}, "f"))
    assert calls == ["ran"]


def test_sovereign_stacks_are_mandatory_unless_the_file_says_otherwise() -> None:
    sovereign = PolicyConfig(profile="sovereign")
    found = run_policies([log_group(30)], "sovereign", sovereign, None)
    assert {v.level for v in found if v.policy == "log-group-retention"} == {"mandatory"}
    pack = parse_pack_config({"log-group-retention": "advisory"}, "f")
    found = run_policies([log_group(30)], "sovereign", sovereign, None, pack)
    assert {v.level for v in found if v.policy == "log-group-retention"} == {"advisory"}


# --- properties, the same on both paths ----------------------------------------------------------


def test_a_property_reaches_the_check_offline_and_under_crossguard() -> None:
    pack = parse_pack_config({"log-group-retention": {"minRetentionDays": 400}}, "f")
    assert verdicts(PackConfig(), days=365) == []
    assert verdicts(pack, days=365) == [("log-group-retention", "mandatory")]
    found = run_policies([log_group(365)], "commercial", COMMERCIAL, None, pack)
    offline = [v.message for v in found if v.policy == "log-group-retention"]
    crossguard = validate_resource(
        "log-group-retention",
        LOG_GROUP,
        {"retentionInDays": 365},
        base=COMMERCIAL,
        pack_config=pack.properties["log-group-retention"],
    )
    assert offline == crossguard
    assert "at least 400 days" in offline[0]


def test_the_pack_declares_the_schema_the_offline_check_validates() -> None:
    packed = {p.name: p.config_schema for p in build_policies(PolicyConfig())}
    for defn in POLICIES:
        schema = packed[defn.id]
        assert schema is not None and schema.properties == config_schema(defn), defn.id
    assert set(config_schema(POLICIES["log-group-retention"])) == {"profile", "minRetentionDays"}
    assert set(config_schema(POLICIES["fsx-lustre-durability"])) == {
        "profile",
        "fsxDeploymentTypes",
        "fsxMinBackupDays",
    }


def test_the_schema_defaults_are_the_policy_defaults() -> None:
    # The engine fills a property's `default` into the config it hands the pack (createConfigWithDefaults).
    defaults = PolicyConfig()
    for defn in POLICIES:
        with_defaults = {k: v["default"] for k, v in config_schema(defn).items() if "default" in v}
        assert defaults.with_overrides(with_defaults) == defaults, defn.id
