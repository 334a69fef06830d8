"""`aifactory` command line: plan, render and policy-check without the Pulumi CLI or credentials."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..spec import ConfigError
from .planrun import PlanResult, StackNotFound, plan_stack, policy_verdicts
from .report import print_plan

EXIT_OK, EXIT_POLICY, EXIT_CONFIG = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aifactory", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="plan a stack under the Pulumi mock runtime")
    plan.add_argument("stack", help="stack name in stacks/ or a path to Pulumi.<name>.yaml")
    plan.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    plan.add_argument("--tree", action="store_true", help="also print every resource as a tree")
    plan.add_argument("--stacks-dir", default=None, help="where stack files live (default: ./stacks)")
    render = commands.add_parser("render", help="write every generated artifact for review")
    render.add_argument("stack")
    render.add_argument("--out", required=True, type=Path)
    render.add_argument("--stacks-dir", default=None)
    check = commands.add_parser("policy-check", help="run the policy pack over a plan JSON")
    check.add_argument("plan", type=Path, help="output of `aifactory plan --json` (possibly edited)")
    check.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    try:
        if args.command == "plan":
            result = plan_stack(args.stack, args.stacks_dir)
            if args.json:
                print(json.dumps(result.as_json(), indent=2, sort_keys=False))
            else:
                print_plan(result, tree=args.tree)
            return EXIT_POLICY if result.mandatory_violations() or result.preflight else EXIT_OK
        if args.command == "render":
            from .render import render_stack

            written = render_stack(args.stack, args.stacks_dir, args.out)
            for path in written:
                print(path)
            return EXIT_OK
        return _policy_check(args.plan, args.json)
    except ConfigError as exc:
        print("invalid stack config:", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return EXIT_CONFIG
    except StackNotFound as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG


def _policy_check(path: Path, as_json: bool) -> int:
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        print(f"{path}: cannot read plan JSON ({exc})", file=sys.stderr)
        return EXIT_CONFIG
    violations = policy_verdicts(document)
    if as_json:
        print(json.dumps({"violations": violations}, indent=2))
    else:
        for v in violations:
            print(f"[{v['level']}] {v['policy']}: {v['urn']}\n    {v['message']}")
        print(f"{len(violations)} violation(s)")
    return EXIT_POLICY if any(v["level"] == "mandatory" for v in violations) else EXIT_OK


def entry() -> None:
    sys.exit(main())


__all__ = ["PlanResult", "entry", "main"]
