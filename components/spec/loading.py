"""Turn a stack's config (`Pulumi.<stack>.yaml` or the engine's config) into a `FactorySpec`.

Structural problems come from the pydantic model; cross-field rules from `rules.py`. Either way
the result is one `ConfigError` listing every problem with its config path, raised before any
resource exists.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .access import ACCESS_RULES
from .errors import NAMESPACE, ConfigError, ConfigIssue, config_path, did_you_mean
from .fleet_kind_rules import FLEET_KIND_RULES
from .hybrid import HYBRID_RULES
from .images import images_pinned, images_well_formed
from .model import FactorySpec
from .node_images import build_instances_offered, node_images_valid, slurm_release_installed
from .observability_rules import OBSERVABILITY_RULES
from .placement_rules import PLACEMENT_RULES
from .production_rules import PRODUCTION_RULES
from .rules import FOUNDATION_RULES, Rule, region_is_known
from .scheduler_rules import SCHEDULER_RULES
from .site import REMOVED_AWS_SITE_KEYS
from .site_rules import SITE_RULES
from .stackfile import SecureValue, read_stack_file
from .storage_rules import STORAGE_RULES

SPEC_RULES: tuple[Rule, ...] = (
    FOUNDATION_RULES
    + FLEET_KIND_RULES
    + STORAGE_RULES
    + SITE_RULES
    + PLACEMENT_RULES
    + SCHEDULER_RULES
    + ACCESS_RULES
    + HYBRID_RULES
    + PRODUCTION_RULES
    + OBSERVABILITY_RULES
    + (node_images_valid, slurm_release_installed, build_instances_offered, images_well_formed, images_pinned)
)

REGION_KEY = "aws:region"


def spec_from_config(config: Mapping[str, Any], *, require_pinned_images: bool = True) -> FactorySpec:
    """Validate a stack's config: keys are fully qualified (`aws:region`, `aifactory:fleets`, ...).

    Values may be parsed objects (from the stack YAML) or JSON strings (from the engine).
    `require_pinned_images=False` accepts a stack whose images are not pinned yet: what
    `aifactory images pin` reads before it pins them. Warnings are dropped; `validate_config`
    returns them with the spec.
    """
    return validate_config(config, require_pinned_images=require_pinned_images)[0]


def validate_config(
    config: Mapping[str, Any], *, require_pinned_images: bool = True
) -> tuple[FactorySpec, tuple[ConfigIssue, ...]]:
    """The validated spec and its warnings; a `ConfigError` with every error (and warning) otherwise.

    Structural and cross-field problems come together: when some sections fail the model, the
    cross-field rules still run over the sections that validated (see `_rules_of_valid_sections`).
    """
    raw: dict[str, Any] = {}
    issues: list[ConfigIssue] = []
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if key == REGION_KEY:
            raw["region"] = value
        elif namespace == NAMESPACE:
            raw[name] = _decode(value)
    secret = _secret_issues(raw)
    if secret:
        # Sections holding a secret are left out: the model would only repeat them as type errors.
        issues += secret
        sections = {section_of(issue.path) for issue in secret}
        raw = {k: v for k, v in raw.items() if k not in sections}
    if "region" not in raw and "region" not in {section_of(i.path) for i in secret}:
        issues.append(ConfigIssue(REGION_KEY, "no region is set", "run `pulumi config set aws:region <region>`"))
    try:
        spec = FactorySpec.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        left_out = {section_of(issue.path) for issue in secret}
        issues += [i for i in _one_per_union(errors) if section_of(i.path) not in left_out]
        failed = {str(err["loc"][0]) for err in errors if err["loc"]} | left_out
        if "region" in raw:
            issues += _rules_of_valid_sections(raw, failed, require_pinned_images)
        raise ConfigError(issues) from None
    if secret:
        raise ConfigError(issues)
    issues.extend(check_spec(spec, require_pinned_images=require_pinned_images))
    if any(not issue.is_warning for issue in issues):
        raise ConfigError(issues)
    return spec, tuple(issues)


def _secret_issues(raw: Mapping[str, Any]) -> list[ConfigIssue]:
    """One issue per `secure:` value in a key the factory reads. No factory key is a secret: the region,
    names, ARNs, CIDRs and sizes appear in resource names, IAM and key policies, user data and the
    plan, and the offline plan cannot decrypt (it never does). A secret the factory should hold (a
    password, a token) belongs in AWS Secrets Manager, as the Slurm munge key does, not in the stack
    file. `secure:` values in keys the factory does not read (`aws:secretKey`, other providers) are
    left to Pulumi, which decrypts them under `pulumi up`."""
    issues = []
    for key, value in raw.items():
        for path in _secret_paths(value, REGION_KEY if key == "region" else f"{NAMESPACE}:{key}"):
            issues.append(
                ConfigIssue(
                    path,
                    "is a `secure:` (encrypted) value, but this key must be plain text: the factory writes it "
                    "into resource names, policies and the plan, and `aifactory plan` never decrypts",
                    _plaintext_fix(path),
                )
            )
    return issues


def _plaintext_fix(path: str) -> str:
    nested = "." in path or "[" in path
    command = (
        f"pulumi config set --path --plaintext '{path}' <value>"
        if nested
        else f"pulumi config set --plaintext {path} <value>"
    )
    return f"write the value in plain text (`{command}`); keep real secrets in AWS Secrets Manager"


def _secret_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, SecureValue):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _secret_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _secret_paths(v, f"{path}[{i}]")]
    return []


def _one_per_union(errors: list[Any]) -> list[ConfigIssue]:
    """One issue per config path: a union (`racks: int | list`) fails once per member, and the type
    error of the member the value was not meant for (`1e9 is not a list`) only hides the real one."""
    by_path: dict[str, list[tuple[str, ConfigIssue]]] = {}
    for err in errors:
        issue = _issue_from_pydantic(err)
        by_path.setdefault(issue.path, []).append((err["type"], issue))
    kept: list[ConfigIssue] = []
    for found in by_path.values():
        specific = [issue for kind, issue in found if not kind.endswith("_type")]
        kept += specific or [found[0][1]]
    return kept


REQUIRED_SECTIONS = frozenset({"region", "profile", "fleets"})
"""Keys every cross-field rule reads: if one fails the model, no rule can run."""


def section_of(path: str) -> str:
    """`aifactory:fleets[0].count` -> `fleets`; `aws:region` -> `region`."""
    if path == REGION_KEY:
        return "region"
    name = path.removeprefix(f"{NAMESPACE}:")
    return name.split(".", 1)[0].split("[", 1)[0]


def _rules_of_valid_sections(raw: dict[str, Any], failed: set[str], require_pinned_images: bool) -> list[ConfigIssue]:
    """Cross-field issues of the sections that validated, with the failed optional sections left out.

    A rule whose input section failed cannot judge it, and one whose section was left out would
    report it missing, so only issues about sections that validated are kept. When a section every
    rule reads (region, profile, fleets) failed, no rule runs.
    """
    if failed & REQUIRED_SECTIONS or not failed:
        return []
    try:
        partial = FactorySpec.model_validate({k: v for k, v in raw.items() if k not in failed})
    except ValidationError:
        return []
    return [
        issue
        for issue in check_spec(partial, require_pinned_images=require_pinned_images)
        if section_of(issue.path) not in failed
    ]


def check_spec(spec: FactorySpec, *, require_pinned_images: bool = True) -> list[ConfigIssue]:
    """Every cross-field problem in the spec, in rule order; an unknown region stops the rest."""
    unknown_region = list(region_is_known(spec))
    if unknown_region:
        return unknown_region
    rules = SPEC_RULES if require_pinned_images else tuple(r for r in SPEC_RULES if r is not images_pinned)
    return [issue for rule in rules for issue in rule(spec)]


def stack_name(path: Path) -> str:
    """`Pulumi.<stack>.yaml` -> `<stack>`."""
    return path.name.removeprefix("Pulumi.").rsplit(".", 1)[0]


def read_stack_config(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a `Pulumi.<stack>.yaml` file, unvalidated (read by `stackfile`: duplicate
    keys, custom tags, deep nesting and alias bombs are refused with their line)."""
    return read_stack_file(path).config


