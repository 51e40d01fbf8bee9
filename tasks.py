"""perfkit's invoke tasks: a thin front end over the ``perfkit`` package.

Run ``invoke --list`` for the tasks and ``invoke <task> --help`` for each one's flags.
Every task takes ``--config`` (default: ``$PERFKIT_CONFIG`` or ./scales.yaml); flags beat
environment variables, which beat scales.yaml, which beats built-in defaults. Tasks are
declared with :func:`perfkit.cli.task`: every parameter is a flag (``--scale small``), and a
bad or missing value is one line and exit status 2.
"""

from __future__ import annotations

from typing import Any

from invoke.context import Context

from perfkit import lifecycle
from perfkit.cli import (
    choice,
    console,
    guarded,
    load,
    none_found,
    print_table,
    run,
    say,
    task,
    warn,
    whole_number,
)

CONFIG_HELP = "config file (default: $PERFKIT_CONFIG, else ./scales.yaml)"
BACKEND_HELP = "auto (default), native, docker or external"
PORT_HELP = "port of the dedicated database (default: database.port, $PERFKIT_PORT)"


def _db_flags(backend: str | None, port: int | None) -> dict[str, Any]:
    return {"database.backend": backend, "database.port": port}


@task(help={"config": CONFIG_HELP, "backend": BACKEND_HELP, "port": PORT_HELP})
def db_up(
    c: Context, config: str | None = None, backend: str | None = None, port: int | None = None
) -> None:
    """Start the dedicated PostgreSQL (idempotent) and create the test database."""
    with guarded():
        cfg = load(config, **_db_flags(backend, port))
        with console().status("bringing the database up ..."):
            status = run(lifecycle.db_up(cfg))
        verb = "started" if status.started else "already running"
        say((f"database {verb}", "green"), f": {status.backend}, {status.masked_url}")
        print_table("dedicated database", status.rows())


@task(
    help={
        "config": CONFIG_HELP,
        "backend": BACKEND_HELP,
        "port": PORT_HELP,
        "remove_data": "also delete perfkit's cluster (native) or volume (docker)",
    }
)
def db_down(
    c: Context,
    config: str | None = None,
    backend: str | None = None,
    port: int | None = None,
    remove_data: bool = False,
) -> None:
    """Stop the dedicated PostgreSQL; --remove-data deletes its data too."""
    with guarded():
        cfg = load(config, **_db_flags(backend, port))
        console().print(run(lifecycle.db_down(cfg, remove_data=remove_data)))


@task(help={"config": CONFIG_HELP, "backend": BACKEND_HELP, "port": PORT_HELP})
def db_status(
    c: Context, config: str | None = None, backend: str | None = None, port: int | None = None
) -> None:
    """Show the database's backend, version, port, data size and whether it is up."""
    with guarded():
        status = run(lifecycle.db_status(load(config, **_db_flags(backend, port))))
        print_table("dedicated database", status.rows())


@task(help={"config": CONFIG_HELP, "backend": BACKEND_HELP, "port": PORT_HELP})
def db_url(
    c: Context, config: str | None = None, backend: str | None = None, port: int | None = None
) -> None:
    """Print the test database URL with its password, for `export TEST_DATABASE_URL=...`."""
    with guarded():
        print(lifecycle.db_url(load(config, **_db_flags(backend, port))))


# -- snapshots (perfkit.snapshot) ---------------------------------------------------------------

SCALE_HELP = "a scale from scales.yaml (small, medium, large, ...)"
CONFIRM_HELP = "repeat the target database's name to allow one that is not clearly a test database"


@task(
    help={
        "scale": SCALE_HELP,
        "config": CONFIG_HELP,
        "confirm_database": CONFIRM_HELP,
        "no_prune": "do not prune old snapshots afterwards",
    }
)
def snapshot(
    c: Context,
    scale: str,
    config: str | None = None,
    confirm_database: str | None = None,
    no_prune: bool = False,
) -> None:
    """Save the scale's dataset as a snapshot (seeding it first if needed), then prune."""
    from perfkit import views
    from perfkit.prepare import create_snapshot

    with guarded():
        cfg = load(config)
        with console().status("snapshot ...") as status:
            report = run(
                create_snapshot(
                    lifecycle.db_url(cfg), cfg, cfg.scale(scale), confirm=confirm_database,
                    prune_after=not no_prune, progress=status.update,
                )
            )  # fmt: skip
        console().print(views.snapshot_done(report))
        for line in views.prune_lines(report.pruned) if report.pruned else []:
            console().print(line)


