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
    "aws:sns/topicPolicy:TopicPolicy": (("policy", False),),
    "aws:sns/topic:Topic": (("policy", False),),
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
    fix="list the actions the role needs, and for `iam:PassRole` the ARNs of the roles it may pass",
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
    fix="correct the policy document as the finding says (parliament's issue text names the statement)",
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


# Identity-based policy documents (attached to a principal), as opposed to resource policies on
# buckets, keys and secrets. [IAM.21], [KMS.1] and [KMS.2] judge these only.
_IDENTITY_TYPES = frozenset(
    {
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/policy:Policy",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
    }
)


def _allow_statements(
    resource_type: str, props: Mapping[str, Any], *, identity_only: bool
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, statement) for every Allow statement of a permissions policy (trust policies excluded)."""
    if identity_only and resource_type not in _IDENTITY_TYPES:
        return
    for where, doc, trust in _policy_documents(resource_type, props):
        if trust or not isinstance(doc, Mapping):
            continue
        for i, stmt in enumerate(dicts(_as_list(doc.get("Statement")))):
            if stmt.get("Effect") == "Allow":
                yield f"{where} Statement[{i}]", stmt


def _actions(stmt: Mapping[str, Any]) -> list[str]:
    return [a for a in _as_list(stmt.get("Action")) if isinstance(a, str)]


@policy(
    "iam-no-service-wildcard",
    fix="replace `service:*` with the actions the role calls (a prefix such as `ec2:Describe*` is allowed)",
    enforcement="mandatory",
    description=(
        "[IAM.21] IAM customer managed policies that you create should not allow wildcard actions "
        "for services ('svc:*')."
    ),
)
def check_iam_service_wildcards(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No identity policy allows every action of a service (`ec2:*`).

    Security Hub [IAM.21] (AWS Config rule iam-policy-no-statements-with-full-access) fails
    `"Action": "service:*"`; a prefix with a wildcard suffix (`ec2:Describe*`) passes. Every action
    on every service (`*`) is [IAM.1], `iam-no-wildcard-admin`.
    """
    out: list[str] = []
    for where, stmt in _allow_statements(resource_type, props, identity_only=True):
        wild = sorted({a for a in _actions(stmt) if re.fullmatch(r"[A-Za-z0-9-]+:\*", a)})
        if wild:
            out.append(f"{where} allows every action of a service: {wild}; list the actions it needs")
    return out


# kms:Decrypt and kms:ReEncryptFrom are the actions [KMS.1]/[KMS.2] block on all keys (parameter
# blockedActionsPatterns); any action pattern that matches one of them counts.
_DECRYPT_ACTIONS = ("kms:decrypt", "kms:reencryptfrom")


def _matches_decrypt(action: str) -> bool:
    pattern = "^" + re.escape(action.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return any(re.match(pattern, a) for a in _DECRYPT_ACTIONS)


@policy(
    "kms-no-wildcard-decrypt",
    fix=(
        "name the key ARNs in `Resource` for `kms:Decrypt` / `kms:ReEncryptFrom`, or add a `kms:ViaService` /"
        " `kms:CallerAccount` condition"
    ),
    enforcement="mandatory",
    description=(
        "[KMS.1] [KMS.2] IAM policies (customer managed and inline) should not allow decryption "
        "actions on all KMS keys."
    ),
)
def check_kms_wildcard_decrypt(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No identity policy allows kms:Decrypt or kms:ReEncryptFrom on every key (`Resource: "*"`).

    [KMS.1] judges customer managed policies, [KMS.2] inline policies of roles, users and groups;
    both fail a statement allowing those actions on all keys. Key policies are resource policies
    (`"Resource": "*"` there means the key itself) and are not judged here.
    """
    out: list[str] = []
    for where, stmt in _allow_statements(resource_type, props, identity_only=True):
        if "*" not in _as_list(stmt.get("Resource")):
            continue
        decrypt = [a for a in _actions(stmt) if _matches_decrypt(a)]
        if decrypt:
            out.append(f"{where} allows {decrypt[0]} on every KMS key (Resource '*'); name the keys")
    return out


# Condition keys that tie an otherwise public principal to one account, organization or AWS service
# call (IAM user guide, "AWS global condition context keys"; KMS developer guide, "kms:CallerAccount",
# "kms:ViaService").
_SCOPING_CONDITION_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:PrincipalAccount",
        "aws:PrincipalOrgID",
        "aws:PrincipalArn",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceOrgID",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "kms:CallerAccount",
    )
)


def _public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in _as_list(principal.get(k)) for k in ("AWS", "CanonicalUser"))
    return False


def _scoped(stmt: Mapping[str, Any]) -> bool:
    condition = stmt.get("Condition")
    if not isinstance(condition, Mapping):
        return False
    keys = {str(k).lower() for block in condition.values() if isinstance(block, Mapping) for k in block}
    return bool(keys & _SCOPING_CONDITION_KEYS)


@policy(
    "no-public-principal",
    fix=(
        "name the account, role or service principal, or add an `aws:SourceAccount`, `aws:SourceArn`, "
        "`aws:PrincipalAccount` or `aws:PrincipalOrgID` condition"
    ),
    enforcement="mandatory",
    description=(
        "[KMS.5] [S3.2] [S3.3] No trust, key, bucket, secret or topic policy allows Principal '*' unless a "
        "condition ties it to an account, organization or source."
    ),
)
def check_public_principal(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    """No policy document allows everyone (`"Principal": "*"` or `{"AWS": "*"}`) without a scoping condition.

    A role anyone can assume, or a key, bucket or secret anyone can use, is public (IAM user
    guide, "AWS JSON policy elements: Principal", all principals; Security Hub [KMS.5] "KMS keys
    should not be publicly accessible", [S3.2]/[S3.3] public read/write; AWS Config managed rule
    `sns-topic-no-public-access` for topics, the alert topic's policy included). A condition on the
    caller's or source's account, organization, ARN or VPC endpoint scopes it.
    """
    out: list[str] = []
    for where, doc, _trust in _policy_documents(resource_type, props):
        if not isinstance(doc, Mapping):
            continue
        for i, stmt in enumerate(dicts(_as_list(doc.get("Statement")))):
            if stmt.get("Effect") != "Allow" or not _public_principal(stmt.get("Principal")):
                continue
            if not _scoped(stmt):
                out.append(
                    f"{where} Statement[{i}] allows Principal '*' with no condition on account, "
                    "organization or source; anyone could use it"
                )
    return out
