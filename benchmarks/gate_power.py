"""How often the statistical gate (:mod:`perfkit.gate`) flags a slowdown, and how often it
flags none: the simulation behind each scale's ``repeat`` in scales.yaml.

Three modes, each printing a table (rerun them: ``python -m benchmarks.gate_power --help``):

``simulate`` (default)
    Synthetic runs: ``repeat`` samples per run, lognormal with a coefficient of variation of
    10, 20 or 30 %, and optionally a run-level lognormal factor (``--between``, the drift from
    run to run of a shared machine). A history of ``--history`` earlier runs (the last 5 are
    the ``median:5`` baseline) and one candidate run ×1.0 (how often unchanged code is
    flagged: the false-alarm rate), ×1.5, ×2 and ×3 (the power). Each cell is ``--trials``
    trials of the real :func:`perfkit.gate.compare_samples`.
``record``
    Runs a scale's real workload in process on a private PostgreSQL (the real measurement
    path, :func:`perfkit.measure.measure`), ``--runs`` runs of ``--repeat`` samples, and
    writes them to a JSON file for ``replay``.
``replay``
    The recorded runs in order, each compared with the 5 before it (its spread read from up to
    30 before it), as ``invoke compare`` would: unchanged (×1.0), and with the candidate's
    samples multiplied by 1.5, 2 and 3 (the same machine noise, a slower code path).

The rates are fractions of trials; with T trials a rate of 0 means "below about 3/T" (95 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from perfkit.compare import TIMING_THRESHOLD
from perfkit.config import RegressionConfig
from perfkit.gate import SPREAD_RUNS, compare_pairs, compare_samples

FACTORS = (1.0, 1.5, 2.0, 3.0)
REPEATS = (5, 10, 15, 20, 30, 50)
CVS = (0.10, 0.20, 0.30)
#: A typical small-scale batch: 5 ms.
MEDIAN_SECONDS = 0.005
#: ``invoke ab``'s threshold: scales.yaml's ``regression.threshold`` (built-in default).
AB_THRESHOLD = RegressionConfig().threshold


def flagged(
    history: Sequence[Sequence[float]], candidate: Sequence[float], *, threshold: float
) -> bool:
    """Whether the gate calls ``candidate`` a regression against the last 5 of ``history``."""
    evidence = compare_samples(
        history[-5:], candidate, threshold=threshold, history=history[-SPREAD_RUNS:]
    )
    return evidence.decision == "regression"


def simulate_cell(
    *, repeat: int, cv: float, between: float, factor: float, trials: int, history: int,
    threshold: float, seed: int, paired: bool = False,
) -> float:  # fmt: skip
    """The share of ``trials`` in which a candidate ×``factor`` is flagged (``paired``: an
    A/B job of ``repeat`` rounds, each pair sharing one drift factor)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sigma = math.sqrt(math.log1p(cv * cv))
    hits = 0
    for _ in range(trials):
        if paired:
            drift = rng.lognormal(0.0, between, repeat) if between else np.ones(repeat)
            base = MEDIAN_SECONDS * drift * rng.lognormal(0.0, sigma, repeat)
            new = MEDIAN_SECONDS * drift * rng.lognormal(0.0, sigma, repeat) * factor
            evidence = compare_pairs(base.tolist(), new.tolist(), threshold=threshold)
            hits += evidence.decision == "regression"
            continue
        levels = rng.lognormal(0.0, between, history + 1) if between else np.ones(history + 1)
        runs = [
            (MEDIAN_SECONDS * level * rng.lognormal(0.0, sigma, repeat)).tolist()
            for level in levels
        ]
        candidate = [x * factor for x in runs[-1]]
        hits += flagged(runs[:-1], candidate, threshold=threshold)
    return hits / trials


def simulate(args: argparse.Namespace) -> None:
    """Print the false-alarm and power table of the synthetic runs."""
    design = (
        "A/B job, pairs interleaved"
        if args.paired
        else f"history of {args.history} runs, median:5 baseline"
    )
    print(
        f"simulation: {args.trials} trials per cell, {design}, threshold {args.threshold:.0%}, "
        f"drift {args.between:.0%} (lognormal sigma, per run or per pair)"
    )
    first = "rounds" if args.paired else "repeat"
    header = f"{first:>6} {'CV':>4} " + " ".join(f"{f'×{f:g}':>7}" for f in FACTORS)
    print(header + "   (×1 = false-alarm rate; others = power)")
    started = time.perf_counter()
    for repeat in args.repeats:
        for cv in args.cvs:
            cells = [
                simulate_cell(
                    repeat=repeat, cv=cv, between=args.between, factor=f, trials=args.trials,
                    history=args.history, threshold=args.threshold, seed=args.seed,
                    paired=args.paired,
                )
                for f in FACTORS
            ]  # fmt: skip
            print(f"{repeat:>6} {cv:>4.0%} " + " ".join(f"{c:>7.3f}" for c in cells), flush=True)
    print(f"({time.perf_counter() - started:.0f} s)")