@task(
    help={
        "scale": SCALE_HELP,
        "snapshot": "snapshot id (default: the scale's latest; `invoke snapshots` lists them)",
        "as_of": "move the data's dates to this day, YYYY-MM-DD (default: today)",
        "method": "auto (template when it holds the snapshot, else files), template or file",
        "config": CONFIG_HELP,
        "confirm_database": CONFIRM_HELP,
    }
)
def restore(
    c: Context,
    scale: str,
    snapshot: str | None = None,
    as_of: str | None = None,
    method: str = "auto",
    config: str | None = None,
    confirm_database: str | None = None,
) -> None:
    """Make the test database hold a verified snapshot, dates moved to today (or --as-of)."""
    from perfkit import views
    from perfkit.snapshot import restore_snapshot

    with guarded():
        method = choice(method, flag="--method", choices=("auto", "template", "file"))
        cfg = load(config)
        with console().status("restore ...") as status:
            report = run(
                restore_snapshot(
                    lifecycle.db_url(cfg), cfg, cfg.scale(scale), snapshot_id=snapshot,
                    as_of=as_of, method=method, confirm=confirm_database,  # type: ignore[arg-type]
                    progress=status.update,
                )
            )  # fmt: skip
        console().print(views.restore_done(report))


@task(help={"scale": "only this scale", "config": CONFIG_HELP})
def snapshots(c: Context, scale: str | None = None, config: str | None = None) -> None:
    """List snapshots: scale, id, age, size, rows, anchor date, fits the current schema."""
    from perfkit import views
    from perfkit.snapshot import list_snapshots

    with guarded():
        cfg = load(config)
        listed = list_snapshots(cfg, scale=scale)
        if not listed:
            say(none_found(cfg, scale=scale))
            return
        console().print(views.snapshots_table(listed))
        say(f"directory: {cfg.snapshots.directory}")


@task(
    help={
        "scale": "only this scale",
        "keep": "snapshots kept per scale, 1 or more (default: snapshots.keep in scales.yaml)",
        "dry_run": "show what would be removed, remove nothing",
        "config": CONFIG_HELP,
    }
)
def prune(
    c: Context,
    scale: str | None = None,
    keep: str | None = None,
    dry_run: bool = False,
    config: str | None = None,
) -> None:
    """Keep the newest N snapshots per scale; drop stale templates and leftovers."""
    from perfkit import views
    from perfkit.snapshot import prune as prune_snapshots

    with guarded():
        kept = whole_number(keep, flag="--keep")
        cfg = load(config)
        report = run(
            prune_snapshots(cfg, url=lifecycle.db_url(cfg), scale=scale, keep=kept, dry_run=dry_run)
        )
        for line in views.prune_lines(report):
            console().print(line)


@task(help={"scale": "only this scale", "snapshot": "only this snapshot id", "config": CONFIG_HELP})
def verify(
    c: Context, scale: str | None = None, snapshot: str | None = None, config: str | None = None
) -> None:
    """Check snapshots' manifests, schema fingerprints and file checksums (exit 1 if any fail)."""
    from perfkit import views
    from perfkit.snapshot import SnapshotError, verify_snapshots
    from perfkit.snapshot.errors import SnapshotNotFoundError

    with guarded():
        cfg = load(config)
        try:
            results = verify_snapshots(cfg, scale=scale, snapshot_id=snapshot)
        except SnapshotNotFoundError:
            results = []
        if not results:
            say(none_found(cfg, scale=scale, snapshot_id=snapshot, verb="to verify"))
            return
        console().print(views.verify_table(results))
        bad = [r for r in results if not r.ok]
        if bad:
            raise SnapshotError(f"{len(bad)} of {len(results)} snapshots failed verification")


