"""Fixed cost of one `aifactory plan STACK` process against the whole-process floor, paired in one run.

    python benchmarks/bench_fixed_cost.py [STACK] [--samples N] [--out FILE]

Two floors, each a process that starts the interpreter, imports, registers the same number of bare
resources per project (one small input each) under the same mocks (`aifactory.cli.engine`) and exits:

- **same imports** (the issue's floor): it imports every module the plan process had loaded when
  it finished, in the order the plan loaded them;
- **SDK only** (stricter): it imports only the SDK and the provider modules of the resource types
  the plan registers (`aws:ec2/...` -> `pulumi_aws.ec2`), what any Pulumi program declaring them
  must load; the gap to it includes the factory's own imports (pydantic models, parliament's IAM
  data, rich).

Both floors collect garbage and exit the way the `aifactory` command does (`rare_collections`, then
`os._exit` once flushed), so the ratio compares work, not interpreter settings.

The plan adds the factory's own work: config validation, planning, the typed resource inputs and
their Outputs, the policy pack, the deploy preflight and the report.

Samples alternate plan and floor so both see the same machine load; figures are medians of wall
time (full garbage collections make single samples bimodal) with child CPU time next to them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = 9
TARGET = 1.3
"""Issue 15: a plan costs at most 1.3x the whole-process floor."""


def provider_modules(types: list[str]) -> list[str]:
    """The Python modules a program imports to declare these type tokens. Pulumi type tokens are
    `package:module:Type`; the Python SDKs put each module in a subpackage (`aws:ec2/vpc:Vpc` ->
    `pulumi_aws.ec2`, `kubernetes:rbac.authorization.k8s.io/v1:Role` -> `pulumi_kubernetes.rbac.v1`),
    and a CRD's kind (no such subpackage) is declared through `pulumi_kubernetes.apiextensions`."""
    modules: set[str] = set()
    for token in types:
        package, module, _ = token.split(":", 2)
        if package == "aws":
            modules.add(f"pulumi_aws.{module.split('/')[0]}")
        elif package == "kubernetes":
            group, _, version = module.partition("/")
            candidate = f"pulumi_kubernetes.{group.split('.')[0]}.{version}"
            modules.add(candidate if _importable(candidate) else "pulumi_kubernetes.apiextensions")
    return sorted(modules)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def plan_modules(stack: str) -> list[str]:
    """Every module a plan process has loaded when it finishes, in load order (`sys.modules`
    keeps insertion order), less those a fresh process cannot import by name."""
    code = (
        "import contextlib, json, os, sys\n"
        "from aifactory.cli.main import main\n"
        "with open(os.devnull, 'w') as sink, contextlib.redirect_stdout(sink):\n"
        f"    main(['plan', {stack!r}])\n"
        "print(json.dumps(list(sys.modules)))\n"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, check=True).stdout)
    return [m for m in loaded if m != "__main__"]


def floor(counts: dict[str, int], modules: list[str]) -> None:
    """The floor process: the imports and bare registrations, per project, under the same mocks.
    Its imports too run with rare collections, which the plan process has only after its command
    module loaded: if anything, this favours the floor."""
    from aifactory.cli.collector import rare_collections

    with rare_collections():
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # a module only its importer can load (e.g. a platform shim)
                continue
        import pulumi
        from aifactory.cli.engine import run_program

        for project, count in counts.items():

            def program(count: int = count) -> None:
                for i in range(count):
                    pulumi.CustomResource("bench:index:Bare", f"bare-{i}", {"value": i})

            run_program({"aws:region": "us-east-1"}, "floor", "us-east-1", "aws", program, project=project)
    sys.stdout.flush()
    os._exit(0)  # as the console script ends (`aifactory.cli.main.entry`)


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float


def timed(command: list[str]) -> Sample:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Sample(wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def plan_command(stack: str) -> list[str]:
    script = shutil.which("aifactory", path=str(Path(sys.executable).parent)) or shutil.which("aifactory")
    if script is None:
        raise SystemExit("the `aifactory` console script is not installed next to this interpreter")
    return [script, "plan", stack]


@dataclass(frozen=True)
class Result:
    stack: str
    counts: dict[str, int]
    sdk_modules: list[str]
    plan: list[Sample]
    same_imports: list[Sample]
    sdk_only: list[Sample]

    def ratio(self, floor: list[Sample]) -> float:
        return median_wall(self.plan) / median_wall(floor)


def median_wall(samples: list[Sample]) -> float:
    return statistics.median(s.wall for s in samples)


def median_cpu(samples: list[Sample]) -> float:
    return statistics.median(s.cpu for s in samples)


def measure(stack: str, samples: int, workdir: Path) -> Result:
    document = json.loads(
        subprocess.run([*plan_command(stack), "--json"], cwd=ROOT, capture_output=True, check=True).stdout
    )
    counts: dict[str, int] = {project: len(part["urns"]) for project, part in document["stacks"].items()}
    sdk_modules = ["pulumi", *provider_modules(sorted({r["type"] for r in document["resources"]}))]
    commands = {}
    for name, modules in (("same", plan_modules(stack)), ("sdk", sdk_modules)):
        spec = workdir / f"floor-{name}.json"
        spec.write_text(json.dumps({"counts": counts, "modules": modules}))
        commands[name] = [sys.executable, __file__, "--floor", str(spec)]
    for command in (plan_command(stack), *commands.values()):
        timed(command)  # warm the file cache for all three
    plans, same, sdk = [], [], []
    for _ in range(samples):
        plans.append(timed(plan_command(stack)))
        same.append(timed(commands["same"]))
        sdk.append(timed(commands["sdk"]))
    return Result(stack, counts, sdk_modules, plans, same, sdk)


def report(r: Result, samples: int) -> str:
    def row(name: str, s: list[Sample]) -> str:
        ratio = "" if s is r.plan else f"{r.ratio(s):.2f}"
        walls = ", ".join(f"{x.wall:.2f}" for x in s)
        return f"| {name} | {median_wall(s):.3f} | {median_cpu(s):.3f} | {ratio} | {walls} |"

    verdict = "met" if r.ratio(r.same_imports) <= TARGET else "not met"
    return "\n".join(
        [
            f"`aifactory plan {r.stack}` ({sum(r.counts.values())} resources: "
            + ", ".join(f"{project} {n}" for project, n in r.counts.items())
            + f") against the whole-process floors, {samples} paired samples, medians:",
            "",
            "| process | wall (s) | CPU (s) | plan / floor (wall) | samples, wall (s) |",
            "|---|---:|---:|---:|---|",
            row("plan", r.plan),
            row("floor: same imports", r.same_imports),
            row("floor: SDK only", r.sdk_only),
            "",
            f"Target plan / floor (same imports) <= {TARGET}: **{verdict}** ({r.ratio(r.same_imports):.2f}).",
            "",
            f"SDK-only floor imports: {', '.join(r.sdk_modules)}.",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other work, "
            f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f} at the end.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", nargs="?", default="commercial-us")
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--out", type=Path, default=None, help="also write the result as markdown here")
    parser.add_argument("--floor", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor is not None:
        spec = json.loads(Path(args.floor).read_text())
        floor(spec["counts"], spec["modules"])
        return 0
    with tempfile.TemporaryDirectory() as workdir:
        text = report(measure(args.stack, args.samples, Path(workdir)), args.samples)
    print(text)
    if args.out is not None:
        args.out.write_text(f"# Fixed cost of a plan\n\n`python benchmarks/bench_fixed_cost.py`\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
