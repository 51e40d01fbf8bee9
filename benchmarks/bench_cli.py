"""``python -m benchmarks.bench_cli``: whole commands, process start to exit, side by side.

How long a user waits for ``perfkit --help``, ``perfkit db-status`` and ``perfkit restore
--scale medium`` (with the template's spare ready, and with none: a clone), against the same
commands through ``invoke`` (this checkout's ``tasks.py``) and, with ``--base PATH``, through
another checkout's ``perfkit`` and ``invoke`` (e.g. an export of ``main``: the code before a
change, its own perfkit imported, in the same run). ``python -c pass`` is the floor: what
starting the interpreter alone costs.

A private PostgreSQL is brought up in a temporary folder (nothing of yours is touched), the
scale's data is made ready and snapshotted once, and its template kept, so that every restore
takes the template's route. Before each restore, untimed, the previous one's background spare
build is waited for; for the ``no spare`` rows the spare is then dropped (the restore clones).
Every case runs ``--runs`` times, round-robin (a busy neighbour slows all cases alike), each
in a fresh process, with bytecode compiled beforehand (as an installed tool has it); the table
shows medians, the fastest run, and the ratio of each row to this checkout's ``perfkit`` row
of the same command, then the load average and the issue's targets.

    python -m benchmarks.bench_cli --runs 15 --base /path/to/main-worktree
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from perfkit.env.private import private_server
from perfkit.testing import clean_env
from perfkit.views import table

if TYPE_CHECKING:
    from perfkit.config import Scale
    from perfkit.run import Run

ROOT = Path(__file__).resolve().parents[1]
#: The issue's targets (seconds, median, process start to exit).
TARGETS = {"help": 0.15, "db-status": 0.15, "restore, spare": 0.35, "restore, no spare": 0.35}


@dataclass
class Case:
    """One command line, timed from process start to exit."""

    group: str
    label: str
    argv: list[str]
    samples: list[float] = field(default_factory=list)
    failure: str | None = None
    #: What runs, untimed, before each run (``spare`` ready, or ``none``).
    spare: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


#: ``perfkit`` from another checkout: its own package first on ``sys.path``.
_BASE_PERFKIT = (
    "import sys; sys.path.insert(0, {!r}); from perfkit.console import main; "
    "sys.exit(main(sys.argv[1:]))"
)


def cases(scale: str, base: Path | None) -> list[Case]:
    """The commands: each perfkit one, then the base's, then the invoke equivalents."""
    perfkit = [str(Path(sys.executable).parent / "perfkit")]
    perfkits = [("perfkit", perfkit)]
    invokes = [("invoke", ROOT)]
    if base is not None:
        perfkits.append(("perfkit (base)", [sys.executable, "-c", _BASE_PERFKIT.format(str(base))]))
        invokes.append(("invoke (base)", base))
    out = [Case("floor", "python -c pass", [sys.executable, "-c", "pass"])]
    restore = ["restore", "--scale", scale]
    for group, args, listing, spare in (
        ("help", ["--help"], ["--list"], None),
        ("db-status", ["db-status"], ["db-status"], None),
        ("restore, spare", restore, restore, "ready"),
        ("restore, no spare", restore, restore, "none"),
    ):
        for name, argv in perfkits:
            out.append(Case(group, f"{name} {' '.join(args)}", [*argv, *args], spare=spare))
        for name, where in invokes:
            argv = [sys.executable, "-m", "invoke", "--search-root", str(where), *listing]
            out.append(Case(group, f"{name} {' '.join(listing)}", argv, spare=spare))
    return out