@task(
    help={
        "scale": SCALE_HELP,
        "snapshot": "the snapshot id to trust (`invoke snapshots` lists it as untrusted)",
        "config": CONFIG_HELP,
    }
)
def trust(c: Context, scale: str, snapshot: str, config: str | None = None) -> None:
    """Check a snapshot made elsewhere (every field, table and file), then sign it as ours.

    Snapshots are signed with this project's key (<state dir>/snapshot.key); one copied from
    another machine, or made before snapshots were signed, is listed as untrusted and never
    restored until it is checked and signed here. Refuses (exit 1) a damaged one.
    """
    from perfkit.snapshot.listing import trust_snapshot

    with guarded():
        cfg = load(config)
        with console().status("trust ...") as status:
            trusted = trust_snapshot(cfg, scale=scale, snapshot_id=snapshot, progress=status.update)
        for line in trusted.lines():
            console().print(line, markup=False, highlight=False)


@task(
    help={
        "scale": SCALE_HELP,
        "as_of": "date the data for this day, YYYY-MM-DD (default: today)",
        "config": CONFIG_HELP,
        "confirm_database": CONFIRM_HELP,
    }
)
def prepare(
    c: Context,
    scale: str,
    as_of: str | None = None,
    config: str | None = None,
    confirm_database: str | None = None,
) -> None:
    """Data ready: keep, clone the template, restore a snapshot, or seed + snapshot."""
    from perfkit import views
    from perfkit.prepare import prepare_command as prepare_data

    with guarded():
        cfg = load(config)
        with console().status("preparing data ...") as status:
            report, path = run(
                prepare_data(
                    lifecycle.db_url(cfg), cfg, cfg.scale(scale), as_of=as_of,
                    confirm=confirm_database, progress=status.update,
                )
            )  # fmt: skip
        console().print(views.prepare_done(report))
        console().print(f"report: {path}")


@task(
    help={
        "scales": "comma-separated scales (default: medium,large)",
        "repeat": "runs of each method; medians are reported (default 3)",
        "config": CONFIG_HELP,
    }
)
def bench_restore(
    c: Context, scales: str = "medium,large", repeat: str = "3", config: str | None = None
) -> None:
    """Benchmark restores side by side: psql replay, pg_restore -j 2, perfkit file, template."""
    from benchmarks.bench_restore import run_benchmark

    with guarded():
        runs = whole_number(repeat, flag="--repeat", default=3, maximum=100) or 3
        cfg = load(config)
        names = [s.strip() for s in scales.split(",") if s.strip()]
        run(run_benchmark(lifecycle.db_url(cfg), cfg, [cfg.scale(n) for n in names],
                          repeat=runs, console=console()))  # fmt: skip


# -- test data (perfkit.datagen) -----------------------------------------------------------------


@task(
    help={
        "scale": SCALE_HELP,
        "seed": "random seed (default: data.seed in scales.yaml)",
        "mode": "realistic or plan (default: data.mode in scales.yaml, $PERFKIT_DATA_MODE)",
        "anchor": "the date generated dates are relative to, YYYY-MM-DD (default: today)",
        "reset": "replace whatever the database holds (test databases only)",
        "force": "seed even a dataset bigger than limits.max_rows in scales.yaml",
        "confirm_database": CONFIRM_HELP,
        "config": CONFIG_HELP,
        "backend": BACKEND_HELP,
        "port": PORT_HELP,
    }
)
def seed(
    c: Context,
    scale: str,
    seed: int | None = None,
    mode: str | None = None,
    anchor: str | None = None,
    reset: bool = False,
    force: bool = False,
    confirm_database: str | None = None,
    config: str | None = None,
    backend: str | None = None,
    port: int | None = None,
) -> None:
    """Fill the test database with the scale's deterministic data (COPY; all or nothing)."""
    from perfkit import views
    from perfkit.datagen.command import seed_command

    with guarded():
        cfg = load(config, **{"data.seed": seed, "data.mode": mode}, **_db_flags(backend, port))
        with views.seed_progress(console()) as progress:
            outcome = seed_command(
                cfg, scale=scale, anchor=anchor, reset=reset, confirm=confirm_database,
                force=force, progress=progress,
            )  # fmt: skip
        say(outcome.summary())
        if outcome.report.created:
            console().print(views.seed_table(outcome.report))


