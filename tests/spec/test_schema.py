"""The stack file's JSON Schema and the key reference, both generated from the config model: current
in the repository, every example stack valid, broken stacks refused, every field described."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aifactory.cli.main import main
from aifactory.spec.base import UNIT_KEY
from aifactory.spec.model import FactorySpec
from aifactory.spec.reference import reference_rows, reference_text
from aifactory.spec.schema import DIALECT, config_keys, schema_text, stack_schema
from aifactory.spec.stackfile import parse
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
REGENERATE = "run `python tools/gen_reference.py` and commit the result"


def _validator() -> jsonschema.protocols.Validator:
    schema = stack_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _document(path: Path) -> Any:
    # The stack-file loader's own parse: YAML timestamps keep their text, as the model reads them.
    return parse(path.read_text(), str(path))[0]


def test_schema_is_draft_2020_12_and_the_checked_in_copy_is_current() -> None:
    assert stack_schema()["$schema"] == DIALECT
    assert (ROOT / "schema" / "stack.schema.json").read_text() == schema_text(), REGENERATE


def test_reference_is_current() -> None:
    assert (ROOT / "docs" / "reference.md").read_text() == reference_text(), REGENERATE


def test_schema_command_prints_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == stack_schema()
    assert main(["schema", "--markdown"]) == 0
    assert capsys.readouterr().out == reference_text()


def test_config_keys_are_the_models_keys_with_their_yaml_names() -> None:
    config = stack_schema()["properties"]["config"]
    assert set(config["properties"]) == set(config_keys())
    assert "aws:region" in config["properties"] and "aifactory:fleets" in config["properties"]
    assert set(config["required"]) == {"aws:region", "aifactory:profile", "aifactory:fleets"}
    fleet = stack_schema()["$defs"]["Fleet"]["properties"]
    assert {"instanceType", "rootVolumeGiB", "gpuPowerCapW"} <= set(fleet)  # camelCase, as the YAML writes them
    assert fleet["count"]["minimum"] == 1 and fleet["count"]["maximum"] == 100_000
    assert fleet["strategy"]["enum"] == ["pack", "spread"] and fleet["strategy"]["default"] == "pack"


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.name)
def test_every_example_stack_validates(path: Path) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(_document(path))]
    assert errors == []


def _broken(change: str) -> dict[str, Any]:
    document = typing.cast(dict[str, Any], _document(ROOT / "stacks" / "Pulumi.dev.yaml"))
    config = document["config"]
    if change == "unknown-key":
        config["aifactory:fleet"] = config["aifactory:fleets"]
    elif change == "nested-unknown-key":
        config["aifactory:fleets"][0]["instancetype"] = "p5.48xlarge"
    elif change == "bad-enum":
        config["aifactory:profile"] = "sovereing"
    elif change == "count-zero":
        config["aifactory:fleets"][0]["count"] = 0
    elif change == "count-string":
        config["aifactory:fleets"][0]["count"] = "2"
    elif change == "no-fleets":
        del config["aifactory:fleets"]
    elif change == "null-section":
        config["aifactory:storage"] = None
    elif change == "secure-factory-key":
        config["aifactory:profile"] = {"secure": "AAAB"}
    elif change == "bad-taint":
        config["aifactory:fleets"][0]["taints"] = ["gpu=yes"]
    elif change == "unknown-scheduler-kind":
        config["aifactory:scheduler"] = {"kind": "nomad"}
    elif change == "malformed-region":
        # An unknown but well-formed name (us-east-9) passes the schema; `plan` refuses it against botocore.
        config["aws:region"] = "us-east-1a"
    return document


@pytest.mark.parametrize(
    "change",
    [
        "unknown-key",
        "nested-unknown-key",
        "bad-enum",
        "count-zero",
        "count-string",
        "no-fleets",
        "null-section",
        "secure-factory-key",
        "bad-taint",
        "unknown-scheduler-kind",
        "malformed-region",
    ],
)
def test_a_broken_stack_fails_the_schema(change: str) -> None:
    assert not _validator().is_valid(_broken(change))


def test_other_namespaces_and_their_secrets_are_left_to_pulumi() -> None:
    document = _broken("none")
    document["config"]["aws:secretKey"] = {"secure": "AAAB"}
    document["environment"] = ["myorg/dev"]
    assert _validator().is_valid(document)


def _models() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    todo: list[Any] = [FactorySpec]
    while todo:
        annotation = todo.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                continue
            seen.append(annotation)
            todo.extend(field.annotation for field in annotation.model_fields.values())
        todo.extend(typing.get_args(annotation))
    return seen


def test_every_field_has_a_description() -> None:
    missing = [
        f"{model.__name__}.{field.alias or name}"
        for model in _models()
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert len(_models()) > 15
    assert missing == [], "describe these fields (with their unit) in components/spec/"


def test_every_number_has_a_unit() -> None:
    rows = [r for r in reference_rows() if "integer" in r.type or "number" in r.type]
    assert len(rows) > 20
    assert [r.key for r in rows if not r.unit] == []
    assert stack_schema()["$defs"]["Fleet"]["properties"]["rootVolumeGiB"][UNIT_KEY] == "GiB"


def test_every_reference_row_has_type_default_description_and_example() -> None:
    rows = reference_rows()
    assert len(rows) > 100
    for row in rows:
        assert row.type and row.default and row.description, row
        assert row.example, row.key


def test_the_reference_names_every_leaf_key_of_the_example_stacks() -> None:
    documented = {r.key.replace(" (kind: kubernetes)", "").replace(" (kind: slurm)", "") for r in reference_rows()}
    documented |= {k.replace(" (kind: datahall)", "").replace(" (kind: aws)", "") for k in documented}
    documented |= {re.sub(r" \(kind: [a-z-]+\)", "", k) for k in documented}

    def paths(value: Any, path: str) -> typing.Iterator[str]:
        yield path
        if isinstance(value, dict) and not path.endswith(("labels", "images")):
            for key, child in value.items():
                yield from paths(child, f"{path}.{key}")
        elif isinstance(value, list):
            for child in value:
                yield from paths(child, f"{path}[]")

    for stack in STACKS:
        for key, value in _document(stack)["config"].items():
            for path in paths(value, key):
                if not path.endswith("]"):
                    assert path in documented, f"{stack.name}: {path}"


def test_the_region_shape_admits_every_known_region_and_the_schema_does_not_list_them() -> None:
    """The published schema is the same whatever botocore a machine has: it gives the region's shape,
    and `plan` checks the name against botocore's partitions."""
    import re

    from aifactory.catalog.regions import all_regions
    from aifactory.spec.schema import stack_schema

    region = stack_schema()["properties"]["config"]["properties"]["aws:region"]
    assert "enum" not in region
    shape = re.compile(region["pattern"])
    assert [r for r in all_regions() if not shape.match(r)] == []
    assert not shape.match("us-east") and not shape.match("US-EAST-1") and not shape.match("us-east-1a")
