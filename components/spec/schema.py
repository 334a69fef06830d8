"""The JSON Schema (draft 2020-12) of a `Pulumi.<stack>.yaml` stack file, derived from `FactorySpec`.

The model is the one definition of every key: pydantic's `model_json_schema` gives the types, camelCase
aliases, descriptions, enums, bounds and defaults; this module only places the model's keys under the
stack file's `config:` mapping as `aws:region` and `aifactory:<key>`, marks the keys whose explicit
`null` the model refuses (`base.NotNull`) as not nullable, and describes the stack settings file's other
keys (Pulumi docs, "Stack settings file reference": `secretsprovider`, `encryptedkey`, `encryptionsalt`,
`config`, `environment`). `aifactory schema` prints it; `schema/stack.schema.json` is the checked-in copy
for editors (a test keeps it current).
"""

from __future__ import annotations

import json
import typing
from typing import Any

from pydantic import BaseModel

from .base import NotNull
from .errors import NAMESPACE
from .model import FactorySpec

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://aifactory.invalid/schema/stack.schema.json"
"""Names the schema; `.invalid` (RFC 2606) because it is read from the repository, not fetched."""
REGION_KEY = "aws:region"

_REGION = {
    "type": "string",
    # A shape, not an enum: the regions come from the installed botocore's partitions.json, which
    # grows with each release, and the published schema must not change with the machine it is built on.
    "pattern": r"^[a-z]{2,4}(-[a-z]+)+-[0-9]+$",
    "description": "The AWS region every resource is created in (Pulumi's AWS provider key); `aifactory plan` "
    "checks it against the partitions botocore knows. Sovereign stacks must name one of "
    "`sovereignty.allowedRegions`.",
    "examples": ["eu-north-1"],
}


def _models(annotation: Any) -> typing.Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def _all_models() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [FactorySpec]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            todo.extend(_models(field.annotation))
    return seen


def _not_nullable(prop: dict[str, Any]) -> dict[str, Any]:
    """`{anyOf: [X, {type: null}], default: null}` -> X (with the property's description)."""
    branches = [b for b in prop.get("anyOf", []) if b != {"type": "null"}]
    if len(branches) != 1 or len(prop.get("anyOf", [])) != 2:
        return prop
    merged = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    return {**branches[0], **merged}


def _strip_titles(node: Any) -> Any:
    """Pydantic titles repeat the key name; the descriptions say what a key is."""
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def _model_schema() -> dict[str, Any]:
    schema = FactorySpec.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    for model in _all_models():
        target = schema if model is FactorySpec else defs.get(model.__name__)
        if target is None:
            continue
        for name, field in model.model_fields.items():
            key = field.alias or name
            if any(meta is NotNull for meta in field.metadata):
                target["properties"][key] = _not_nullable(target["properties"][key])
            if field.default_factory is not None:
                # Pydantic leaves a factory's default out of the schema; the reference shows it.
                factory = typing.cast(typing.Callable[[], Any], field.default_factory)
                target["properties"][key]["default"] = factory()
    return typing.cast(dict[str, Any], _strip_titles(schema))


def config_keys() -> dict[str, str]:
    """Stack config key (`aws:region`, `aifactory:fleets`) -> the model field it sets."""
    keys = {}
    for name, field in FactorySpec.model_fields.items():
        keys[REGION_KEY if name == "region" else f"{NAMESPACE}:{field.alias or name}"] = name
    return keys


