"""The AI factory's policy pack: plain functions in one registry, with two runners.

Each concern module registers its checks with `@policy` / `@stack_policy` (`registry`);
`run_policies` (`runner`) runs them over plan JSON for `aifactory plan` / `policy-check`, and
`build_policies` (`crossguard`) turns the same registry into the CrossGuard objects that
`policy/__main__.py` packs.
"""

from __future__ import annotations

# Re-exported: the tag vocabulary the policies read (TAG_ROLE: ROLE_EFA marks the EFA group).
from ..tags import ROLE_EFA, TAG_FACTORY, TAG_PROFILE, TAG_RESIDENCY, TAG_ROLE

# Importing the concern modules registers their policies; the registry's order is this order.
from . import cluster, compute, identity, keys, logging, network, site, sovereignty, storage, tags
from .compute import (
    check_efa_layout,
    check_encrypted_disks,
    check_imdsv2,
    check_no_placement_group_on_reserved_capacity,
)
from .crossguard import build_policies
from .identity import check_iam_lint, check_iam_wildcards
from .network import check_efa_security_group, check_no_open_ingress, check_no_public_network, check_private_endpoint
from .registry import POLICIES, Level, PolicyDef, inventory_policy, policy, stack_policy
from .runner import (
    CONFIG_SCHEMA,
    PLACEMENT_INPUT,
    PolicyConfig,
    Violation,
    default_required_tags,
    placement_from_resources,
    run_policies,
)
from .site import check_rack_power
from .sovereignty import check_allowed_regions, check_allowed_registries, check_customer_managed_keys, registry_allowed
from .storage import check_fsx_lustre
from .tags import check_required_tags

__all__ = [
    "CONFIG_SCHEMA",
    "PLACEMENT_INPUT",
    "POLICIES",
    "ROLE_EFA",
    "TAG_FACTORY",
    "TAG_PROFILE",
    "TAG_RESIDENCY",
    "TAG_ROLE",
    "Level",
    "PolicyConfig",
    "PolicyDef",
    "Violation",
    "build_policies",
    "check_allowed_regions",
    "check_allowed_registries",
    "check_customer_managed_keys",
    "check_efa_layout",
    "check_efa_security_group",
    "check_encrypted_disks",
    "check_fsx_lustre",
    "check_iam_lint",
    "check_iam_wildcards",
    "check_imdsv2",
    "check_no_open_ingress",
    "check_no_placement_group_on_reserved_capacity",
    "check_no_public_network",
    "check_private_endpoint",
    "check_rack_power",
    "check_required_tags",
    "cluster",
    "compute",
    "default_required_tags",
    "identity",
    "inventory_policy",
    "keys",
    "logging",
    "network",
    "placement_from_resources",
    "policy",
    "registry_allowed",
    "run_policies",
    "site",
    "sovereignty",
    "stack_policy",
    "storage",
    "tags",
]
