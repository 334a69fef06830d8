"""Whether every rendered artifact AWS stores fits the size AWS accepts: SSM documents, EC2 user data
(instances and launch templates) and Image Builder component documents.

Several of them carry files whose size follows the factory's size (the Slurm head's user data carries
slurm.conf and the topology, which list every placement domain; the SSM join document carries the
node scripts), so a factory that plans fine at 1,000 nodes can be refused by the API at 12,500. The
sizes are measured on the planned resources, as the API would receive them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .inventory import Inventory
from .registry import Finding, rule

SSM_DOCUMENT_MAX_BYTES = 64 * 1024
"""Systems Manager API reference, CreateDocument `Content`: "The content of the document must not
exceed 64KB" (MaxDocumentSizeExceeded: "The size limit of a document is 64 KB")."""

USER_DATA_MAX_BYTES = 16 * 1024
"""EC2 user guide, "Work with instance user data": "User data is limited to 16 KB, in raw form, before
it is base64-encoded" (the gzip bytes of a compressed script, not the script)."""

COMPONENT_DATA_MAX_CHARS = 16_000
"""EC2 Image Builder API reference, CreateComponent `data`: "Length Constraints: Minimum length of 1.
Maximum length of 16000" (a larger document goes to S3 and is named by `uri`)."""


@dataclass(frozen=True)
class Artifact:
    """One size-limited value of a planned resource."""

    subject: str
    what: str
    size: int
    limit: int
    unit: str


def _decoded(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value.encode()


def _user_data(resource: Mapping[str, Any]) -> int | None:
    """Raw user data bytes: an instance's `userDataBase64` (or plain `userData`), a launch template's
    `userData` (base64-encoded, as the API takes it)."""
    inputs = resource.get("inputs") or {}
    if resource["type"] == "aws:ec2/instance:Instance":
        if isinstance(inputs.get("userDataBase64"), str):
            return len(_decoded(inputs["userDataBase64"]))
        return len(inputs["userData"].encode()) if isinstance(inputs.get("userData"), str) else None
    return len(_decoded(inputs["userData"])) if isinstance(inputs.get("userData"), str) else None


def artifacts(inv: Inventory) -> Iterator[Artifact]:
    """Every size-limited value among the planned resources, with its size and AWS's limit."""
    for r in inv.by_type("aws:ssm/document:Document"):
        content = (r.get("inputs") or {}).get("content")
        if isinstance(content, str):
            size = len(content.encode())
            yield Artifact(f"SSM document {r['name']}", "content", size, SSM_DOCUMENT_MAX_BYTES, "B")
    for r in inv.by_type("aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate"):
        size_or_none = _user_data(r)
        if size_or_none is not None:
            kind = "instance" if r["type"] == "aws:ec2/instance:Instance" else "launch template"
            yield Artifact(f"{kind} {r['name']}", "user data", size_or_none, USER_DATA_MAX_BYTES, "B")
    for r in inv.by_type("aws:imagebuilder/component:Component"):
        data = (r.get("inputs") or {}).get("data")
        if isinstance(data, str):
            yield Artifact(f"Image Builder component {r['name']}", "data", len(data), COMPONENT_DATA_MAX_CHARS, "chars")


def _over(inv: Inventory, what: str, fix: str, rule_id: str) -> Iterator[Finding]:
    for a in artifacts(inv):
        if a.what == what and a.size > a.limit:
            yield Finding(
                rule_id,
                a.subject,
                f"its {a.what} is {a.size:,} {a.unit}, over the {a.limit:,} {a.unit} AWS accepts; {fix}",
            )


@rule(
    "limits.ssm-document",
    "every SSM document's content is at most 64 KB",
    "Systems Manager API reference, CreateDocument (Content; MaxDocumentSizeExceeded)",
)
def ssm_documents(inv: Inventory) -> Iterator[Finding]:
    yield from _over(
        inv,
        "content",
        "the Slurm join document carries the node scripts, which grow with the kinds of node: "
        "use fewer fleet kinds per cluster or split the factory into stacks",
        "limits.ssm-document",
    )


@rule(
    "limits.user-data",
    "every instance's and launch template's user data is at most 16 KB before base64",
    "EC2 user guide, 'Work with instance user data'",
)
def user_data(inv: Inventory) -> Iterator[Finding]:
    yield from _over(
        inv,
        "user data",
        "fetch large files at boot (S3) instead of carrying them, or split the factory into stacks (the "
        "Slurm head's carries slurm.conf and the topology, a record per placement domain, i.e. per rack "
        "of a data hall)",
        "limits.user-data",
    )


@rule(
    "limits.component-document",
    "every inline Image Builder component document is at most 16,000 characters",
    "EC2 Image Builder API reference, CreateComponent (data)",
)
def component_documents(inv: Inventory) -> Iterator[Finding]:
    yield from _over(
        inv,
        "data",
        "shorten the node image recipe's component or ship its document from S3 (`uri`)",
        "limits.component-document",
    )
