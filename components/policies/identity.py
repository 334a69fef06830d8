"""IAM: policy documents on roles, policies, buckets, keys and secrets."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from ..invariants import is_unknown
from .registry import policy
from .runner import PolicyConfig, dicts, strings

# IAM policy documents by resource type: (property path, is a trust policy). Property names from
# pulumi-aws 7.x (iam/role.py assume_role_policy, inline_policies; iam/*_policy.py policy;
# s3/bucket_policy.py).
_POLICY_DOCS: dict[str, tuple[tuple[str, bool], ...]] = {
    "aws:iam/role:Role": (("assumeRolePolicy", True), ("inlinePolicies[].policy", False)),
    "aws:iam/rolePolicy:RolePolicy": (("policy", False),),
    "aws:iam/policy:Policy": (("policy", False),),
    "aws:iam/userPolicy:UserPolicy": (("policy", False),),
    "aws:iam/groupPolicy:GroupPolicy": (("policy", False),),
    "aws:s3/bucketPolicy:BucketPolicy": (("policy", False),),
    "aws:kms/key:Key": (("policy", False),),
    "aws:secretsmanager/secretPolicy:SecretPolicy": (("policy", False),),
}


def _policy_documents(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any, bool]]:
    """(where, parsed document, is trust policy) for each known JSON policy document."""
    for path, trust in _POLICY_DOCS.get(resource_type, ()):
        if path.endswith("[].policy"):
            key = path.split("[")[0]
            candidates = [(f"{key}[{i}].policy", d.get("policy")) for i, d in enumerate(dicts(props.get(key)))]
        else:
            candidates = [(path, props.get(path))]
        for where, raw in candidates:
            if raw is None or is_unknown(raw):
                continue
            if isinstance(raw, str):
                try:
                    doc = json.loads(raw)
                except ValueError as exc:
                    yield where, exc, trust
                    continue
            else:
                doc = raw
            if any(is_unknown(s) for s in strings(doc)):
                continue  # an Output still unresolved inside the document: lint it once it is known
            yield where, doc, trust


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


@policy(
    "iam-no-wildcard-admin",
    enforcement="mandatory",
    description="No IAM statement allows every action, or iam:PassRole, on every resource.",
)
def check_iam_wildcards(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No Allow of every action (`*`, `*:*`) or of `iam:PassRole` on every resource (`*`)."""
    out: list[str] = []
    for where, doc, _trust in _policy_documents(resource_type, props):
        if not isinstance(doc, Mapping):
            continue
        for i, stmt in enumerate(dicts(_as_list(doc.get("Statement")))):
            if stmt.get("Effect") != "Allow" or "*" not in _as_list(stmt.get("Resource")):
                continue
            actions = [a for a in _as_list(stmt.get("Action")) if isinstance(a, str)]
            if any(a in ("*", "*:*") for a in actions):
                out.append(f"{where} Statement[{i}] allows every action on every resource")
            passrole = [a for a in actions if re.fullmatch(r"iam:(\*|Pass\*|PassRole)", a, re.IGNORECASE)]
            if passrole:
                out.append(f"{where} Statement[{i}] allows {passrole[0]} on every role (Resource '*')")
    return out


_PARLIAMENT_BLOCKING = frozenset({"HIGH", "CRITICAL"})


# Parliament lints identity policies; a trust policy has a Principal and no Resource (IAM user
# guide, "Role trust policies"), which parliament reports as this MALFORMED finding.
_TRUST_NO_RESOURCE = "Statement contains neither Resource nor NotResource"


@policy(
    "iam-policy-lint",
    enforcement="mandatory",
    description="Every IAM policy document passes parliament with no high or critical finding.",
)
def check_iam_lint(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """Every IAM policy document passes parliament (offline IAM linter) with no high/critical finding."""
    documents = list(_policy_documents(resource_type, props))
    if not documents:
        return []
    with warnings.catch_warnings():
        # parliament imports pkg_resources, which warns on import; the warning is not ours to act on.
        warnings.simplefilter("ignore", UserWarning)
        import parliament  # slow import (loads the IAM definition); only when there is a document

    out: list[str] = []
    for where, doc, trust in documents:
        if isinstance(doc, Exception):
            out.append(f"{where} is not valid JSON: {doc}")
            continue
        for finding in parliament.analyze_policy_string(json.dumps(doc)).findings:
            severity = parliament.config.get(finding.issue, {}).get("severity", "")
            if severity not in _PARLIAMENT_BLOCKING:
                continue
            if trust and finding.issue == "MALFORMED" and finding.detail == _TRUST_NO_RESOURCE:
                continue
            out.append(f"{where}: parliament {severity} {finding.issue}: {finding.detail}")
    return out
