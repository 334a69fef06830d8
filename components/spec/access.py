"""`aifactory:access`: who administers what the factory deploys.

One list of IAM principals, the factory's administrators: they administer the customer-managed key
(a key policy statement with the administrative actions only, never use of the key) and are cluster
admins of the EKS cluster (an access entry each). Nothing else is granted to them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from .base import SpecModel
from .errors import ConfigIssue

if TYPE_CHECKING:
    from .model import FactorySpec

# IAM identifiers: arn:<partition>:iam::<12-digit account>:role|user/<optional path/>name, names of
# letters, digits and +=,.@_- (IAM user guide, "IAM identifiers" and "IAM object quotas": role and user
# names up to 64 characters, paths up to 512).
PRINCIPAL_ARN = re.compile(
    r"^arn:(?P<partition>aws(-[a-z]+)*):iam::(?P<account>[0-9]{12}):(?P<kind>role|user)"
    r"/(?P<path>([\w+=,.@-]+/){0,32})(?P<name>[\w+=,.@-]{1,64})$",
    re.ASCII,
)


class AccessSpec(SpecModel):
    """Administrators of the factory's key and cluster."""

    administrators: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="IAM role or user ARNs (`arn:<partition>:iam::<account>:role/<name>`) that administer the "
        "customer-managed key (create, describe, enable, disable, schedule deletion, update policy: no "
        "encrypt or decrypt) and get an EKS cluster-admin access entry.",
        examples=[["arn:aws:iam::123456789012:role/FactoryAdmin"]],
    )

    @field_validator("administrators")
    @classmethod
    def _arns(cls, values: list[str]) -> list[str]:
        for value in values:
            if not PRINCIPAL_ARN.match(value):
                raise ValueError(
                    f"{value!r} is not an IAM role or user ARN such as arn:aws:iam::123456789012:role/Admin"
                )
        if len(set(values)) != len(values):
            raise ValueError("an administrator is listed twice")
        return values


def administrators_in_partition(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Every administrator is a principal of the stack's partition (a key policy or an access entry
    naming another partition's principal is refused by KMS and EKS), all of one account."""
    access = spec.access
    if access is None:
        return
    accounts = set()
    for i, arn in enumerate(access.administrators):
        match = PRINCIPAL_ARN.match(arn)
        assert match is not None  # the model checked the form
        accounts.add(match["account"])
        if match["partition"] != spec.partition:
            yield ConfigIssue(
                f"aifactory:access.administrators[{i}]",
                f"{arn} is in partition {match['partition']}, "
                f"but the stack's region {spec.region} is in {spec.partition}",
                f"use the principal's ARN in the form arn:{spec.partition}:iam::<account>:role/<name>",
            )
    if len(accounts) > 1:
        yield ConfigIssue(
            "aifactory:access.administrators",
            f"the administrators belong to {len(accounts)} accounts ({', '.join(sorted(accounts))})",
            "list roles of the stack's own account; grant other accounts through a role in this one",
        )


ACCESS_RULES = (administrators_in_partition,)