def stack_schema() -> dict[str, Any]:
    """The stack file's JSON Schema."""
    model = _model_schema()
    properties: dict[str, Any] = {}
    for key, name in config_keys().items():
        alias = FactorySpec.model_fields[name].alias or name
        prop = model["properties"][alias]
        properties[key] = _REGION if key == REGION_KEY else prop
    required = [key for key, name in config_keys().items() if FactorySpec.model_fields[name].is_required()]
    known = "|".join(sorted(k.removeprefix(f"{NAMESPACE}:") for k in properties if k.startswith(f"{NAMESPACE}:")))
    config = {
        "type": "object",
        "description": "The stack's configuration: `aws:region` and the `aifactory:` keys. Keys of other "
        "namespaces (other providers' settings) are Pulumi's and may hold `secure:` values; an `aifactory:` "
        "key must be plain text.",
        "properties": properties,
        "required": required,
        # ECMA-262 and Python regular expressions both read the negative lookahead: an `aifactory:` key
        # the model does not know is refused, any other namespace's key is left to Pulumi.
        "patternProperties": {f"^{NAMESPACE}:(?!({known})$)": False},
        "additionalProperties": True,
    }
    environment_name = {"type": "string", "minLength": 1, "description": "`<project>/<environment>`"}
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID,
        "title": "aifactory stack file (Pulumi.<stack>.yaml)",
        "description": "Generated from the aifactory config model by `aifactory schema`; see docs/reference.md.",
        "type": "object",
        "required": ["config"],
        "properties": {
            "config": config,
            "secretsprovider": {"type": "string", "description": "The stack's secrets provider (Pulumi)."},
            "encryptedkey": {"type": "string", "description": "The secrets provider's encrypted data key (Pulumi)."},
            "encryptionsalt": {"type": "string", "description": "The passphrase provider's salt (Pulumi)."},
            "environment": {
                "description": "Pulumi ESC environments the stack imports. `aifactory plan` does not resolve "
                "them offline and says so; their values are missing from the plan.",
                "oneOf": [
                    {"type": "array", "items": environment_name, "minItems": 1},
                    {
                        "type": "object",
                        "required": ["imports"],
                        "properties": {
                            "imports": {
                                "description": "Environment names, or one-key mappings of a name to its "
                                "import options.",
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "oneOf": [
                                        environment_name,
                                        {"type": "object", "minProperties": 1, "maxProperties": 1},
                                    ]
                                },
                            }
                        },
                    },
                ],
            },
        },
        "$defs": model.get("$defs", {}),
    }


_PROJECT_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean"}
"""JSON Schema types a Pulumi project file can declare a config key as (Pulumi's project-file schema,
sdk/go/common/workspace/project.json: `simpleConfigType` is string, integer, boolean or array, and an
array's `items` are again one of those, so an object or a list of objects has no declaration)."""


def _project_type(node: dict[str, Any]) -> dict[str, Any] | None:
    kind = node.get("type")
    if kind in _PROJECT_TYPES:
        return {"type": _PROJECT_TYPES[kind]}
    if kind == "array":
        items = _project_type(node.get("items", {}))
        return {"type": "array", "items": items} if items is not None else None
    return None


def project_config() -> dict[str, dict[str, Any]]:
    """The `config:` block `Pulumi.yaml` declares: every `aifactory:` key Pulumi can type.

    Pulumi project file reference, "config options" (and pulumi/pulumi workspace/project.go): a key
    in the project's namespace may declare `type`, `description` and `default`; a declared key without
    a default must then be set by every stack ("Stack ... is missing configuration value"). So a key is
    declared when its value is a scalar or a list of scalars and the model either requires it or has a
    default for it; the object keys (`fleets`, `network`, `storage`, ...) cannot be typed by a project
    file, and an optional key without a default would become required. The project name is the
    namespace (`aifactory`), so the keys are written without it. `aws:region` belongs to the AWS
    provider's namespace, which a project file may only give a fixed `value`, not declare.
    """
    model = _model_schema()
    declared: dict[str, dict[str, Any]] = {}
    for name, field in FactorySpec.model_fields.items():
        if name == "region":
            continue
        key = field.alias or name
        prop = model["properties"][key]
        typed = _project_type(prop)
        if typed is None:
            continue
        if not field.is_required() and prop.get("default") is None:
            continue
        entry = {**typed, "description": field.description or ""}
        if not field.is_required():
            entry["default"] = prop["default"]
        declared[key] = entry
    return declared


def schema_text() -> str:
    """The schema as `schema/stack.schema.json` holds it (stable key order, final newline)."""
    return json.dumps(stack_schema(), indent=2) + "\n"


__all__ = ["config_keys", "project_config", "schema_text", "stack_schema"]
