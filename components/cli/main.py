"""`aifactory` command line: plan, render and policy-check without the Pulumi CLI or credentials; `images
pin` (which reads public SSM parameters with the AWS credentials at hand) pins a stack's images."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..spec import ConfigError, ConfigIssue
from .collector import rare_collections
from .completion import SHELLS, completion_script
from .diff import PlanDocumentError, diff_plans, load_plan_document, render_text
from .planrun import PlanResult, StackNotFound, plan_stack, policy_verdicts, resolve_stack_file
from .render import MANIFEST, RenderFailed, RenderRefused
from .report import print_plan

if TYPE_CHECKING:
    from ..policies.pack_config import PackConfig

EXIT_OK, EXIT_POLICY, EXIT_CONFIG = 0, 1, 2
ALLOW_HELP = "accept replacing or removing this stateful resource (URN) or every one of this type (repeatable)"
STACK_HELP = "stack name in stacks/ or a path to Pulumi.<name>.yaml"
STACKS_DIR_HELP = "where stack files live (default: ./stacks)"
EXIT_DRIFT = 1
"""`images pin --check`: a pinned image differs from the current one."""
POLICY_CONFIG_HELP = (
    "policy levels and properties, the JSON file `pulumi preview --policy-pack-config` takes "
    "(policy/README.md, 'Configure'): disabled policies do not run, advisory ones do not fail"
)
EXIT_RENDER_FAILED = 1
"""`render`: a renderer failed; the directory was left as it was."""
RENDER_DESCRIPTION = f"""Write every generated artifact of STACK into DIR for review.

