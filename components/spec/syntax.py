"""Strict syntax for every config value that reaches a script, a config file or a Kubernetes object.

Each syntax is defined once here, as a regex and (where a field carries it) an annotated type whose
validator raises a `config_issue` error with the fix, so a bad value becomes a `ConfigError` naming its
config path (`spec/loading.py`). The renderers quote and check again (`rendering.py`,
`schedulers/slurm_config.py`), but only as defence in depth: the spec refuses first.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from .errors import ConfigIssue

# --- Kubernetes ------------------------------------------------------------------------------------
# "Object Names and IDs" and "Labels and Selectors, Syntax and character set" (kubernetes.io docs):
# a label/qualified name is at most 63 characters, alphanumeric at both ends, '-', '_', '.' between;
# an optional prefix is a DNS subdomain (RFC 1123) of at most 253 characters followed by '/'; a label
# value is empty or a name of at most 63 characters. `[A-Za-z0-9]`, never `\w`: ASCII only.
QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
# RFC 1123 label: namespaces, queue, cohort and priority class names ("Object Names and IDs").
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
NAME_MAX = 63
PREFIX_MAX = 253

# Label namespaces Kubernetes reserves (`kubernetes.io/`, `k8s.io/` and their subdomains). With the
# NodeRestriction admission plugin a kubelet may set on its own Node only the kubelet's well-known
# labels and keys under `[*.]kubelet.kubernetes.io/` or `[*.]node.kubernetes.io/`; `node-restriction.
# kubernetes.io/` never (kubelet reference, `--node-labels`; "Admission Control", NodeRestriction).
# The well-known labels are the kubelet's and the cloud provider's to set, not the config's, so only
# the two self-label namespaces are open to fleet labels.
RESERVED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io")
KUBELET_LABEL_DOMAINS = ("kubelet.kubernetes.io", "node.kubernetes.io")


def _in_domain(prefix: str, domain: str) -> bool:
    return prefix == domain or prefix.endswith("." + domain)


def qualified_name_problem(key: str) -> str | None:
    """Why `key` is not a Kubernetes qualified name (`[prefix/]name`), or None."""
    prefix, slash, name = key.rpartition("/")
    if not name or len(name) > NAME_MAX or not QUALIFIED_NAME.match(name):
        return f"key '{key}' is not a Kubernetes qualified name (at most 63 letters, digits, '-', '_', '.')"
    if slash and (not prefix or len(prefix) > PREFIX_MAX or not DNS_SUBDOMAIN.match(prefix)):
        return f"key prefix '{prefix}' is not a DNS subdomain of at most 253 characters"
    return None


def label_value_problem(value: str) -> str | None:
    if value and (len(value) > NAME_MAX or not QUALIFIED_NAME.match(value)):
        return f"value '{value}' is not a label value (at most 63 letters, digits, '-', '_', '.')"
    return None


def reserved_label_problem(key: str) -> str | None:
    prefix = key.rpartition("/")[0]
    if any(_in_domain(prefix, d) for d in RESERVED_LABEL_DOMAINS) and not any(
        _in_domain(prefix, d) for d in KUBELET_LABEL_DOMAINS
    ):
        return (
            f"key '{key}' is in a namespace Kubernetes reserves; the kubelet may not set it on its own node "
            "(NodeRestriction)"
        )
    return None


def _issue(message: str, fix: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError("config_issue", message, {**ctx, "fix": fix})


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _issue("{what} must be a string, not {kind}", "quote the value", what=what, kind=type(value).__name__)
    return value


def _label_key(value: Any) -> str:
    key = _text(value, "a label key")
    problem = qualified_name_problem(key) or reserved_label_problem(key)
    if problem is not None:
        raise _issue(
            "label {problem}",
            "use `[prefix/]name` with a DNS-subdomain prefix you own (not kubernetes.io or k8s.io) and a name "
            "of at most 63 letters, digits, '-', '_', '.', e.g. `example.com/team`",
            problem=problem,
        )
    return key


def _label_value(value: Any) -> str:
    text = _text(value, "a label value")
    problem = label_value_problem(text)
    if problem is not None:
        raise _issue(
            "label {problem}",
            "use at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric (or empty)",
            problem=problem,
        )
    return text


LabelKey = Annotated[str, BeforeValidator(_label_key)]
"""A node label key the kubelet may set on itself (`--node-labels` is `key=value,...`)."""
LabelValue = Annotated[str, BeforeValidator(_label_value)]
"""A label value: empty or a qualified name part; no ',' '=' or newline can reach `--node-labels`."""


def _dns_label(what: str) -> Any:
    def check(value: Any) -> str:
        text = _text(value, what)
        if not is_dns_label(text):
            raise _issue(
                "'{value}' is not a valid {what} (an RFC 1123 label)",
                "use up to 63 lowercase letters, digits and '-', starting and ending alphanumeric",
                value=text,
                what=what,
            )
        return text

    return BeforeValidator(check)


def is_dns_label(text: str) -> bool:
    """An RFC 1123 label: the rule for namespaces and most object names (Kubernetes "Object Names and IDs")."""
    return len(text) <= NAME_MAX and DNS_LABEL.match(text) is not None


CohortName = Annotated[str, _dns_label("Kueue cohort name")]
"""Kueue `ClusterQueue.spec.cohortName`: an object name (Kueue API reference, Cohort)."""

# --- OCI registry ----------------------------------------------------------------------------------
# host[:port][/path]: a DNS name and lowercase OCI repository path components (OCI distribution spec,
# "Pulling manifests": `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` per component); the value reaches image
# references, chart URLs and the nodes' containerd configuration.
REGISTRY_MIRROR = re.compile(
    r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*\Z"
)


def _registry_mirror(value: Any) -> str:
    text = _text(value, "a registry")
    if len(text) > PREFIX_MAX or not REGISTRY_MIRROR.match(text):
        raise _issue(
            "'{value}' is not a registry host[:port][/path]",
            "write it like 123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror (lowercase DNS name, optional "
            "port, lowercase path components)",
            value=text,
        )
    return text


RegistryMirror = Annotated[str, BeforeValidator(_registry_mirror)]

# --- Email ---------------------------------------------------------------------------------------
# An SNS email subscription's endpoint (SNS API reference, Subscribe: `Endpoint` for the `email`
# protocol is an email address). RFC 5321 4.5.3.1: a path of at most 254 characters, a local part of
# at most 64; RFC 5322 3.2.3 dot-atom local part; the domain a DNS name with a dot (no address
# literals, no quoted local parts: SNS delivers to mailboxes, not to hosts).
EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
EMAIL_DOMAIN = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z"
)
EMAIL_MAX = 254
EMAIL_LOCAL_MAX = 64


def _email(value: Any) -> str:
    text = _text(value, "an email address")
    local, at, domain = text.rpartition("@")
    if (
        not at
        or len(text) > EMAIL_MAX
        or len(local) > EMAIL_LOCAL_MAX
        or not EMAIL_LOCAL.match(local)
        or not EMAIL_DOMAIN.match(domain)
    ):
        raise _issue(
            "'{value}' is not an email address SNS can deliver to",
            "write one mailbox like ops@example.com (at most 254 characters, no display name, no spaces)",
            value=text,
        )
    return text


EmailAddress = Annotated[str, BeforeValidator(_email)]

# --- Slurm -----------------------------------------------------------------------------------------
# slurm.conf(5): a line is `Keyword=Value` pairs separated by white space, '#' starts a comment and a
# new line a new record, so a name holding white space, '#', '=' or a newline would add options or
# records. Partition and reservation names here are letters, digits, '-', '_' and '.', starting with
# a letter or digit, at most 63 characters.
SLURM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
# slurm.conf(5) PartitionName: "If the PartitionName is "DEFAULT", the values specified with that
# record will apply to subsequent partition specifications".
SLURM_RESERVED_NAMES = ("default",)


def _slurm_name(value: Any) -> str:
    text = _text(value, "a Slurm name")
    if not SLURM_NAME.match(text):
        raise _issue(
            "'{value}' is not a Slurm name",
            "use up to 63 letters, digits, '-', '_' and '.', starting with a letter or digit",
            value=text,
        )
    if text.lower() in SLURM_RESERVED_NAMES:
        raise _issue(
            "'{value}' is Slurm's record of defaults for every partition, not a partition",
            "choose another name (and set `default: true` to make a partition the default)",
            value=text,
        )
    return text


SlurmName = Annotated[str, BeforeValidator(_slurm_name)]

# slurm.conf(5) PartitionName MaxTime: "Time resolution is one minute ... format is "minutes",
# "minutes:seconds", "hours:minutes:seconds", "days-hours", "days-hours:minutes",
# "days-hours:minutes:seconds" or "UNLIMITED"" (INFINITE is accepted as its synonym). ASCII digits.
_N = "[0-9]{1,7}"
SLURM_TIME = re.compile(
    rf"^(UNLIMITED|INFINITE|{_N}|{_N}:{_N}|{_N}:{_N}:{_N}|{_N}-{_N}|{_N}-{_N}:{_N}|{_N}-{_N}:{_N}:{_N})\Z"
)


def _slurm_time(value: Any) -> str:
    text = _text(value, "a Slurm time")
    if not SLURM_TIME.match(text):
        raise _issue(
            "'{value}' is not a Slurm time limit",
            "write minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes, "
            "days-hours:minutes:seconds or UNLIMITED, e.g. 2-00:00:00 for two days",
            value=text,
        )
    return text


SlurmTime = Annotated[str, BeforeValidator(_slurm_time)]

# The Slurm cluster name is the stack name: slurm.conf `ClusterName` and the private DNS zone
# `<cluster>.slurm.internal` (Route 53: labels of at most 63 characters, letters, digits and '-').
# slurm.conf(5) ClusterName: "should be lowercase", and slurmdbd keys accounting on it.
SLURM_CLUSTER_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?\Z")
# Fleet names follow the same rule: they become parts of AWS resource names, node names and labels.
FLEET_NAME = SLURM_CLUSTER_NAME


def slurm_cluster_name_issue(name: str) -> ConfigIssue | None:
    """An issue when the stack name cannot be a Slurm cluster name and DNS label, else None."""
    if SLURM_CLUSTER_NAME.match(name):
        return None
    return ConfigIssue(
        f"stack name {name!r}",
        "is the Slurm cluster name (slurm.conf ClusterName and the DNS zone <name>.slurm.internal), "
        "which must be 1-40 lowercase letters, digits and '-', starting with a letter",
        "rename the stack (e.g. `pulumi stack rename` or the `Pulumi.<stack>.yaml` file) to a lowercase DNS label "
        "such as slurm-aws",
    )
