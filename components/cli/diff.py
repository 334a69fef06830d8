"""`aifactory diff OLD.json NEW.json`: what applying NEW over OLD would add, remove, change and replace.

Both inputs are `aifactory plan --json` documents. A resource is matched by URN (or by an alias the
new plan gives it: Pulumi moves an aliased resource, it does not replace it). A changed input the
provider replaces on (the checked-in table `catalog/data/replace_on_change.yaml`) makes it a
replacement; so does a replace-on-change input that refers to a replaced resource's id or ARN (the
replacement gets a new one), which the mock ids of a plan cannot show by themselves. Replacing or
removing a stateful resource (file system, its data repository associations, bucket, key, cluster,
secret, database) loses data and is an error unless `--allow-replace` names its URN or type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalog.replace_on_change import ReplaceRule, replace_rule

Action = Literal["add", "remove", "update", "replace"]
ACTIONS: tuple[Action, ...] = ("replace", "remove", "add", "update")
HEADINGS = {"replace": "replace", "remove": "remove", "add": "add", "update": "change"}
MARKS = {"replace": "+-", "remove": "-", "add": "+", "update": "~"}
DELTAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gpus", ("gpus",)),
    ("nodes", ("nodes",)),
    ("power_kw", ("power_kw",)),
    ("cost_per_hour_usd", ("cost_per_hour_usd",)),
    ("storage_monthly_cost_usd", ("storage", "monthly_cost_usd")),
)


class PlanDocumentError(ValueError):
    """A plan document that is not `aifactory plan --json` output."""


@dataclass(frozen=True)
class ResourceChange:
    action: Action
    urn: str
    type: str
    name: str
    keys: tuple[str, ...] = ()
    """Inputs that differ (top-level names)."""
    reasons: tuple[str, ...] = ()
    """Why it is replaced: the replace-on-change inputs that changed or refer to a replaced resource."""
    stateful: bool = False
    refused: bool = False
    """A stateful replacement or removal the user did not allow."""

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "keys": list(self.keys),
            "reasons": list(self.reasons),
            "stateful": self.stateful,
            "refused": self.refused,
        }


@dataclass
class PlanDiff:
    changes: list[ResourceChange] = field(default_factory=list)
    deltas: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Per figure: old, new, delta. None where a plan has the key without a figure (a cost without a price
    is unknown, not 0); a key a plan does not have (power on an AWS site) counts as 0."""
    unlisted: list[str] = field(default_factory=list)
    """Changed resource types the replace table does not list: whether they are replaced is unknown."""

    def of(self, action: Action) -> list[ResourceChange]:
        return [c for c in self.changes if c.action == action]

    @property
    def refused(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.refused]

    @property
    def failed(self) -> bool:
        return bool(self.refused or self.unlisted)

    def as_json(self) -> dict[str, Any]:
        return {
            "summary": {HEADINGS[a]: len(self.of(a)) for a in ACTIONS},
            "changes": [c.as_json() for c in self.changes],
            "refused": [c.urn for c in self.refused],
            "unlisted_types": list(self.unlisted),
            "deltas": self.deltas,
        }


