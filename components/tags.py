"""Tags every taggable resource of a factory carries."""

from __future__ import annotations

TAG_FACTORY = "aifactory:factory"
TAG_PROFILE = "aifactory:profile"
TAG_RESIDENCY = "aifactory:data-residency"
# Marks the EFA security group so reviewers and policies can find it.
TAG_ROLE = "aifactory:role"
ROLE_EFA = "efa"
# On an FSx for Lustre file system linked to S3: FSx cannot back it up (FSx API reference,
# DeleteFileSystem: "Backups cannot be enabled on S3-linked file systems"; CreateFileSystemLustre
# Configuration.CopyTagsToBackups: "Not available for use with file systems that are linked to a
# data repository"), so the backup policies judge it by this tag; the value is the bucket.
TAG_DATA_REPOSITORY = "aifactory:data-repository"


def factory_tags(factory: str, profile: str, region: str, sovereign: bool) -> dict[str, str]:
    tags = {TAG_FACTORY: factory, TAG_PROFILE: profile}
    if sovereign:
        tags[TAG_RESIDENCY] = region
    return tags