def load_stack_file(path: Path) -> tuple[str, FactorySpec]:
    """Read `Pulumi.<stack>.yaml`; returns the stack name and the validated spec. Every issue names the
    file and the line of its config path."""
    stack = read_stack_file(path)
    try:
        return stack_name(path), spec_from_config(stack.config)
    except ConfigError as exc:
        raise stack.locate(exc) from None


def _decode(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, SecureValue) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


_UNION_TAGS = {"kubernetes", "slurm", "aws", "datahall", "ssm", "roles-anywhere", "vpn", "direct-connect"}
_UNION_PARENTS = ("scheduler", "site", "credentials", "link")


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop the parts pydantic adds for unions (`int`, `list[Rack]`, discriminator tags)."""
    cleaned: list[int | str] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and (
            "[" in part or part in {"int", "str", "float", "bool"} or part.startswith("constrained-")
        ):
            continue
        if isinstance(part, str) and part in _UNION_TAGS and i > 0 and loc[i - 1] in _UNION_PARENTS:
            continue
        cleaned.append(part)
    return tuple(cleaned)


def _issue_from_pydantic(err: Any) -> ConfigIssue:
    loc = _clean_loc(tuple(err["loc"]))
    kind = err["type"]
    path = REGION_KEY if loc == ("region",) else config_path(*loc) if loc else f"{NAMESPACE}:"
    value = err.get("input")
    if kind == "missing":
        return ConfigIssue(path, "is required but missing", f"set `{path}` in the stack file")
    if kind == "extra_forbidden":
        removed = _removed_key(tuple(err["loc"]))
        if removed is not None:
            return ConfigIssue(path, *removed)
        known = _field_names_at(FactorySpec, loc[:-1])
        return ConfigIssue(path, "is not a known key", did_you_mean(str(loc[-1]), known))
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]
        return ConfigIssue(path, f"'{value}' is not allowed", did_you_mean(str(value), choices))
    if kind == "union_tag_invalid":
        tags = err.get("ctx", {}).get("expected_tags", "")
        return ConfigIssue(path + ".kind", f"kind '{err.get('ctx', {}).get('tag')}' is unknown", f"use one of: {tags}")
    if kind == "union_tag_not_found":
        return ConfigIssue(path + ".kind", "is required but missing", "set `kind` to choose the variant")
    if kind == "config_issue":
        return ConfigIssue(path, err["msg"], err["ctx"]["fix"])
    message = err["msg"].removeprefix("Value error, ")
    return ConfigIssue(path, f"{message} (got {value!r})", _fix_for(kind, err))


def _removed_key(loc: tuple[int | str, ...]) -> tuple[str, str] | None:
    """Why a key 0.1 accepted is gone and what to write instead; None for a key that never existed."""
    if len(loc) == 3 and loc[:2] == ("site", "aws") and isinstance(loc[2], str):
        return REMOVED_AWS_SITE_KEYS.get(loc[2])
    return None


def _fix_for(kind: str, err: Any) -> str:
    ctx = err.get("ctx", {})
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return "use a value within the allowed range"
    if kind == "string_pattern_mismatch":
        return f"use a value matching {ctx.get('pattern')}"
    if kind in ("too_short", "too_long"):
        return "change the number of entries"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "use a value of the expected type"
    return "see the configuration reference in the README"


def _field_names_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Valid keys of the (nested) model at `loc`, for typo suggestions."""
    candidates: list[Any] = [model]
    for part in loc:
        next_candidates: list[Any] = []
        for candidate in candidates:
            if isinstance(part, int):
                next_candidates.extend(_unwrap(candidate))
            elif isinstance(candidate, type) and issubclass(candidate, BaseModel):
                for name, field in candidate.model_fields.items():
                    if part in (name, field.alias):
                        next_candidates.extend(_unwrap(field.annotation))
        candidates = next_candidates
    names: list[str] = []
    for candidate in candidates:
        for inner in [*_unwrap(candidate), candidate]:
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                names.extend(f.alias or n for n, f in inner.model_fields.items())
    return sorted(set(names))


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        result: list[Any] = []
        for arg in typing.get_args(annotation):
            result.extend(_unwrap(arg) if typing.get_origin(arg) else [arg])
        return result
    return [annotation]