@task(
    help={
        "sql": "the schema's SQL file (e.g. pg_dump --schema-only output)",
        "metadata": "module:attribute of the SQLAlchemy MetaData (or declarative base)",
        "migrations": "the command that builds the schema, e.g. 'alembic upgrade head'",
        "output": "where to write (default perf/scales.yaml)",
        "force": "replace the file if it exists",
        "name": "the application's name (default: the current folder's)",
        "locale": "locale of names, e-mails, phones, addresses (Faker's; default en_US)",
        "config": CONFIG_HELP,
    }
)
def init(
    c: Context,
    sql: str | None = None,
    metadata: str | None = None,
    migrations: str | None = None,
    output: str = "perf/scales.yaml",
    force: bool = False,
    name: str | None = None,
    locale: str = "en_US",
    config: str | None = None,
) -> None:
    """Write a first scales.yaml from the application's schema: every table, inferred data."""
    from perfkit.init import init_command

    with guarded():
        with console().status("reading the schema ..."):
            report = init_command(
                config=config, output=output, sql=sql, metadata=metadata,
                migrations=migrations, force=force, name=name, locale=locale,
            )  # fmt: skip
        for line in report.lines():
            say(line)


@task(
    help={
        "repeats": "runs per case; times are medians (default 3)",
        "quick": "skip the slow cases (the plan's method at medium, 5,000 offices)",
        "config": CONFIG_HELP,
    }
)
def bench_seed(
    c: Context, repeats: str = "3", quick: bool = False, config: str | None = None
) -> None:
    """Benchmark seeding against the plan's ORM method on a private server; print the table."""
    from benchmarks.bench_seed import TABLE_NOTES, bench_table, run_benchmark, target_lines

    with guarded():
        runs = whole_number(repeats, flag="--repeats", default=3, maximum=100) or 3
        cfg = load(config)
        with console().status("benchmark ...") as status:
            report = run(run_benchmark(cfg, repeats=runs, quick=quick, say=status.update))
        console().print(bench_table(report))
        for line in (*TABLE_NOTES, *target_lines(report)):
            console().print(line, soft_wrap=True)


# -- results: report and regression gate (perfkit.report, perfkit.compare) -------------------

BASELINE_HELP = (
    "median:N (last N earlier runs), git:REF (runs of that commit) or run:ID "
    "(default: regression.baseline in scales.yaml)"
)


@task(
    help={
        "format": "md (default: printed, or written with --output), html, both, or comment "
        "(the pull-request comment's Markdown)",
        "output": "a folder (report.md / report.html inside) or one .md/.html file "
        "(default for html/both: <results dir>/report/)",
        "scale": "only these scales, comma-separated (default: every scale with runs)",
        "last": "runs per scale in the history tables and charts, 1 or more (default 20)",
        "baseline": BASELINE_HELP,
        "charts": "inline (default: uPlot embedded, the page opens offline) or cdn (a smaller "
        "page that loads uPlot from jsDelivr)",
        "config": CONFIG_HELP,
    }
)
def report(
    c: Context,
    format: str = "md",
    output: str | None = None,
    scale: str | None = None,
    last: str = "20",
    baseline: str | None = None,
    charts: str = "inline",
    config: str | None = None,
) -> None:
    """Render the results history, verdict first: Markdown, one HTML page, or a PR comment."""
    from perfkit.report import report_command, split_scales

    with guarded():
        runs = whole_number(last, flag="--last", default=20) or 20
        cfg = load(config)
        done = report_command(
            cfg, fmt=format, output=output, scales=split_scales(scale), last=runs,
            baseline=baseline, charts=charts,
        )  # fmt: skip
        for line in done.data.history.skipped:
            warn(line)
        if done.markdown is not None:
            print(done.markdown)
        for path in done.written:
            say(f"report: {path}")


