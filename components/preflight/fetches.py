"""In a factory without internet egress, whether everything its nodes fetch comes from the mirror or
is already in the image: container images, Helm charts, and packages installed by boot scripts.

Nodes of such a factory reach only the VPC and AWS services through endpoints (EKS user guide,
"Deploy private clusters with limited internet access": images must come from a registry in the
VPC, e.g. ECR through its endpoints). So every image and chart must be under
`aifactory:sovereignty.registryMirror`, and a boot script may not install from a package archive.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from .inventory import Inventory
from .registry import Finding, rule

_IMAGE = re.compile(
    r"^(?P<host>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.[a-z0-9.-]+(?::\d+)?)/[a-z0-9._/-]+"
    r"(?::[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$"
)
# Package managers and downloaders whose arguments are names or URLs, not local files.
_INSTALL = re.compile(
    r"\b(?P<tool>apt-get|apt|dnf|yum|zypper|snap|pip3?|npm|gem)\s+(?:-\S+\s+)*install\b(?P<args>[^\n;&|]*)"
)
_DOWNLOAD = re.compile(r"\b(?:curl|wget)\b[^\n]*?(?P<url>https?://[^\s\"')]+)")
_PULL = re.compile(r"\b(?:docker|nerdctl|podman|crictl)\s+pull\s+(?P<ref>\S+)|\bctr\b[^\n]*\bpull\s+(?P<ctr>\S+)")


def _under(reference: str, mirror: str | None) -> bool:
    reference = reference.strip("'\"").removeprefix("oci://")
    return mirror is not None and (reference == mirror or reference.startswith(mirror.rstrip("/") + "/"))


def _embedded(text: str) -> Any:
    """A multi-line string value parsed as YAML: charts take whole config files as strings (Kueue's
    `managerConfig.controllerManagerConfigYaml`), and images named there are pulled all the same."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def images_in(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, reference) of every container image named in a manifest or chart values: `image`
    strings, `repository` strings (joined to a sibling `registry` where charts split the two), and
    any other string shaped like a full image reference."""
    found: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        repository, registry = value.get("repository"), value.get("registry")
        if isinstance(repository, str) and repository:
            ref = f"{registry.rstrip('/')}/{repository}" if isinstance(registry, str) and registry else repository
            found.append((f"{path}.repository" if path else "repository", ref))
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in ("repository", "registry"):
                continue
            if isinstance(item, str) and "\n" in item:
                found += images_in(_embedded(item), where)
            elif isinstance(item, str):
                if (key == "image" and item) or _IMAGE.match(item):
                    found.append((where, item))
            else:
                found += images_in(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str) and _IMAGE.match(item):
                found.append((f"{path}[{i}]", item))
            else:
                found += images_in(item, f"{path}[{i}]")
    return found


def _local(argument: str) -> bool:
    return argument.startswith(("/", "./", "../", "$", "file:")) or argument.endswith((".deb", ".rpm", ".whl"))


def script_fetches(script: str, mirror: str | None) -> list[str]:
    """What a boot script would fetch from outside the VPC: package installs and downloads by name."""
    problems: list[str] = []
    for line in script.splitlines():
        code = line.split("#", 1)[0] if not line.lstrip().startswith("#!") else ""
        for m in _INSTALL.finditer(code):
            names = [a for a in m.group("args").split() if not a.startswith("-") and not _local(a)]
            if names:
                problems.append(f"`{m.group('tool')} install {' '.join(names)}` needs a package archive")
        for m in _DOWNLOAD.finditer(code):
            url = m.group("url")
            host = url.split("/")[2]
            if not (host.startswith("169.254.") or host.endswith(".amazonaws.com") or _under(host, mirror)):
                problems.append(f"downloads {url}")
        for m in _PULL.finditer(code):
            ref = m.group("ref") or m.group("ctr")
            if not _under(ref, mirror):
                problems.append(f"pulls {ref} from outside the mirror")
    return problems


@rule(
    "fetch.images",
    "every container image and chart of a factory without egress is under the registry mirror",
    "EKS user guide, 'Deploy private clusters with limited internet access' (cluster architecture requirements)",
)
def images(inv: Inventory) -> Iterator[Finding]:
    if inv.has_internet_egress:
        return
    mirror = inv.registry_mirror
    fix = "mirror it and point the factory at the mirror" if mirror else "set aifactory:sovereignty.registryMirror"
    for r in inv.resources:
        typ, inputs = r["type"], r.get("inputs") or {}
        if not typ.startswith("kubernetes:") or typ.startswith("pulumi:"):
            continue
        release = typ == "kubernetes:helm.sh/v3:Release"
        subject = f"Helm release {r['name']}" if release else f"{typ.split(':')[-1]} {r['name']}"
        if release:
            repo = (inputs.get("repositoryOpts") or {}).get("repo")
            chart = str(inputs.get("chart", ""))
            for where, ref in (("repositoryOpts.repo", repo), ("chart", chart if "://" in chart else None)):
                if ref and not _under(str(ref), mirror):
                    yield Finding("fetch.images", subject, f"chart from {ref} ({where}); {fix}")
        for where, ref in images_in(inputs.get("values") or {} if release else inputs):
            if not _under(ref, mirror):
                yield Finding("fetch.images", subject, f"image {ref} ({where}); {fix}")


@rule(
    "fetch.packages",
    "boot scripts of a factory without egress install nothing from package archives or the internet",
    "EKS user guide, 'Deploy private clusters with limited internet access'",
    "VPC user guide: a subnet without a route to a NAT or internet gateway reaches only the VPC and its endpoints",
)
def packages(inv: Inventory) -> Iterator[Finding]:
    if inv.has_internet_egress:
        return
    seen: set[str] = set()
    for member in inv.members:
        if not member.user_data or member.user_data in seen:
            continue
        seen.add(member.user_data)
        for problem in script_fetches(member.user_data, inv.registry_mirror):
            yield Finding(
                "fetch.packages",
                member.name,
                f"its boot script {problem}, which has no route here; bake it into the image",
            )
