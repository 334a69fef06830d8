"""KMS keys: automatic rotation.

Control ids and titles: AWS Security Hub user guide, "Security Hub controls for AWS KMS"; CIS AWS
Foundations Benchmark v3.0.0 3.6 ("Ensure rotation for customer-created symmetric CMKs is enabled").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .registry import policy
from .runner import PolicyConfig, known, truthy

KMS_KEY = "aws:kms/key:Key"

# Automatic rotation exists only for symmetric encryption keys with key material KMS generated
# (KMS developer guide, "Rotate AWS KMS keys": not asymmetric, HMAC, imported or custom key store).
_ROTATABLE_SPEC = "SYMMETRIC_DEFAULT"


@policy(
    "kms-key-rotation",
    fix="set `enableKeyRotation: true` on the key",
    enforcement="mandatory",
    description="[KMS.4] AWS KMS key rotation should be enabled (CIS 3.6) on every symmetric key the factory creates.",
)
def check_kms_rotation(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Symmetric customer-managed keys rotate their key material automatically.

    `enableKeyRotation` defaults to false and `customerMasterKeySpec` to SYMMETRIC_DEFAULT
    (pulumi-aws kms/key.py; KMS API reference, CreateKey / EnableKeyRotation).
    """
    if resource_type != KMS_KEY:
        return []
    spec = props.get("customerMasterKeySpec", props.get("keySpec", _ROTATABLE_SPEC))
    if not known(spec) or spec != _ROTATABLE_SPEC or props.get("customKeyStoreId"):
        return []
    rotation = props.get("enableKeyRotation", False)
    if not known(rotation) or truthy(rotation):
        return []
    return ["enableKeyRotation is not true; turn on automatic yearly rotation of the key material"]