@task(
    help={
        "scale": "only these scales, comma-separated (default: the scales of the newest run)",
        "baseline": BASELINE_HELP,
        "threshold": "fraction worse that fails, for every metric (e.g. 0.3; "
        "default: regression.threshold and per-metric overrides in scales.yaml)",
        "run_id": "compare this run (an id, or a unique prefix) instead of the newest",
        "history": "list the steps (change points) in every metric's history instead: "
        "the commits around each, the values before and after, and the size",
        "config": CONFIG_HELP,
    }
)
def compare(
    c: Context,
    scale: str | None = None,
    baseline: str | None = None,
    threshold: str | None = None,
    run_id: str | None = None,
    history: bool = False,
    config: str | None = None,
) -> None:
    """Compare the newest run with a baseline; exit 6 when a metric regressed."""
    from perfkit import views
    from perfkit.compare import (
        check,
        compare_command,
        deprecated_settings,
        parse_threshold,
        steps_command,
    )
    from perfkit.report import split_scales

    with guarded():
        cfg = load(config)
        for line in deprecated_settings(cfg.regression):
            warn(line)
        if history:
            records, steps = steps_command(cfg, scales=split_scales(scale))
            for line in records.skipped:
                warn(line)
            say(f"{len(steps)} step{'s' if len(steps) != 1 else ''} in {records.source} "
                f"({len(records)} run records)")  # fmt: skip
            for step in steps:
                print(step.sentence())
            return
        history_, comparisons = compare_command(
            cfg, scales=split_scales(scale), baseline=baseline,
            threshold=parse_threshold(threshold), run_id=run_id,
        )  # fmt: skip
        for line in history_.skipped:
            warn(line)
        if not comparisons:
            say(
                f"no runs recorded yet in {history_.source}: nothing to compare "
                "(run `nox -s perf-small` first)"
            )
        for comparison in comparisons:
            if comparison.metrics:
                console().print(views.comparison_table(comparison))
            else:
                say(comparison.summary())
            for metric in comparison.metrics:
                if metric.verdict not in ("unchanged", "no baseline"):
                    say(f"  {metric.sentence()}")
            for line in comparison.changes:
                say(f"  {line}")
        check(comparisons)


@task(
    help={
        "base": "the git ref to measure against (a branch, tag, commit, HEAD~1)",
        "scale": "the scale whose data both sides read (default: the first in scales.yaml)",
        "workload": "a read-only workload of the application (default: its default workload)",
        "rounds": "rounds of one base and one candidate run each, 10 or more (default: the "
        "scale's repeat)",
        "threshold": "fraction worse that fails (default: regression.threshold)",
        "json": "print the result as JSON (every sample, each metric's verdict)",
        "config": CONFIG_HELP,
    }
)
def ab(
    c: Context,
    base: str,
    scale: str | None = None,
    workload: str | None = None,
    rounds: str | None = None,
    threshold: str | None = None,
    json: bool = False,
    config: str | None = None,
) -> None:
    """Measure the working tree against --base, interleaved in one job; exit 6 on a regression.

    The base is checked out into a temporary git worktree; the candidate makes the scale's
    data ready once; one warm worker per side runs the workload in turns (A B, B A, ...) on the
    same data and server; the pairs go through the statistical gate.
    """
    import json as jsonlib

    from perfkit.ab import ab_command, check
    from perfkit.compare import deprecated_settings, parse_threshold

    with guarded():
        count = whole_number(rounds, flag="--rounds", maximum=10_000)
        limit = parse_threshold(threshold)
        cfg = load(config)
        for line in deprecated_settings(cfg.regression):
            warn(line)
        with console().status("A/B ...") as status:
            result = run(
                ab_command(
                    cfg, base=base, url=lifecycle.db_url(cfg), scale=scale, workload=workload,
                    rounds=count, threshold=limit, progress=status.update,
                )
            )  # fmt: skip
        if json:
            print(jsonlib.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        else:
            for line in result.lines():
                print(line)
        check(result)


@task(
    help={
        "scale": SCALE_HELP,
        "workload": "a workload of the application (default: its default workload)",
        "top": "statements to explain, 1 or more (default 5)",
        "config": CONFIG_HELP,
    }
)
def explain(
    c: Context,
    scale: str,
    workload: str | None = None,
    top: str = "5",
    config: str | None = None,
) -> None:
    """Print a workload's statement profile and the plans of its top statements (no perf run)."""
    from perfkit.plans import explain_command

    with guarded():
        limit = whole_number(top, flag="--top", default=5) or 5
        cfg = load(config)
        with console().status("profiling ...") as status:
            done = run(
                explain_command(
                    cfg, cfg.scale(scale), url=lifecycle.db_url(cfg), workload=workload,
                    limit=limit, progress=status.update,
                )
            )  # fmt: skip
        for line in done.lines():
            print(line)
