"""The policy pack's configuration file, read offline the way `pulumi preview --policy-pack-config` reads it.

Pulumi docs, "Configuring policy packs" (crossguard/configuration): the file is a JSON object keyed by
policy name, or `all`; a value is an enforcement level string or an object with an optional
`enforcementLevel` and the policy's config properties, validated against the policy's `configSchema`.
The engine (pulumi/pulumi pkg/resource/analyzer/config.go, `parsePolicyPackConfig`, `applyConfig`)
applies `all`'s level to every policy, then each policy's own level and properties over it. The
levels are `advisory`, `mandatory`, `remediate` and `disabled` (Pulumi Cloud REST API, `AppPolicy`
`enforcementLevel`); a disabled policy does not run, and a `remediate` policy without a remediation
reports as mandatory (pulumi_policy 1.21 policy.py `Analyze`, `AnalyzeStack`).

Stricter than the engine, because a typo there is silently ignored: a key that names no policy, a
property the policy does not take and properties under `all` are errors here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeGuard, get_args

from ..spec.errors import ConfigError, ConfigIssue, closest, did_you_mean
from .registry import POLICIES, Level, PolicyDef
from .runner import CONFIG_SCHEMA, PolicyConfig

EnforcementLevel = Literal["advisory", "mandatory", "remediate", "disabled"]
ENFORCEMENT_LEVELS: tuple[str, ...] = get_args(EnforcementLevel)
ALL = "all"
"""The key whose enforcement level applies to every policy of the pack."""
ENFORCEMENT_KEY = "enforcementLevel"
PROFILE_KEY = "profile"
"""The property every policy takes: the profile it judges by (`CONFIG_SCHEMA`)."""


def config_schema(defn: PolicyDef) -> dict[str, dict[str, Any]]:
    """The config properties one policy accepts (its CrossGuard `configSchema`): `profile` and its own."""
    return {key: CONFIG_SCHEMA[key] for key in (PROFILE_KEY, *defn.config_keys)}


@dataclass(frozen=True)
class PackConfig:
    """What a pack config file sets: levels per policy and for `all`, and properties per policy."""

    levels: Mapping[str, EnforcementLevel] = field(default_factory=dict)
    all_level: EnforcementLevel | None = None
    properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def level(self, defn: PolicyDef, profile: str) -> EnforcementLevel:
        """The policy's level: its own in the file, else `all`'s, else its default for the profile."""
        return self.levels.get(defn.id) or self.all_level or defn.level(profile)

    def reported_level(self, defn: PolicyDef, profile: str) -> Level | None:
        """The level a violation is reported at, or None for a disabled policy (which does not run)."""
        level = self.level(defn, profile)
        if level == "disabled":
            return None
        return "advisory" if level == "advisory" else "mandatory"

    def policy_config(self, defn: PolicyDef, base: PolicyConfig) -> PolicyConfig:
        return base.with_overrides(self.properties.get(defn.id, {}))


def read_pack_config(path: Path) -> PackConfig:
    """The pack config file at `path`; every problem of the file at once as a `ConfigError`."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(source, f"cannot be read ({exc})", _FILE_FIX, source)]) from None
    if not text.strip():
        return PackConfig()  # the engine accepts an empty file as no config
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"is not valid JSON ({exc.msg})"
        raise ConfigError([ConfigIssue(source, problem, _FILE_FIX, source, exc.lineno, exc.colno)]) from None
    except RecursionError:
        raise ConfigError([ConfigIssue(source, "nests too deeply", _FILE_FIX, source)]) from None
    return parse_pack_config(document, source)


_FILE_FIX = "pass a JSON object keyed by policy name (policy/README.md, 'Configure')"


