"""Whether the customer-managed key's policy lets every service that uses the key use it.

Evaluated the way KMS does for one request: some Allow statement must match the principal, the
action and every condition (AWS KMS developer guide, "Key policies in AWS KMS" and "Determining
access to an AWS KMS key"); there is no implicit allow. A statement for the account root enables IAM
policies: that is enough for IAM principals (the deployer, acting through EC2, EKS, FSx, Secrets
Manager, RDS or S3), never for a service-linked role or a service principal, whose permissions
cannot be extended by the account's IAM policies.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .inventory import Inventory, KeyUse
from .registry import Finding, rule

# Auto Scaling (and so EKS managed node groups) launches instances with encrypted volumes as its
# service-linked role (EC2 Auto Scaling user guide, "Required AWS KMS key policy for use with
# encrypted volumes").
AUTOSCALING_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
    "kms:CreateGrant",
)
# What each service asks KMS for on the caller's behalf (EBS user guide, "How Amazon EBS encryption
# works"; EKS user guide, "Encrypt Kubernetes secrets with KMS"; FSx for Lustre user guide,
# "Encrypting data at rest"; Secrets Manager user guide, "Secret encryption and decryption"; RDS user
# guide, "Encrypting Amazon RDS resources"; S3 user guide, "Using server-side encryption with AWS KMS
# keys"; CloudWatch Logs user guide, "Encrypt log data in CloudWatch Logs using AWS KMS").
SERVICE_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "ec2": ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext"),
    "eks": ("kms:CreateGrant", "kms:DescribeKey"),
    "fsx": ("kms:CreateGrant", "kms:DescribeKey"),
    "secretsmanager": ("kms:GenerateDataKey", "kms:Decrypt"),
    "rds": ("kms:CreateGrant", "kms:DescribeKey"),
    "s3": ("kms:GenerateDataKey", "kms:Decrypt"),
    "logs": ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey", "kms:DescribeKey"),
    # CodeBuild encrypts build output and logs as the project's service role (CodeBuild user guide,
    # "Data encryption": the service role must be able to use the key).
    "codebuild": ("kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"),
}


@dataclass(frozen=True)
class Request:
    """Who asks KMS, as what kind of principal, and the request context condition keys see."""

    principal: str
    kind: str  # "iam" (a principal of the account), "service-linked-role", "service"
    context: Mapping[str, str]


def requests_for(inv: Inventory, use: KeyUse) -> Request:
    account_root = f"arn:{inv.partition}:iam::{inv.account}:root"
    via = {"kms:CallerAccount": inv.account, "kms:GrantIsForAWSResource": "true"}
    if use.service == "autoscaling":
        role = (
            f"arn:{inv.partition}:iam::{inv.account}:role/aws-service-role/autoscaling.amazonaws.com/"
            "AWSServiceRoleForAutoScaling"
        )
        return Request(role, "service-linked-role", {**via, "aws:PrincipalArn": role})
    if use.service == "logs":
        context = {"kms:EncryptionContext:aws:logs:arn": use.log_group_arn or ""}
        return Request(f"logs.{inv.region}.amazonaws.com", "service", context)
    # An IAM principal of the account whose ARN no statement can know: aws:PrincipalArn stays unset,
    # so statements conditioned on a particular principal do not apply to it.
    return Request(account_root, "iam", {**via, "kms:ViaService": f"{use.service}.{inv.region}.amazonaws.com"})


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _principal_matches(statement: Mapping[str, Any], request: Request, account_root: str) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    if request.kind == "service":
        return request.principal in _listed(principal.get("Service"))
    aws = _listed(principal.get("AWS"))
    if request.principal in aws or "*" in aws:
        return True
    # The account root as principal delegates to IAM policies: IAM principals only.
    return request.kind == "iam" and account_root in aws


_OPERATORS = {
    "StringEquals": lambda have, want: have in want,
    "StringLike": lambda have, want: any(fnmatch.fnmatchcase(have, w) for w in want),
    "ArnEquals": lambda have, want: have in want,
    "ArnLike": lambda have, want: any(fnmatch.fnmatchcase(have, w) for w in want),
    "Bool": lambda have, want: have.lower() in [w.lower() for w in want],
}


def _conditions_hold(statement: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, keys in (statement.get("Condition") or {}).items():
        test = _OPERATORS.get(operator)
        if test is None or not isinstance(keys, Mapping):
            return False  # an operator this check does not model: assume it does not match
        for key, wanted in keys.items():
            have = next((v for k, v in context.items() if k.lower() == key.lower()), None)
            if have is None or not test(have, _listed(wanted)):
                return False
    return True


def allowed_actions(policy: Mapping[str, Any], request: Request, actions: Iterable[str], account_root: str) -> set[str]:
    """The subset of `actions` some Allow statement of `policy` grants to `request` (Deny statements
    in the key policy win, as in KMS's evaluation)."""
    statements = policy.get("Statement") or []
    statements = [statements] if isinstance(statements, Mapping) else statements
    granted: set[str] = set()
    denied: set[str] = set()
    for statement in statements:
        if not _principal_matches(statement, request, account_root) or not _conditions_hold(statement, request.context):
            continue
        patterns = [p.lower() for p in _listed(statement.get("Action"))]
        matched = {a for a in actions if any(fnmatch.fnmatchcase(a.lower(), p) for p in patterns)}
        (granted if statement.get("Effect") == "Allow" else denied).update(matched)
    return granted - denied


@rule(
    "keys.service-use",
    "every service that encrypts with the factory's key is allowed by its key policy",
    "EC2 Auto Scaling user guide, 'Required AWS KMS key policy for use with encrypted volumes'",
    "AWS KMS developer guide, 'Key policies in AWS KMS' (default key policy, IAM delegation)",
    "CloudWatch Logs user guide, 'Encrypt log data in CloudWatch Logs using AWS KMS'",
)
def service_use(inv: Inventory) -> Iterator[Finding]:
    account_root = f"arn:{inv.partition}:iam::{inv.account}:root"
    for key, policy in inv.keys.items():
        seen: set[tuple[str, str | None]] = set()
        for use in inv.key_uses.get(key, []):
            if (use.service, use.log_group_arn) in seen:
                continue
            seen.add((use.service, use.log_group_arn))
            request = requests_for(inv, use)
            actions = AUTOSCALING_ACTIONS if use.service == "autoscaling" else SERVICE_ACTIONS[use.service]
            missing = [a for a in actions if a not in allowed_actions(policy, request, actions, account_root)]
            if missing:
                yield Finding(
                    "keys.service-use",
                    f"{use.resource} ({use.service}) → key {key.rsplit('/', 1)[-1]}",
                    f"the key policy does not allow {request.principal} {', '.join(missing)}; add a statement for it",
                )


def _identity_allows(policies: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    for policy in policies:
        statements = policy.get("Statement") or []
        for statement in [statements] if isinstance(statements, Mapping) else statements:
            if statement.get("Effect") != "Allow":
                continue
            actions = [a.lower() for a in _listed(statement.get("Action"))]
            resources = _listed(statement.get("Resource"))
            if any(fnmatch.fnmatchcase(action.lower(), a) for a in actions) and any(
                fnmatch.fnmatchcase(resource, r) for r in resources
            ):
                return True
    return False


@rule(
    "keys.service-roles",
    "every service role that encrypts with the factory's key may use it (its own IAM policies)",
    "CodeBuild user guide, 'Data encryption' (the service role must be allowed to use the key)",
    "AWS KMS developer guide, 'Using IAM policies with AWS KMS'",
)
def service_roles(inv: Inventory) -> Iterator[Finding]:
    for key in inv.keys:
        for use in inv.key_uses.get(key, []):
            if use.role is None:
                continue
            policies = inv.role_policies.get(use.role, [])
            missing = [a for a in SERVICE_ACTIONS[use.service] if not _identity_allows(policies, a, key)]
            if missing:
                yield Finding(
                    "keys.service-roles",
                    f"role {use.role} of {use.resource} ({use.service}) → key {key.rsplit('/', 1)[-1]}",
                    f"its policies do not allow {', '.join(missing)} on the key; add them, scoped to the key",
                )


def _identity_denies(policies: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    return _identity_allows(
        [
            {"Statement": [{**s, "Effect": "Allow"} for s in _statements(p) if s.get("Effect") == "Deny"]}
            for p in policies
        ],
        action,
        resource,
    )


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement") or []
    return [statements] if isinstance(statements, Mapping) else [s for s in statements if isinstance(s, Mapping)]


def _resource_policy_denies(policy: Mapping[str, Any], role_arn: str, action: str) -> bool:
    """Whether a secret's resource policy denies `action` to the role (a Deny for every principal
    except those named by aws:PrincipalArn, the shape the Slurm munge secret carries)."""
    for statement in _statements(policy):
        if statement.get("Effect") != "Deny" or statement.get("Principal") not in ("*", {"AWS": "*"}):
            continue
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(statement.get("Action"))):
            continue
        condition = statement.get("Condition") or {}
        if not condition:
            return True
        excepted = _listed(
            (condition.get("StringNotEquals") or condition.get("ArnNotEquals") or {}).get("aws:PrincipalArn")
        )
        if set(condition) <= {"StringNotEquals", "ArnNotEquals"} and role_arn not in excepted:
            return True
    return False


@rule(
    "keys.secret-readers",
    "every role that reads a secret encrypted with the factory's key may decrypt with the key, and no "
    "compute node's role may read a secret (the head alone reads the munge key)",
    "Secrets Manager user guide, 'Secret encryption and decryption' (GetSecretValue needs kms:Decrypt)",
    "Slurm, 'MUNGE Installation Guide' / munge(7): whoever holds the key can forge credentials for any user",
)
def secret_readers(inv: Inventory) -> Iterator[Finding]:
    # A job on a compute node reaches what the node's role may do only if IMDS lets it; the factory
    # gives those roles no secret at all, so a role that could read one is a finding however it got
    # the permission.
    compute_roles = {m.role for m in inv.of_kind("slurm-compute") if m.role}
    resource_policies = {
        str(inputs.get("secretArn")): _json_policy(inputs.get("policy"))
        for inputs in ((r.get("inputs") or {}) for r in inv.by_type("aws:secretsmanager/secretPolicy:SecretPolicy"))
    }
    all_secrets = [str((r.get("outputs") or {}).get("arn")) for r in inv.by_type("aws:secretsmanager/secret:Secret")]
    for role in sorted(compute_roles):
        policies = inv.role_policies.get(role, [])
        role_arn = f"arn:{inv.partition}:iam::{inv.account}:role/{role}"
        for secret in all_secrets:
            if (
                _identity_allows(policies, "secretsmanager:GetSecretValue", secret)
                and not _identity_denies(policies, "secretsmanager:GetSecretValue", secret)
                and not _resource_policy_denies(
                    resource_policies.get(secret, {}), role_arn, "secretsmanager:GetSecretValue"
                )
            ):
                yield Finding(
                    "keys.secret-readers",
                    f"role {role} → secret {secret.rsplit(':', 1)[-1]}",
                    "a compute node's role may read the secret, so any job that reaches the node's credentials "
                    "can; remove the permission (the head node shares the munge key with the nodes' root)",
                )
    secrets = {
        str((r.get("outputs") or {}).get("arn")): str((r.get("inputs") or {}).get("kmsKeyId"))
        for r in inv.by_type("aws:secretsmanager/secret:Secret")
        if (r.get("inputs") or {}).get("kmsKeyId") in inv.keys
    }
    for role, policies in inv.role_policies.items():
        for secret, key in secrets.items():
            if _identity_allows(policies, "secretsmanager:GetSecretValue", secret) and not _identity_allows(
                policies, "kms:Decrypt", key
            ):
                yield Finding(
                    "keys.secret-readers",
                    f"role {role} → secret {secret.rsplit(':', 1)[-1]}",
                    f"it may read the secret but not kms:Decrypt with {key}; add kms:Decrypt on the key",
                )


def _json_policy(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    try:
        parsed = json.loads(str(value))
    except ValueError:
        return {}
    return parsed if isinstance(parsed, Mapping) else {}
