"""Required tags on every taggable AWS resource."""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from collections.abc import Mapping
from typing import Any

from ..invariants import is_unknown
from .registry import policy
from .runner import LAUNCH_TEMPLATE, PolicyConfig, dicts, tags_of


@functools.cache
def _taggable(resource_type: str) -> bool:
    """Whether the pulumi-aws resource class for a type token accepts `tags`."""
    match = re.fullmatch(r"aws:([a-zA-Z0-9]+)/[a-zA-Z0-9]+:([A-Za-z0-9]+)", resource_type)
    if not match:
        return False
    try:
        module = importlib.import_module(f"pulumi_aws.{match.group(1)}")
        cls = getattr(module, match.group(2))
    except (ImportError, AttributeError):
        return False
    return "tags" in inspect.signature(cls._internal_init).parameters


@policy(
    "required-tags",
    fix="add the missing tag keys, or set them once in the AWS provider's `defaultTags`",
    enforcement="advisory",
    description="Every taggable AWS resource carries the factory, profile (and, sovereign, data-residency) tags.",
    config_keys=("requiredTags",),
)
def check_required_tags(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Every taggable AWS resource carries the required tag keys (own tags or provider defaultTags)."""
    if not _taggable(resource_type):
        return []
    tags = props.get("tags")
    if is_unknown(tags) and "tags" in props:
        return []
    present = set(tags_of(props)) | set(config.default_tags)
    missing = [k for k in config.tag_keys() if k not in present]
    out = [f"missing tags {missing}"] if missing else []
    if resource_type == LAUNCH_TEMPLATE:
        for i, spec in enumerate(dicts(props.get("tagSpecifications"))):
            spec_tags = spec.get("tags")
            if isinstance(spec_tags, Mapping):
                lacking = [k for k in config.tag_keys() if k not in spec_tags and k not in config.default_tags]
                if lacking:
                    out.append(f"tagSpecifications[{i}] ({spec.get('resourceType')}) lacks tags {lacking}")
    return out
