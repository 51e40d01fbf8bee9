"""``python -m benchmarks.bench_cli``: whole commands, process start to exit, side by side.

How long a user waits for ``perfkit --help``, ``perfkit db-status`` and ``perfkit restore
--scale medium``, against the same commands through ``invoke`` (this checkout's ``tasks.py``)
and, with ``--base PATH``, through the ``invoke`` of another checkout (e.g. a worktree of
``main``, to compare with the code before the command layer). ``python -c pass`` is the floor:
what starting the interpreter alone costs.

A private PostgreSQL is brought up in a temporary folder (nothing of yours is touched), the
scale's data is made ready and snapshotted once, and its template kept, so that every restore
takes the same route (the template). Then every case runs ``--runs`` times, round-robin (a busy
neighbour slows all cases alike), each in a fresh process; the table shows medians, the
fastest run, and the ratio of each ``invoke`` row to its ``perfkit`` row. The issue's targets
are printed under it.

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
from dataclasses import dataclass, field
from pathlib import Path

from perfkit.env.private import private_server
from perfkit.testing import clean_env
from perfkit.views import table

ROOT = Path(__file__).resolve().parents[1]
#: The issue's targets (seconds, median, process start to exit).
TARGETS = {"help": 0.15, "db-status": 0.15, "restore": 0.35}


@dataclass
class Case:
    """One command line, timed from process start to exit."""

    group: str
    label: str
    argv: list[str]
    samples: list[float] = field(default_factory=list)
    failure: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


def cases(scale: str, base: Path | None) -> list[Case]:
    """The commands: each perfkit one, then its invoke equivalents."""
    perfkit = str(Path(sys.executable).parent / "perfkit")
    invokes = [("invoke", ROOT)] + ([("invoke (base)", base)] if base is not None else [])
    out = [Case("floor", "python -c pass", [sys.executable, "-c", "pass"])]
    for group, args, listing in (
        ("help", ["--help"], ["--list"]),
        ("db-status", ["db-status"], ["db-status"]),
        ("restore", ["restore", "--scale", scale], ["restore", "--scale", scale]),
    ):
        out.append(Case(group, f"perfkit {' '.join(args)}", [perfkit, *args]))
        for name, where in invokes:
            argv = [sys.executable, "-m", "invoke", "--search-root", str(where), *listing]
            out.append(Case(group, f"{name} {' '.join(listing)}", argv))
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


def render(all_cases: list[Case], runs: int) -> list[str]:
    """The table: median and fastest seconds, and each invoke row against its perfkit row."""
    rows = []
    own = {c.group: c.median for c in all_cases if c.label.startswith("perfkit")}
    for c in all_cases:
        mine = own.get(c.group)
        ratio = (
            f"{c.median / mine:.2f}x"
            if c.median is not None and mine and not c.label.startswith(("perfkit", "python"))
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
        await prepare(run, scale=scale)  # and keeps its template: every restore clones it
        all_cases = cases(scale, base)
        for n in range(runs):
            print(f"round {n + 1} of {runs}", file=sys.stderr, flush=True)
            for case in all_cases:
                if case.failure is None:
                    await asyncio.to_thread(time_one, case, env)
        return render(all_cases, runs)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_cli", description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="runs of each case (default 10)")
    parser.add_argument("--scale", default="medium", help="the scale restored (default medium)")
    parser.add_argument("--base", type=Path, help="another checkout whose invoke tasks to time")
    args = parser.parse_args()
    if args.base is not None and not (args.base / "tasks.py").is_file():
        parser.error(f"{args.base} has no tasks.py")
    os.environ.pop("PERFKIT_CONFIG", None)
    lines = asyncio.run(run_benchmark(runs=args.runs, scale=args.scale, base=args.base))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