def replay(args: argparse.Namespace) -> None:
    """Print the false-alarm and power rates over recorded real runs."""
    import numpy as np

    data = json.loads(Path(args.file).read_text(encoding="utf-8"))
    runs = [r[: args.repeat] if args.repeat else r for r in data["runs"]]
    medians = np.array([float(np.median(r)) for r in runs])
    logs = np.log(medians)
    print(
        f"replay of {args.file}: {len(runs)} runs of {len(runs[0])} samples "
        f"(scale {data.get('scale', '?')}); run medians {medians.min() * 1e3:.2f}–"
        f"{medians.max() * 1e3:.2f} ms, sd of log medians {logs.std():.3f}"
    )
    jumps = np.exp(np.abs(np.diff(logs)))
    print(f"largest jump between consecutive runs: ×{jumps.max():.2f}")
    for factor in FACTORS:
        hits = [
            i
            for i in range(1, len(runs))
            if flagged(
                runs[max(0, i - SPREAD_RUNS) : i],
                [x * factor for x in runs[i]],
                threshold=args.threshold,
            )
        ]
        rate = len(hits) / (len(runs) - 1)
        where = f"  (runs {', '.join(map(str, hits[:8]))}{' …' if len(hits) > 8 else ''})"
        print(f"×{factor:g}: flagged {len(hits)} of {len(runs) - 1} = {rate:.3f}" + where)
    if args.window:
        windows(runs, size=args.window, threshold=args.threshold)


def windows(runs: Sequence[Sequence[float]], *, size: int, threshold: float) -> None:
    """The proof tests' design over every window of ``size`` consecutive recorded runs: each
    run compared with the (up to 5) before it in the window, spread from the window only; a
    window flakes when any comparison is flagged. Then the run after the window, ×3: missed
    when not flagged against the window."""
    starts = range(0, len(runs) - size)
    flaky, missed = [], []
    for start in starts:
        window = runs[start : start + size]
        if any(flagged(window[:i], window[i], threshold=threshold) for i in range(1, len(window))):
            flaky.append(start)
        slowed = [x * 3 for x in runs[start + size]]
        if not flagged(window, slowed, threshold=threshold):
            missed.append(start)
    n = len(starts)
    print(
        f"windows of {size} runs: {len(flaky)} of {n} had a false alarm "
        f"({len(flaky) / n:.3f}); the next run ×3 was missed after {len(missed)} "
        f"({len(missed) / n:.3f})"
    )


def record(args: argparse.Namespace) -> None:
    """Measure ``--runs`` runs of a scale's workload in process; write them to ``--out``."""
    asyncio.run(_record(args))


async def _record(args: argparse.Namespace) -> None:
    from perfkit.db import create_engine, create_session_factory
    from perfkit.measure import measure
    from perfkit.pipeline import pinned_clock, prepare_data
    from perfkit.run import Run
    from perfkit.testing import private_server
    from perfkit.urls import with_database
    from perfkit.workload import WorkloadContext

    root = Path(__file__).resolve().parents[1]
    async with private_server(Path(args.config) if args.config else root / "scales.yaml") as pg:
        cfg = pg.cfg
        scale = cfg.scale(args.scale)
        url = with_database(pg.url, "perfkit_gate_bench_test")
        run = Run(cfg, db=url)
        data = await prepare_data(run, scale)
        app = run.app
        engine = create_engine(url, cfg.pool, driver=app.driver)
        spec = app.workload()
        ctx = WorkloadContext(
            session_factory=create_session_factory(engine, cfg.pool), today=data.anchor_date
        )
        runs: list[list[float]] = []
        try:
            with pinned_clock(data.anchor_date):
                for i in range(args.runs):
                    m = await measure(
                        lambda: spec.run(ctx), name=spec.name, engine=engine,
                        repeat=args.repeat, warmup=cfg.measure.warmup,
                    )  # fmt: skip
                    runs.append(list(m.samples))
                    if (i + 1) % 50 == 0:
                        print(f"{i + 1} runs", file=sys.stderr, flush=True)
        finally:
            await engine.dispose()
    Path(args.out).write_text(json.dumps({"scale": args.scale, "runs": runs}), encoding="utf-8")
    print(f"wrote {len(runs)} runs of {args.repeat} samples to {args.out}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate_power", description=__doc__)
    parser.add_argument(
        "--threshold", type=float, default=None,
        help=f"default: {TIMING_THRESHOLD:g} against earlier runs (compare), "
        f"{AB_THRESHOLD:g} for pairs (ab)",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="mode")
    sim = sub.add_parser("simulate", help="synthetic lognormal runs (default)")
    sim.add_argument("--trials", type=int, default=200)
    sim.add_argument("--history", type=int, default=20)
    sim.add_argument("--between", type=float, default=0.0)
    sim.add_argument("--repeats", type=int, nargs="+", default=list(REPEATS))
    sim.add_argument("--cvs", type=float, nargs="+", default=list(CVS))
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--paired", action="store_true", help="an A/B job's pairs")
    rec = sub.add_parser("record", help="measure a scale's workload on a private server")
    rec.add_argument("--scale", default="small")
    rec.add_argument("--runs", type=int, default=300)
    rec.add_argument("--repeat", type=int, default=30)
    rec.add_argument("--config", default=None)
    rec.add_argument("--out", required=True)
    rep = sub.add_parser("replay", help="the gate over recorded runs")
    rep.add_argument("file")
    rep.add_argument("--repeat", type=int, default=0, help="use the first N samples of each")
    rep.add_argument("--window", type=int, default=20, help="the proof tests' window (0: none)")
    args = parser.parse_args(argv)
    if args.mode is None:
        args = parser.parse_args(["simulate", *(argv or sys.argv[1:])])
    if args.threshold is None:
        paired = args.mode == "simulate" and args.paired
        args.threshold = AB_THRESHOLD if paired else TIMING_THRESHOLD
    if args.mode == "simulate":
        simulate(args)
    elif args.mode == "record":
        record(args)
    else:
        replay(args)


if __name__ == "__main__":
    main()