def parse_pack_config(document: Any, source: str) -> PackConfig:
    """A decoded pack config document, checked against the registry and each policy's `configSchema`."""
    if not isinstance(document, Mapping):
        raise ConfigError([ConfigIssue(source, "is not a JSON object keyed by policy name", _FILE_FIX, source)])
    issues: list[ConfigIssue] = []
    levels: dict[str, EnforcementLevel] = {}
    properties: dict[str, Mapping[str, Any]] = {}
    all_level: EnforcementLevel | None = None
    names = [ALL, *POLICIES.ids()]
    for key, value in document.items():
        if key != ALL and key not in POLICIES.ids():
            guess = closest(key, names)
            fix = f"did you mean '{guess}'? " if guess else ""
            problem = "is not a policy of the aifactory pack"
            issues.append(ConfigIssue(key, problem, fix + "The policies are listed in policy/README.md", source))
            continue
        level: Any
        if isinstance(value, str):
            level, props = value, {}
            level_path = key
        elif isinstance(value, Mapping):
            props = {k: v for k, v in value.items() if k != ENFORCEMENT_KEY}
            level, level_path = value.get(ENFORCEMENT_KEY), f"{key}.{ENFORCEMENT_KEY}"
        else:
            problem = f"is {json.dumps(value)}, neither an enforcement level nor an object"
            fix = f'give a level ("{key}": "advisory") or an object ("{key}": {{"{ENFORCEMENT_KEY}": "advisory"}})'
            issues.append(ConfigIssue(key, problem, fix, source))
            continue
        if level is not None:
            if not _is_level(level):
                shown = json.dumps(level)
                issues.append(
                    ConfigIssue(
                        level_path,
                        f"{shown} is not an enforcement level",
                        did_you_mean(str(level), ENFORCEMENT_LEVELS),
                        source,
                    )
                )
            elif key == ALL:
                all_level = level
            else:
                levels[key] = level
        if key == ALL:
            issues += [
                ConfigIssue(
                    f"{ALL}.{name}",
                    f"`{ALL}` takes only {ENFORCEMENT_KEY}; Pulumi applies no property from it",
                    f"set {name} under each policy that takes it",
                    source,
                )
                for name in props
            ]
            continue
        issues += _property_issues(POLICIES[key], props, source)
        if props:
            properties[key] = props
    if issues:
        raise ConfigError(issues)
    return PackConfig(levels=levels, all_level=all_level, properties=properties)


def _is_level(value: Any) -> TypeGuard[EnforcementLevel]:
    return isinstance(value, str) and value in ENFORCEMENT_LEVELS


def _property_issues(defn: PolicyDef, props: Mapping[str, Any], source: str) -> list[ConfigIssue]:
    """The properties checked against the policy's `configSchema`, as the engine does with
    gojsonschema (JSON Schema draft 7), and with no property the schema does not declare."""
    from jsonschema import Draft7Validator

    schema = config_schema(defn)
    issues = []
    for name in props:
        if name not in schema:
            guess = closest(name, schema)
            takes = ", ".join(sorted(schema))
            fix = (f"did you mean '{guess}'? " if guess else "") + f"{defn.id} takes {takes}"
            issues.append(ConfigIssue(f"{defn.id}.{name}", f"is not a property of {defn.id}", fix, source))
    validator = Draft7Validator({"type": "object", "properties": schema})
    for error in sorted(validator.iter_errors(dict(props)), key=lambda e: list(map(str, e.absolute_path))):
        path = defn.id + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        top = str(error.absolute_path[0]) if error.absolute_path else ""
        described = schema.get(top, {})
        fix = f"give {top} as {_shape(described)}: {described.get('description', '')}".rstrip(": ")
        issues.append(ConfigIssue(path, error.message, fix, source))
    return issues


def _shape(schema: Mapping[str, Any]) -> str:
    """A property's JSON Schema in words, for a fix."""
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"a list of {schema.get('items', {}).get('type', 'value')}s"
    if kind == "object":
        values = schema.get("additionalProperties", {}).get("type", "value")
        return "an object whose values are each " + (" or ".join(values) if isinstance(values, list) else values)
    if kind == "integer" and "minimum" in schema:
        return f"an integer of at least {schema['minimum']}"
    return f"a {kind}"
