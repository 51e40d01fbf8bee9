"""``perfkit ab --base REF``: base and candidate measured in one job, interleaved, and gated.

A comparison with the history sets this run against runs made earlier, perhaps on another
machine or under another load; an A/B job removes that doubt, as asv's ``continuous`` does:

1. the base commit is checked out into a temporary git worktree (``git worktree add
   --detach``), removed afterwards whatever happens (failure, Ctrl-C, SIGTERM);
2. the candidate (the working tree as it is) makes the scale's data ready, once
   (:func:`perfkit.pipeline.prepare_data`); both sides then read that same data on the same
   server, under perfkit's lock on the database;
3. each side gets one warm worker process (:mod:`perfkit.ab_worker`, always the candidate's
   copy, run by path) whose ``sys.path`` starts with that side's tree, so perfkit and the
   application come from that side; the worker loads that side's scales.yaml (the same path
   in its tree) and stays up for the whole job, so process start never lands in a sample;
4. rounds run A B, B A, A B, ... (the order alternates, so neither side always goes first),
   one run of the workload per side per round; the scale's ``repeat`` rounds by default (at
   least :data:`MIN_ROUNDS`);
5. the pairs go through the gate (:func:`perfkit.gate.compare_pairs`: a Wilcoxon signed-rank
   test on the pairs' ratios, a bootstrap interval of their median past ``regression.threshold``
   (the machine's drift falls on both sides of a pair, so no history-sized allowance is
   needed), and the clock's resolution as the floor); statement counts must be equal or
   better, exactly as in ``compare``.

Workloads run in read-only transactions: one that writes is refused (exit 2), as is a base
whose perfkit lacks the worker's contract (:mod:`perfkit.ab_worker`). A gated regression
raises :class:`AbRegressionError` (exit 6).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from perfkit.compare import (
    COMPARED,
    MetricComparison,
    Rule,
    judge,
    rules_from_config,
)
from perfkit.config import Config, Scale
from perfkit.errors import PerfkitError
from perfkit.gate import compare_pairs
from perfkit.history import resolve_git_ref
from perfkit.text import clipped
from perfkit.urls import mask_text

if TYPE_CHECKING:
    from perfkit.run import Run

Progress = Callable[[str], None]

#: Seconds a worker may take to answer one request (start-up and warm-up included).
ANSWER_TIMEOUT = 600.0
#: The fewest rounds: with fewer pairs, Wilcoxon's test cannot reach p < 0.01 (with 5 pairs
#: all one way, p = 1/32).
MIN_ROUNDS = 10
WORKER = Path(__file__).with_name("ab_worker.py")


class AbError(PerfkitError):
    """The A/B job cannot run as asked (no git checkout, no such file at the base, ...)."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, kind: str = "input") -> None:
        super().__init__(message, hint=hint)
        #: ``input``, ``contract`` (the base's perfkit lacks the worker's API), ``writes``
        #: (the workload writes) or ``worker`` (a worker failed).
        self.kind = kind


class AbWorkerError(AbError):
    """A worker failed while running the workload (the application's error)."""

    exit_code = 1


class AbRegressionError(PerfkitError):
    """The candidate is worse than the base in a gated metric."""

    exit_code = 6

    def __init__(self, result: AbResult) -> None:
        super().__init__(
            "performance regression against the base: "
            + "; ".join(m.sentence() for m in result.regressions),
            hint="the lines above give each metric's numbers; if the change is intended, "
            "say so in the pull request",
        )
        self.result = result


@dataclass(frozen=True)
class Side:
    """One side of the job: which commit, which tree, what its worker said."""

    name: str
    commit: str | None
    tree: Path
    perfkit: str = ""
    label: str = ""


