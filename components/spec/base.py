"""The base of every config model: camelCase keys, unknown keys rejected, immutable."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


class SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        # NaN and infinities are valid YAML (`.nan`, `.inf`) but not JSON, and compare false with
        # every bound; no number in a stack config may be one (numbers.py).
        allow_inf_nan=False,
    )


def _not_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError(
            "config_issue",
            "is null; an explicit null is not the same as leaving the key out",
            {"fix": "remove the key to use its default, or give it a mapping"},
        )
    return value


NotNull = BeforeValidator(_not_null)
"""For optional mapping-valued keys (`Annotated[StorageSpec | None, NotNull] = None`): the key may be
absent, but `scheduler: null` (a YAML `scheduler:` with nothing under it) is a config error naming it."""


UNIT_KEY = "x-unit"
"""The JSON Schema annotation (an `x-` keyword, which validators ignore) naming a number's unit."""


def unit(symbol: str) -> dict[str, Any]:
    """`Field(json_schema_extra=unit("kW"))`: the unit the schema and the reference show for a number."""
    return {UNIT_KEY: symbol}
