"""Tags every taggable resource of a factory carries."""

from __future__ import annotations

TAG_FACTORY = "aifactory:factory"
TAG_PROFILE = "aifactory:profile"
TAG_RESIDENCY = "aifactory:data-residency"
# Marks the EFA security group so reviewers and policies can find it.
TAG_ROLE = "aifactory:role"
ROLE_EFA = "efa"


def factory_tags(factory: str, profile: str, region: str, sovereign: bool) -> dict[str, str]:
    tags = {TAG_FACTORY: factory, TAG_PROFILE: profile}
    if sovereign:
        tags[TAG_RESIDENCY] = region
    return tags