def load_plan_document(text: str, origin: str) -> dict[str, Any]:
    """A plan document from its JSON text; `PlanDocumentError` names `origin` and what is wrong."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanDocumentError(f"{origin}: not JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise PlanDocumentError(f"{origin}: not an `aifactory plan --json` document (no `resources` list)")
    for i, r in enumerate(document["resources"]):
        if not isinstance(r, dict) or not isinstance(r.get("urn"), str) or not isinstance(r.get("type"), str):
            raise PlanDocumentError(f"{origin}: resources[{i}] has no `urn` and `type`")
    return document


def _values(value: Any, path: Sequence[str]) -> list[Any]:
    """The values at `path` inside `value`, descending into every element of a list."""
    if not path:
        return [value]
    if isinstance(value, list):
        return [v for item in value for v in _values(item, path)]
    if isinstance(value, dict) and path[0] in value:
        return _values(value[path[0]], path[1:])
    return []


def _at(inputs: Mapping[str, Any], dotted: str) -> list[Any]:
    return _values(dict(inputs), dotted.split("."))


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)))


def _identities(resource: Mapping[str, Any]) -> set[str]:
    """What other resources refer to this one by: its id and ARN."""
    outputs = resource.get("outputs") or {}
    found = {resource.get("id"), outputs.get("arn"), (resource.get("inputs") or {}).get("arn")}
    return {v for v in found if isinstance(v, str) and len(v) >= 6}


def _refers_to(values: Iterable[Any], identities: Mapping[str, str]) -> str | None:
    text = json.dumps(list(values), sort_keys=True)
    for identity, who in identities.items():
        if identity in text:
            return who
    return None


def _delta(summary: Mapping[str, Any], path: Sequence[str]) -> float | None:
    value: Any = summary
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return 0.0
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def diff_plans(old: Mapping[str, Any], new: Mapping[str, Any], allow_replace: Iterable[str] = ()) -> PlanDiff:
    """Compare two plan documents (old: what is deployed; new: what would be)."""
    allowed = set(allow_replace)
    old_by_urn = {r["urn"]: r for r in old["resources"]}
    new_by_urn = {r["urn"]: r for r in new["resources"]}
    pairs: dict[str, str] = {}  # new URN -> old URN
    for urn, r in new_by_urn.items():
        if urn in old_by_urn:
            pairs[urn] = urn
            continue
        moved = [a for a in r.get("aliases") or () if a in old_by_urn]
        if moved:
            pairs[urn] = moved[0]
    matched_old = set(pairs.values())

    rules: dict[str, ReplaceRule | None] = {
        r["type"]: replace_rule(r["type"]) for r in [*old_by_urn.values(), *new_by_urn.values()]
    }
    replaced: dict[str, list[str]] = {}  # new URN -> reasons
    for urn, old_urn in pairs.items():
        rule = rules[new_by_urn[urn]["type"]]
        if rule is None:
            continue
        o, n = old_by_urn[old_urn].get("inputs") or {}, new_by_urn[urn].get("inputs") or {}
        reasons = [path for path in rule.replace_on_change if _at(o, path) != _at(n, path)]
        if reasons:
            replaced[urn] = reasons

    # A replacement gets a new id and ARN: whatever names them in a replace-on-change input is replaced
    # too (a new subnet replaces the file system in it). Removed resources count as well.
    while True:
        gone = {
            identity: f"{old_by_urn[u]['type']} {old_by_urn[u].get('name', u)}"
            for u in [*(pairs[n] for n in replaced), *(u for u in old_by_urn if u not in matched_old)]
            for identity in _identities(old_by_urn[u])
        }
        grown = False
        for urn in pairs:
            rule = rules[new_by_urn[urn]["type"]]
            if urn in replaced or rule is None:
                continue
            inputs = new_by_urn[urn].get("inputs") or {}
            for path in rule.replace_on_change:
                who = _refers_to(_at(inputs, path), gone)
                if who is not None:
                    replaced[urn] = [f"{path} (refers to replaced {who})"]
                    grown = True
                    break
        if not grown:
            break

    result = PlanDiff()

    def change(action: Action, r: Mapping[str, Any], keys: tuple[str, ...] = (), reasons: Sequence[str] = ()) -> None:
        rule = rules.get(r["type"])
        stateful = bool(rule and rule.stateful)
        refused = stateful and action in ("replace", "remove") and not ({r["urn"], r["type"]} & allowed)
        result.changes.append(
            ResourceChange(action, r["urn"], r["type"], str(r.get("name", "")), keys, tuple(reasons), stateful, refused)
        )

    for urn, r in new_by_urn.items():
        if urn not in pairs:
            change("add", r)
            continue
        o = old_by_urn[pairs[urn]]
        keys = _changed_keys(o.get("inputs") or {}, r.get("inputs") or {})
        if urn in replaced:
            change("replace", r, keys, replaced[urn])
        elif keys:
            change("update", r, keys)
            if rules[r["type"]] is None:
                result.unlisted.append(r["type"])
    for urn, r in old_by_urn.items():
        if urn not in matched_old:
            change("remove", r)
    result.changes.sort(key=lambda c: (ACTIONS.index(c.action), c.type, c.name, c.urn))
    result.unlisted = sorted(set(result.unlisted))

    old_summary, new_summary = old.get("summary") or {}, new.get("summary") or {}
    for label, where in DELTAS:
        before, after = _delta(old_summary, where), _delta(new_summary, where)
        delta = None if before is None or after is None else round(after - before, 4)
        result.deltas[label] = {"old": before, "new": after, "delta": delta}
    return result


def _number(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:g}" if value == int(value) else f"{value:,.2f}"


def render_text(diff: PlanDiff) -> list[str]:
    """The diff as aligned text: one group per action, deltas at the bottom, refusals last."""
    counts = ", ".join(f"{len(diff.of(a))} to {HEADINGS[a]}" for a in ACTIONS)
    lines = [f"aifactory diff: {counts}"]
    for action in ACTIONS:
        group = diff.of(action)
        if not group:
            continue
        type_width = max(len(c.type) for c in group)
        name_width = max(len(c.name) for c in group)
        lines += ["", HEADINGS[action]]
        for c in group:
            why = ", ".join(c.reasons) if action == "replace" else ", ".join(c.keys)
            flag = (
                "  STATEFUL, refused"
                if c.refused
                else ("  stateful, allowed" if c.stateful and action in ("replace", "remove") else "")
            )
            lines.append(f"  {MARKS[action]:<2} {c.type:<{type_width}}  {c.name:<{name_width}}  {why}{flag}".rstrip())
    lines += ["", "deltas"]
    for label, d in diff.deltas.items():
        sign = "+" if (d["delta"] or 0) > 0 else ""
        lines.append(f"  {label:<26} {_number(d['old']):>12} -> {_number(d['new']):>12}  ({sign}{_number(d['delta'])})")
    if diff.unlisted:
        lines += [
            "",
            "error: these changed types are not in the replace table, so whether they are replaced is unknown:",
        ]
        lines += [f"  {t}" for t in diff.unlisted]
    if diff.refused:
        lines += ["", f"error: {len(diff.refused)} stateful resource(s) would be replaced or removed (data loss):"]
        lines += [f"  {c.urn}" for c in diff.refused]
        lines.append("  pass --allow-replace URN_OR_TYPE for each one you mean to lose, or change the config back")
    return lines