DIR changes only when every file rendered: the files are written into a temporary sibling
directory and moved in after the last one, so a failed render (exit 1) leaves DIR as it was.
{MANIFEST} in DIR records what aifactory wrote (stack, paths, SHA-256). A later render into
DIR removes the files the previous one wrote and this one does not, except files changed since
(they are kept and listed). Files aifactory did not write are never removed: a non-empty DIR
without {MANIFEST}, or a file of yours where this render writes one, is refused (exit 2);
--force writes anyway, overwriting same-named files and removing nothing else."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; `aifactory completion` and the help test walk it."""
    parser = argparse.ArgumentParser(prog="aifactory", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="plan a stack under the Pulumi mock runtime")
    plan.add_argument("stack", help=STACK_HELP)
    plan.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    plan.add_argument("--tree", action="store_true", help="also print every resource as a tree")
    plan.add_argument("--stacks-dir", default=None, help=STACKS_DIR_HELP)
    plan.add_argument(
        "--against", type=Path, default=None, help="print what changes from this earlier `plan --json` output instead"
    )
    plan.add_argument("--allow-replace", action="append", default=[], metavar="URN_OR_TYPE", help=ALLOW_HELP)
    plan.add_argument("--policy-config", type=Path, default=None, metavar="FILE", help=POLICY_CONFIG_HELP)
    diff = commands.add_parser("diff", help="what applying NEW over OLD adds, removes, changes and replaces")
    diff.add_argument("old", type=Path, help="`aifactory plan --json` output of what is deployed")
    diff.add_argument("new", type=Path, help="`aifactory plan --json` output of what would be")
    diff.add_argument("--json", action="store_true", help="print the diff as one JSON object")
    diff.add_argument("--allow-replace", action="append", default=[], metavar="URN_OR_TYPE", help=ALLOW_HELP)
    render = commands.add_parser(
        "render",
        help="write every generated artifact for review",
        description=RENDER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    render.add_argument("stack", help=STACK_HELP)
    render.add_argument("dir", nargs="?", type=Path, default=None, help="directory to write the artifacts into")
    render.add_argument("--out", type=Path, default=None, help="the same directory, as an option (0.1)")
    render.add_argument(
        "--force",
        action="store_true",
        help=f"write into a non-empty directory without {MANIFEST} and over files aifactory did not write",
    )
    render.add_argument("--stacks-dir", default=None, help=STACKS_DIR_HELP)
    check = commands.add_parser("policy-check", help="run the policy pack over a plan JSON")
    check.add_argument("plan", type=Path, help="output of `aifactory plan --json` (possibly edited)")
    check.add_argument("--json", action="store_true", help="print the violations as one JSON object")
    check.add_argument("--policy-config", type=Path, default=None, metavar="FILE", help=POLICY_CONFIG_HELP)
    images = commands.add_parser("images", help="pin the machine images a stack boots")
    image_commands = images.add_subparsers(dest="images_command", required=True)
    pin = image_commands.add_parser(
        "pin", help="resolve the stack's images from their public SSM parameters and write them to its file"
    )
    pin.add_argument("stack", help=STACK_HELP)
    pin.add_argument("--stacks-dir", default=None, help=STACKS_DIR_HELP)
    pin.add_argument("--check", action="store_true", help="report drift from the current images; write nothing")
    schema = commands.add_parser("schema", help="print the stack file's JSON Schema (or its key reference)")
    schema.add_argument(
        "--markdown", action="store_true", help="print the per-key reference (docs/reference.md) instead"
    )
    completion = commands.add_parser("completion", help="print a shell completion script (bash, zsh or fish)")
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in: " + ", ".join(SHELLS))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with rare_collections():
        return _run(parser, args)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    as_json = bool(getattr(args, "json", False))
    try:
        if args.command == "schema":
            from ..spec.reference import reference_text
            from ..spec.schema import schema_text

            print(reference_text() if args.markdown else schema_text(), end="")
            return EXIT_OK
        if args.command == "completion":
            print(completion_script(parser, args.shell), end="")
            return EXIT_OK
        if args.command == "diff":
            return _diff(_read_plan(args.old), _read_plan(args.new), args.json, args.allow_replace)
        pack = _read_policy_config(args.policy_config) if getattr(args, "policy_config", None) else None
        if args.command == "plan":
            old = _read_plan(args.against) if args.against is not None else None
            result = plan_stack(args.stack, args.stacks_dir, pack)
            if old is not None:
                code = _diff(old, result.as_json(), args.json, args.allow_replace)
                return max(code, EXIT_POLICY if result.mandatory_violations() or result.preflight else EXIT_OK)
            if args.json:
                print(json.dumps(result.as_json(), indent=2, sort_keys=False))
            else:
                print_plan(result, tree=args.tree)
            return EXIT_POLICY if result.mandatory_violations() or result.preflight else EXIT_OK
        if args.command == "render":
            return _render(args.stack, args.stacks_dir, args.dir, args.out, args.force)
        if args.command == "images":
            return _pin_images(args.stack, args.stacks_dir, args.check)
        return _policy_check(args.plan, args.json, pack)
    except PolicyConfigError as exc:
        return _config_errors(exc.issues, as_json, "invalid policy config:")
    except ConfigError as exc:
        return _config_errors(exc.issues, as_json)
    except StackNotFound as exc:
        if as_json:
            issue = ConfigIssue(
                args.stack, str(exc), "name a stack in the stacks directory or a Pulumi.<stack>.yaml file"
            )
            return _config_errors([issue], as_json)
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    except PlanDocumentError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG


def package_version() -> str:
    """The installed distribution's version: defined once, in pyproject.toml (Python docs,
    "importlib.metadata": `version()` reads the installed package's metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aifactory")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _read_plan(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise PlanDocumentError(f"{path}: cannot read plan JSON ({exc.strerror or exc})") from None
    return load_plan_document(text, str(path))


def _diff(old: dict[str, Any], new: dict[str, Any], as_json: bool, allow_replace: list[str]) -> int:
    """Exit 1 when a stateful resource would be replaced or removed without `--allow-replace`, or a
    changed type is missing from the replace table; 0 otherwise."""
    result = diff_plans(old, new, allow_replace)
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        print("\n".join(render_text(result)))
    return EXIT_POLICY if result.failed else EXIT_OK


class PolicyConfigError(ConfigError):
    """A `--policy-config` file's problems, reported under their own heading."""


def _read_policy_config(path: Path) -> PackConfig:
    from ..policies.pack_config import read_pack_config

    try:
        return read_pack_config(path)
    except ConfigError as exc:
        raise PolicyConfigError(exc.issues) from None


def _config_errors(issues: Sequence[ConfigIssue], as_json: bool, heading: str = "invalid stack config:") -> int:
    """Exit 2 with every issue: on stderr, one a line, or with `--json` as one JSON object on stdout,
    `{"errors": [{"path", "problem", "fix", "severity", "file", "line", "column"}]}` (README, CLI section)."""
    if as_json:
        print(json.dumps({"errors": [issue.as_json() for issue in issues]}, indent=2))
        return EXIT_CONFIG
    print(heading, file=sys.stderr)
    for issue in issues:
        print(f"  {issue}", file=sys.stderr)
    return EXIT_CONFIG


def _render(stack: str, stacks_dir: str | None, folder: Path | None, out: Path | None, force: bool) -> int:
    from .render import render_stack

    target = folder or out
    if target is None or (folder is not None and out is not None):
        print("aifactory render: name the directory once, as DIR or as --out DIR", file=sys.stderr)
        return EXIT_CONFIG
    try:
        result = render_stack(stack, stacks_dir, target, force=force)
    except RenderRefused as exc:
        print(f"render refused: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except RenderFailed as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_RENDER_FAILED
    for path in result.written:
        print(path)
    for path in result.removed:
        print(f"removed {path} (the previous render wrote it; this one does not)")
    for path in result.kept:
        print(f"kept {path}: the previous render wrote it, and it changed since; delete it if you no longer need it")
    return EXIT_OK


def _pin_images(stack: str, stacks_dir: str | None, check: bool) -> int:
    """Exit 0 when the file holds the current images (after writing them), 1 when `--check` finds
    drift, 2 when the stack or the lookup fails (nothing written)."""
    import botocore.exceptions

    from .images import ImageLookupError, pin_stack

    path = resolve_stack_file(stack, stacks_dir)
    try:
        statuses, written = pin_stack(path, check=check)
    except ImageLookupError as exc:
        print(f"{path}: cannot pin the images:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        print(f"{path}: cannot read the public SSM parameters ({exc}); nothing written", file=sys.stderr)
        return EXIT_CONFIG
    for status in statuses:
        print(status.describe())
    drifted = [s for s in statuses if s.drifted]
    if check:
        print(f"{len(drifted)} of {len(statuses)} image(s) differ from the current ones")
        return EXIT_DRIFT if drifted else EXIT_OK
    print(f"{path}: pinned {len(drifted)} image(s)" if written else f"{path}: every image is current")
    return EXIT_OK


def _policy_check(path: Path, as_json: bool, pack: PackConfig | None) -> int:
    fix = "pass the output of `aifactory plan --json`"
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        issue = ConfigIssue(str(path), f"is not valid JSON ({exc.msg})", fix, str(path), exc.lineno, exc.colno)
        return _plan_json_error(issue, as_json)
    except (OSError, UnicodeDecodeError, RecursionError) as exc:
        problem = "nests too deeply" if isinstance(exc, RecursionError) else f"cannot be read ({exc})"
        return _plan_json_error(ConfigIssue(str(path), problem, fix, str(path)), as_json)
    if not isinstance(document, dict) or not isinstance(document.get("resources", []), list):
        problem = "is not a plan document (an object with a `resources` list)"
        return _plan_json_error(ConfigIssue(str(path), problem, fix, str(path)), as_json)
    try:
        violations = policy_verdicts(document, pack)
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        # An edited plan whose resources lack what `plan --json` writes: refused, not a traceback.
        problem = f"is not a plan document ({type(exc).__name__}: {exc})"
        return _plan_json_error(ConfigIssue(str(path), problem, fix, str(path)), as_json)
    if as_json:
        print(json.dumps({"violations": violations}, indent=2))
    else:
        for v in violations:
            print(f"[{v['level']}] {v['policy']}: {v['urn']}\n    {v['message']}")
        print(f"{len(violations)} violation(s)")
    return EXIT_POLICY if any(v["level"] == "mandatory" for v in violations) else EXIT_OK


def _plan_json_error(issue: ConfigIssue, as_json: bool) -> int:
    if as_json:
        return _config_errors([issue], as_json)
    print(f"{issue.path}: {issue.problem}", file=sys.stderr)
    return EXIT_CONFIG


def entry() -> None:
    """The console script. Once its output is flushed it ends the process with `os._exit`: the
    interpreter's teardown (finalizing every module and object of a plan, ~0.4 s) has nothing
    left to do for a command that wrote its output and holds no other resource (Python docs,
    "os._exit": exits without calling cleanup handlers or flushing stdio buffers, hence the flushes
    first; `logging.shutdown` is the one such handler that writes anything)."""
    try:
        code = main()
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
    except BrokenPipeError:
        # The reader went away (`aifactory plan dev | head`). Python docs, "signal: Note on SIGPIPE":
        # point stdout at devnull so the interpreter's final flush does not fail again, and exit 1.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    os._exit(code)


__all__ = ["PlanResult", "entry", "main"]