@dataclass(frozen=True)
class AbResult:
    """What an A/B job measured and decided."""

    scale: str
    workload: str
    base: Side
    candidate: Side
    rounds: int
    #: Seconds of each round's run, per side (round i: ``base_seconds[i]``, ...).
    base_seconds: tuple[float, ...]
    candidate_seconds: tuple[float, ...]
    base_statements: tuple[int, ...]
    candidate_statements: tuple[int, ...]
    metrics: tuple[MetricComparison, ...] = field(default=())

    @property
    def regressions(self) -> tuple[MetricComparison, ...]:
        return tuple(m for m in self.metrics if m.fails)

    @property
    def ok(self) -> bool:
        return not self.regressions

    def headline(self) -> str:
        """One line: the scale, the outcome, the two commits."""
        base = (self.base.commit or "?")[:10]
        cand = (self.candidate.commit or "working tree")[:10]
        what = f"{self.scale}, {self.workload}: candidate {cand} against base {base}"
        what += f", {self.rounds} rounds interleaved"
        if self.ok:
            return f"{what}: no regression"
        return f"{what}: REGRESSED " + ", ".join(m.metric.label for m in self.regressions)

    def lines(self) -> list[str]:
        """The headline, then each metric's sentence."""
        return [self.headline(), *(f"  {m.sentence()}" for m in self.metrics)]

    def to_json(self) -> dict[str, Any]:
        """``perfkit ab --json``: :meth:`to_dict`."""
        return self.to_dict()

    def failure(self) -> AbRegressionError | None:
        """The regression that makes ``perfkit ab`` exit with status 6, if any."""
        return None if self.ok else AbRegressionError(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: sides, rounds, every sample, and each metric's verdict."""
        return {
            "scale": self.scale,
            "workload": self.workload,
            "ok": self.ok,
            "headline": self.headline(),
            "rounds": self.rounds,
            "base": {"commit": self.base.commit, "perfkit": self.base.perfkit},
            "candidate": {"commit": self.candidate.commit, "perfkit": self.candidate.perfkit},
            "samples": {
                "base_seconds": list(self.base_seconds),
                "candidate_seconds": list(self.candidate_seconds),
                "base_statements": list(self.base_statements),
                "candidate_statements": list(self.candidate_statements),
            },
            "metrics": [m.to_dict() for m in self.metrics],
        }


def check(result: AbResult) -> None:
    """Raise :class:`AbRegressionError` when a gated metric regressed."""
    failure = result.failure()
    if failure is not None:
        raise failure


# --------------------------------------------------------------------------------------------
# the job


async def ab_job(
    run: Run,
    *,
    base: str,
    scale: Scale | None = None,
    workload: str | None = None,
    rounds: int | None = None,
    threshold: float | None = None,
) -> AbResult:
    """Measure ``base`` (a git ref) against the working tree on ``scale`` (default: the first
    in scales.yaml) in the run's database, interleaved, and gate the pairs (module docstring).

    ``rounds`` defaults to the scale's ``repeat``; ``threshold`` to ``regression.threshold``.
    :meth:`AbResult.failure` is the regression (exit status 6), if any."""
    from perfkit.locks import exclusive
    from perfkit.pipeline import prepare_data

    cfg, say = run.cfg, run.say
    the_scale = scale or next(iter(cfg.scales.values()))
    count = rounds or max(cfg.measure.repeat_for(the_scale), MIN_ROUNDS)
    if count < MIN_ROUNDS:
        raise AbError(
            f"{count} rounds are too few for the test: {MIN_ROUNDS} at least",
            hint=f"--rounds {MIN_ROUNDS} or more",
        )
    repo = git_toplevel(cfg.root)
    commit = resolve_git_ref(base, repo=repo)
    try:
        config_in_tree = cfg.source.resolve().relative_to(repo.resolve())
    except ValueError:
        raise AbError(
            f"{cfg.source} is not inside the git checkout {repo}",
            hint="run perfkit ab with a scales.yaml the repository holds",
        ) from None
    app = run.app
    name = workload or app.default_workload
    app.workload(name)  # an unknown name fails here, before anything starts
    with _terminate_as_exit(), base_worktree(repo, commit, progress=say) as tree:
        base_config = tree / config_in_tree
        if not base_config.is_file():
            raise AbError(
                f"the base ({base}, {commit[:10]}) has no {config_in_tree}",
                hint="choose a base that has perfkit's scales.yaml at the same path",
            )
        data = await prepare_data(run, the_scale)
        url = str(data.url)
        day = data.anchor_date.isoformat()
        async with exclusive(data.url, on_wait=run.note):
            with Worker.start("base", tree) as b, Worker.start("candidate", repo) as c:
                setup = {"url": url, "workload": name, "day": day, "warmup": cfg.measure.warmup}
                say(f"starting the workers: base {commit[:10]}, candidate working tree")
                b.send({"op": "setup", "config": str(base_config), **setup})
                c.send({"op": "setup", "config": str(cfg.source), **setup})
                b_info, c_info = b.receive(), c.receive()  # both start up at once
                pairs = _rounds(b, c, count, say)
    head = _head(repo)
    sides = (
        Side("base", commit, tree, str(b_info.get("perfkit", "")), str(b_info.get("label", ""))),
        Side("candidate", head, repo, str(c_info["perfkit"]), str(c_info.get("label", ""))),
    )
    return _result(cfg, the_scale, name, sides, pairs, threshold=threshold)


def _rounds(base: Worker, candidate: Worker, count: int, say: Progress) -> dict[str, list[Any]]:
    """``count`` rounds, the order alternating: A B, B A, A B, ..."""
    out: dict[str, list[Any]] = {"bs": [], "cs": [], "bn": [], "cn": []}
    for i in range(count):
        order = (base, candidate) if i % 2 == 0 else (candidate, base)
        for worker in order:
            answer = worker.ask({"op": "run"})
            key = "b" if worker is base else "c"
            out[key + "s"].append(float(answer["seconds"]))
            out[key + "n"].append(int(answer["statements"]))
        if (i + 1) % 10 == 0:
            say(f"{i + 1} of {count} rounds")
    return out


def _result(
    cfg: Config,
    scale: Scale,
    workload: str,
    sides: tuple[Side, Side],
    pairs: dict[str, list[Any]],
    *,
    threshold: float | None,
) -> AbResult:
    """The gate over the pairs: time through :func:`compare_pairs`, statements exactly."""
    rules = rules_from_config(cfg.regression, threshold=threshold)
    limit = threshold if threshold is not None else cfg.regression.threshold
    timing = COMPARED["batch_seconds"]
    time_rule = Rule(threshold=limit, noise_floor=0.0, gate=rules["batch_seconds"].gate)
    evidence = compare_pairs(pairs["bs"], pairs["cs"], threshold=limit)
    batch = MetricComparison(
        timing, time_rule, statistics.median(pairs["bs"]), statistics.median(pairs["cs"]),
        evidence.decision, evidence=evidence, scale=scale.name,
    )  # fmt: skip
    counts = COMPARED["statements"]
    before, after = max(pairs["bn"]), max(pairs["cn"])
    statements = MetricComparison(
        counts, rules["statements"], float(before), float(after),
        judge(counts, rules["statements"], baseline=before, new=after), scale=scale.name,
    )  # fmt: skip
    return AbResult(
        scale=scale.name, workload=workload, base=sides[0], candidate=sides[1],
        rounds=len(pairs["bs"]), base_seconds=tuple(pairs["bs"]),
        candidate_seconds=tuple(pairs["cs"]), base_statements=tuple(pairs["bn"]),
        candidate_statements=tuple(pairs["cn"]), metrics=(batch, statements),
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# git


def _git(repo: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise AbError("git is not installed: perfkit ab needs it") from None


def git_toplevel(folder: Path) -> Path:
    """The top folder of the git checkout holding ``folder``."""
    done = _git(folder, "rev-parse", "--show-toplevel")
    if done.returncode != 0 or not done.stdout.strip():
        raise AbError(
            f"{folder} is not in a git checkout: perfkit ab compares two commits of one",
            hint="run it in the repository's checkout",
        )
    return Path(done.stdout.strip())


def _head(repo: Path) -> str | None:
    done = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD")
    return done.stdout.strip() or None


@contextlib.contextmanager
def base_worktree(repo: Path, commit: str, *, progress: Progress) -> Iterator[Path]:
    """``commit`` checked out (detached) in a temporary worktree of ``repo``; removed on exit,
    whatever happened, even when the checkout itself was cut short."""
    holder = Path(tempfile.mkdtemp(prefix="perfkit-ab-"))
    tree = holder / "base"
    progress(f"checking out {commit[:10]} into a temporary worktree")
    try:
        done = _git(repo, "worktree", "add", "--detach", str(tree), commit)
        if done.returncode != 0:
            line = (done.stderr.strip().splitlines() or ["git worktree add failed"])[-1]
            raise AbError(f"cannot check out {commit[:10]}: {line}")
        yield tree
    finally:
        # twice --force: a checkout cut short leaves its worktree locked ("initializing")
        if _git(repo, "worktree", "remove", "--force", "--force", str(tree)).returncode:
            _git(repo, "worktree", "unlock", str(tree))
        shutil.rmtree(holder, ignore_errors=True)
        _git(repo, "worktree", "prune")


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) meanwhile, so the worktree and workers are cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------------------------
# workers


class Worker:
    """A worker process (:mod:`perfkit.ab_worker`) for one side; JSON lines both ways."""

    def __init__(self, name: str, process: subprocess.Popen[str], log: IO[str]) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    @contextlib.contextmanager
    def start(cls, name: str, tree: Path) -> Iterator[Worker]:
        """The worker for the side whose tree is ``tree``; stopped on exit."""
        log = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [sys.executable, "-P", str(WORKER), str(tree)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            cwd=str(tree), env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
        worker = cls(name, process, log)
        try:
            yield worker
        finally:
            worker.stop()
            log.close()

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request; its answer, or an :class:`AbError` saying why there is none."""
        self.send(message)
        return self.receive()

    def send(self, message: dict[str, Any]) -> None:
        """Send one request (:meth:`receive` reads its answer)."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died() from None

    def receive(self) -> dict[str, Any]:
        """The answer to the request sent last, or an :class:`AbError` saying why there is
        none."""
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(ANSWER_TIMEOUT):
                raise AbWorkerError(
                    f"the {self.name} worker did not answer within {ANSWER_TIMEOUT:.0f} s",
                    kind="worker",
                )
        line = self.process.stdout.readline()
        if not line:
            raise self._died()
        answer: dict[str, Any] = json.loads(line)
        if answer.get("ok"):
            return answer
        raise self._refusal(answer)

    def _refusal(self, answer: dict[str, Any]) -> AbError:
        kind = str(answer.get("kind", "error"))
        error = mask_text(str(answer.get("error", "")))
        if kind == "contract":
            return AbError(
                f"the {self.name}'s perfkit cannot run an A/B worker: {error}",
                hint="choose a base whose perfkit has load_config, load_application, "
                "create_engine, create_session_factory and WorkloadContext",
                kind="contract",
            )
        if kind == "writes":
            return AbError(
                f"perfkit ab measures read-only workloads; this one writes ({error})",
                hint="measure a writing workload with `nox -s perf-<scale>` on a clone",
                kind="writes",
            )
        return AbWorkerError(f"the {self.name} side failed: {error}", kind="worker")

    def _died(self) -> AbError:
        self.process.wait(timeout=30)
        self.log.seek(0)
        lines = [line for line in self.log.read().splitlines() if line.strip()]
        last = mask_text(lines[-1]) if lines else f"exit status {self.process.returncode}"
        return AbWorkerError(f"the {self.name} worker stopped: {clipped(last, limit=300)}")

    def stop(self) -> None:
        """Ask the worker to exit; kill it when it does not."""
        with contextlib.suppress(OSError, ValueError):
            if self.process.stdin is not None:
                self.process.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
