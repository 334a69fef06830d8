"""The component provider: other Pulumi languages use the components through `pulumi package add`.

`provider/__main__.py` hosts `COMPONENTS` with `component_provider_host`; `provider_schema()` is
the schema Pulumi infers from their type annotations, generated offline by the SDK's analyzer.
"""

import json
from typing import Any

from pulumi.provider.experimental.analyzer import Analyzer
from pulumi.provider.experimental.schema import generate_schema

from . import COMPONENTS, __version__

PROVIDER_NAME = "aifactory"


def provider_schema() -> dict[str, Any]:
    """The package schema of every component, as the provider host would serve it."""
    result = Analyzer(PROVIDER_NAME).analyze(list(COMPONENTS))
    spec = generate_schema(
        PROVIDER_NAME,
        __version__,
        None,
        result["component_definitions"],
        result["type_definitions"],
        sorted(result["dependencies"], key=str),
    )
    # A JSON round trip drops the SDK's None-valued fields the same way the host's serialisation does.
    return json.loads(json.dumps(_without_nulls(spec.to_json()), sort_keys=True))


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
