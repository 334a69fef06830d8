"""Strict validation of custom resources against upstream CRD schemas, offline.

The API server's strict field validation (GA in Kubernetes 1.27, KEP-2885) rejects unknown fields
instead of pruning them; to emulate it, every object schema that lists `properties` and does not
set `x-kubernetes-preserve-unknown-fields` gets `additionalProperties: false`. `x-kubernetes-*`
CEL rules are not evaluated by jsonschema: the ones the factory relies on are checked explicitly
in `cel_checks`.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_DIR = Path(__file__).parent / "fixtures" / "crds"
# libyaml's loader when PyYAML has it: the Argo CRDs are ~3 MB each, 5x faster to load in C.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict openAPIV3Schema, for every CRD fixture."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=_LOADER)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            out[(f"{group}/{version['name']}", kind)] = _strict(version["schema"]["openAPIV3Schema"])
    return out


def _strict(schema: Any) -> Any:
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
                and "additionalProperties" not in node
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


class CrdValidationError(ValueError):
    pass


def validate_custom_resource(obj: dict[str, Any]) -> None:
    """Raise CrdValidationError when `obj` does not validate against its CRD version's schema."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    schema = _schemas().get(key)
    if schema is None:
        raise CrdValidationError(f"no CRD fixture serves {key[0]} {key[1]}")
    # `metadata` is validated by the API server itself, not by the CRD schema.
    body = {k: v for k, v in obj.items() if k != "metadata"}
    if "metadata" in schema.get("required", []):  # Argo's CRDs require it; its content is still not theirs
        body["metadata"] = {}
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    problems = [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]
    problems += cel_checks(obj)
    if problems:
        raise CrdValidationError(f"{key[1]} {obj.get('metadata', {}).get('name')}: " + "; ".join(problems))


HYBRID_NODECONFIG_CRD = CRD_DIR / "hybrid" / "hybrid.node.eks.aws_nodeconfigs.yaml"


@functools.cache
def _hybrid_schema() -> dict[str, Any]:
    crd = yaml.safe_load(HYBRID_NODECONFIG_CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return _strict(version["schema"]["openAPIV3Schema"])


def validate_hybrid_node_config(obj: dict[str, Any]) -> None:
    """Strictly validate an EKS Hybrid Nodes `NodeConfig` (aws/eks-hybrid's CRD, whose group, version and
    kind are the AL2023 nodeadm's too)."""
    if (obj.get("apiVersion"), obj.get("kind")) != ("node.eks.aws/v1alpha1", "NodeConfig"):
        raise CrdValidationError(f"not a node.eks.aws/v1alpha1 NodeConfig: {obj.get('apiVersion')} {obj.get('kind')}")
    validator = jsonschema.Draft7Validator(_hybrid_schema())
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        raise CrdValidationError(
            "; ".join(f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors)
        )


def cel_checks(obj: dict[str, Any]) -> list[str]:
    """The `x-kubernetes-validations` rules of Kueue v1beta2 that the generated objects rely on."""
    kind, spec = obj.get("kind"), obj.get("spec", {})
    problems: list[str] = []
    if kind == "Topology":
        labels = [level["nodeLabel"] for level in spec.get("levels", [])]
        if len(set(labels)) != len(labels):
            problems.append("spec.levels: must be unique")
        if "kubernetes.io/hostname" in labels and labels[-1] != "kubernetes.io/hostname":
            problems.append("spec.levels: the kubernetes.io/hostname label can only be used at the lowest level")
    if kind == "ResourceFlavor" and "topologyName" in spec and not spec.get("nodeLabels"):
        problems.append("spec: at least one nodeLabel is required when topology is set")
    if kind == "ClusterQueue" and "cohortName" not in spec:
        for group in spec.get("resourceGroups", []):
            for flavor in group["flavors"]:
                if any("borrowingLimit" in r for r in flavor["resources"]):
                    problems.append("spec: borrowingLimit must be nil when cohort is empty")
    if kind == "ClusterQueue":
        for i, group in enumerate(spec.get("resourceGroups", [])):
            covered = group["coveredResources"]
            for flavor in group["flavors"]:
                if [r["name"] for r in flavor["resources"]] != covered:
                    problems.append(
                        f"spec.resourceGroups[{i}]: flavor {flavor['name']} must list the covered resources in order"
                    )
    return problems


__all__ = ["CrdValidationError", "cel_checks", "validate_custom_resource", "validate_hybrid_node_config"]