def time_one(case: Case, env: dict[str, str]) -> None:
    """Run ``case`` once; record its seconds, or why it failed."""
    started = time.perf_counter()
    done = subprocess.run(case.argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        case.failure = (done.stderr.strip().splitlines() or ["failed"])[-1][:200]
        return
    case.samples.append(seconds)


def _own(case: Case) -> bool:
    """Whether ``case`` is this checkout's ``perfkit`` (the row the others are compared with)."""
    return case.label.startswith("perfkit ") and not case.label.startswith("perfkit (base)")


def render(all_cases: list[Case], runs: int) -> list[str]:
    """The table: median and fastest seconds, and each invoke row against its perfkit row."""
    rows = []
    own = {c.group: c.median for c in all_cases if _own(c)}
    for c in all_cases:
        mine = own.get(c.group)
        ratio = (
            f"{c.median / mine:.2f}x"
            if c.median is not None and mine and not _own(c) and c.group != "floor"
            else ""
        )
        rows.append(
            [
                c.group,
                c.label,
                f"{c.median:.3f}" if c.median is not None else "-",
                f"{min(c.samples):.3f}" if c.samples else "-",
                ratio,
                c.failure or "",
            ]
        )
    header = ("command", "run", "median s", "fastest s", "vs perfkit", "failure")
    lines = [f"whole commands, process start to exit, median of {runs} runs (round-robin)"]
    lines += table(header, rows, right=(2, 3, 4))
    lines.append(
        "load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    for group, limit in TARGETS.items():
        mine = own.get(group)
        if mine is not None:
            verdict = "ok    " if mine <= limit else "MISSED"
            lines.append(f"{verdict} perfkit {group}: {mine:.3f} s (target <= {limit} s)")
    return lines


async def run_benchmark(*, runs: int, scale: str, base: Path | None) -> list[str]:
    """Bring up a private server, make the scale's data ready (and its template), time every
    case ``runs`` times round-robin; the table's lines."""
    from perfkit.commands.data import prepare
    from perfkit.commands.snapshots import snapshot
    from perfkit.config import load_config
    from perfkit.run import Run

    work = Path(tempfile.mkdtemp(prefix="perfkit-bench-cli-"))
    async with private_server(ROOT / "scales.yaml") as server:
        env = clean_env(
            {
                "PERFKIT_STATE_DIR": str(server.cfg.state_dir),
                "PERFKIT_PORT": str(server.cfg.database.port),
                "PERFKIT_BACKEND": "native",
                "PERFKIT_DATABASE": "perfkit_bench_cli_test",
                "PERFKIT_SNAPSHOT_DIR": str(work / "snapshots"),
                "PERFKIT_RESULTS_DIR": str(work / "results"),
            }
        )
        cfg = load_config(ROOT / "scales.yaml", env=env)
        run = Run(cfg, progress=lambda m: print(m, file=sys.stderr, flush=True))
        await snapshot(run, scale=scale)  # seeds first
        await prepare(run, scale=scale)  # and keeps its template: every restore takes it
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for where in [ROOT, *([base] if base is not None else [])]:  # as installed: compiled
            compile_all = [sys.executable, "-m", "compileall", "-q", str(where / "perfkit")]
            await asyncio.to_thread(subprocess.run, compile_all, check=False, capture_output=True)
        spare_of = await spare_setter(run, cfg.scale(scale))
        all_cases = cases(scale, base)
        for n in range(runs):
            print(f"round {n + 1} of {runs}", file=sys.stderr, flush=True)
            for case in all_cases:
                if case.failure is None:
                    if case.spare is not None:
                        await spare_of(case.spare)
                    await asyncio.to_thread(time_one, case, env)
        return render(all_cases, runs)


async def spare_setter(run: Run, scale: Scale) -> Callable[[str], Awaitable[None]]:
    """What readies the server before a restore (untimed): the previous restore's background
    build waited for, then the spare kept (``ready``) or dropped (``none``)."""
    from perfkit.database import ready_spare_name
    from perfkit.snapshot import spares, template
    from perfkit.snapshot.dataset import expected_key

    name = template.template_name(scale.name, expected_key(run, scale))
    owner = template.owner_of(run.cfg.state_dir)

    async def ready(want: str) -> None:
        await spares.wait_until_ready(run.db, template_name=name, owner=owner, seconds=30)
        if want == "none":
            async with run.db.admin() as admin:
                await admin.drop(ready_spare_name(name, owner))
        await asyncio.sleep(0.2)  # the build's process ends

    return ready


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_cli", description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="runs of each case (default 10)")
    parser.add_argument("--scale", default="medium", help="the scale restored (default medium)")
    parser.add_argument(
        "--base", type=Path, help="another checkout whose perfkit and invoke tasks to time"
    )
    args = parser.parse_args()
    if args.base is not None and not (args.base / "tasks.py").is_file():
        parser.error(f"{args.base} has no tasks.py")
    os.environ.pop("PERFKIT_CONFIG", None)
    lines = asyncio.run(run_benchmark(runs=args.runs, scale=args.scale, base=args.base))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
