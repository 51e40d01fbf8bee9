"""Hostile input, no database: every bad value is a one-line error with exit status 2 (or a
skipped line with a warning), never a traceback, a hang or a silent success.

New names are reached through their modules (``text.quoted``, ``errors.ConfigFileError``) inside
the tests, so each test fails on its own when the behaviour it checks is missing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import itertools
import json
import logging
import os
import signal
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from perfkit import config, errors, exits, text
from perfkit.compare import compare_history, rules_from_config
from perfkit.datagen import command
from perfkit.datagen.recipe import Shape
from perfkit.history import load_history
from perfkit.report import build_report, render_html, render_markdown
from perfkit.run import Run
from perfkit.snapshot.errors import InterruptedAfterSwapError
from perfkit.testing import run_record

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = """
scales:
  small: {offices: 10}
  medium: {offices: 100}
"""
#: Longer than this, a message line is not "one line" any more.
LINE = 400


def write(tmp_path: Path, body: str, name: str = "scales.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def config_error(tmp_path: Path, body: str, **kw: Any) -> errors.ConfigError:
    """The ConfigError loading ``body`` raises; it is always one short line."""
    with pytest.raises(errors.ConfigError) as info:
        config.load_config(write(tmp_path, body), env=kw.pop("env", {}), **kw)
    err = info.value
    assert err.exit_code == 2
    assert "\n" not in err.one_line() and len(err.one_line()) < LINE, err.one_line()
    return err


def project_text() -> str:
    return (ROOT / "scales.yaml").read_text(encoding="utf-8")


# -- 12. tracebacks: nesting, billion laughs, dates, non-finite numbers, huge integers -----------


@pytest.mark.parametrize(
    ("body", "path_start"),
    [
        ("scales: " + "[" * 5000 + "]" * 5000 + "\n", "scales[0][0]"),
        ("scales: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "scales.a.a"),
        ("scales:\n  small:\n" + "".join("  " * (i + 2) + f"k{i}:\n" for i in range(60)), "scales"),
    ],
    ids=["sequences", "flow-mappings", "block-mappings"],
)
def test_deeply_nested_yaml_is_one_config_error(tmp_path: Path, body: str, path_start: str) -> None:
    err = config_error(tmp_path, body)
    assert isinstance(err, errors.ConfigFileError)
    assert err.reason == "too_deep"
    assert err.key_path.startswith(path_start)
    assert err.line is not None


def test_deeply_nested_yaml_in_an_environment_variable_is_just_text(tmp_path: Path) -> None:
    nested = "[" * 5000 + "]" * 5000
    err = config_error(tmp_path, MINIMAL, env={"PERFKIT_DATABASE": nested})
    assert err.source == "environment PERFKIT_DATABASE"
    assert err.key_path == "database.name"


def billion_laughs() -> str:
    """A YAML flow value of 9 levels of 9 aliases: it expands to 9**9 (387 million) strings,
    each level defined inside the first item of the next."""
    value = "&a [" + ", ".join(['"lol"'] * 9) + "]"
    for prev, cur in itertools.pairwise("abcdefghi"):
        value = f"&{cur} [{value}, " + ", ".join([f"*{prev}"] * 8) + "]"
    return value


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("template", "key_path"),
    [
        ("scales:\n  small: {offices: @}\n", "scales.small.offices"),
        ("scales: @\n", "scales"),
        (MINIMAL + "database: {backend: @}\n", "database.backend"),
        (MINIMAL + "database: {settings: {work_mem: @}}\n", "database.settings.work_mem"),
        (
            MINIMAL + "data: {realistic: {email_threshold_days: @}}\n",
            "data.realistic.email_threshold_days[0]",
        ),
    ],
    ids=["integer", "scales", "choice", "setting", "list"],
)
def test_a_billion_laughs_value_is_quoted_short(
    tmp_path: Path, template: str, key_path: str
) -> None:
    err = config_error(tmp_path, template.replace("@", billion_laughs()))
    assert err.key_path == key_path  # and config_error checked the line is short


def test_quoted_caps_every_kind_of_value() -> None:
    huge: Any = ["lol"] * 9
    for _ in range(9):
        huge = [huge] * 9
    deep: Any = []
    for _ in range(10_000):
        deep = [deep]
    values = [huge, deep, "x" * 10**6, 7**5000, b"\0" * 10**6, {"k" * 10**5: 1}, "[/x]"]
    for value in values:
        shown = text.quoted(value)
        assert len(shown) <= text.QUOTE_LIMIT, shown
        assert "\n" not in shown
    assert text.quoted("[/x]") == "'[/x]'"  # short values are exactly repr()
    assert text.quoted(12) == "12"


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "3000-01-01"])
def test_dates_at_the_ends_of_the_calendar_are_refused(day: str) -> None:
    with pytest.raises(text.BadDateError) as info:
        command.parse_anchor(day)
    assert info.value.key_path == "--anchor" and info.value.exit_code == 2
    with pytest.raises(text.BadDateError) as as_of:
        text.parse_day(day, flag="--as-of")
    assert as_of.value.key_path == "--as-of"


def test_the_accepted_date_range_generates_without_overflow(tmp_path: Path) -> None:
    """At both ends of the accepted range, with the most history the config allows, every
    table of the sample application generates (old code overflowed at 0001-01-01)."""
    cfg = config.load_config(ROOT / "scales.yaml", env={})
    app = Run(cfg).app
    realistic = msgspec.structs.replace(cfg.data.realistic, finished_cycles_per_plan=1000)
    data = msgspec.structs.replace(cfg.data, realistic=realistic)
    for anchor in (text.EARLIEST_DAY, text.LATEST_DAY):
        assert command.parse_anchor(anchor.isoformat()) == anchor
        for mode in ("plan", "realistic"):
            shape = Shape(
                scale=msgspec.structs.replace(cfg.scale("small"), offices=1),
                data=data, mode=mode, seed=1, anchor=anchor, version=app.recipe.version,
            )  # fmt: skip
            for table in app.recipe.tables:
                assert list(itertools.islice(table.generate(shape), 50))


@pytest.mark.parametrize(
    ("replace", "key_path"),
    [
        (
            "roles: {service_manager: 0.2, employee: 0.7, owner: 0.1}",
            "data.realistic.roles.service_manager",
        ),
        ("overdue: 0.05", "data.realistic.cycle_due.overdue"),
        ("staff_email_off: 0.15", "data.realistic.staff_email_off"),
        ("batch: 0.25", "scales.small.budgets.batch"),
        ("threshold: 0.20", "regression.threshold"),
    ],
)
@pytest.mark.parametrize("bad", [".nan", ".inf", "-.inf"])
def test_non_finite_numbers_are_refused(
    tmp_path: Path, replace: str, key_path: str, bad: str
) -> None:
    key, _, value = replace.partition(": ")
    if value.startswith("{"):  # the roles mapping: the first share becomes the bad value
        new = f"{key}: {{service_manager: {bad}, employee: 0.7, owner: 0.1}}"
    else:
        new = f"{key}: {bad}"
    body = project_text().replace(replace, new, 1)
    assert body != project_text()
    err = config_error(tmp_path, body)
    assert err.key_path == key_path
    assert "finite" in err.message


@pytest.mark.parametrize(
    ("old", "template", "key_path"),
    [
        (
            "finished_cycles_per_plan: 1 ",
            "finished_cycles_per_plan: {} ",
            "data.realistic.finished_cycles_per_plan",
        ),
        ("offices: 10\n", "offices: {}\n", "scales.small.offices"),
        ("timeout: 600 ", "timeout: {} ", "scales.small.timeout"),
        ("pool_size: 20", "pool_size: {}", "pool.pool_size"),
    ],
)
@pytest.mark.parametrize("bad", ["1000000000000", "1" + "0" * 400])
def test_huge_integers_are_refused(
    tmp_path: Path, old: str, template: str, key_path: str, bad: str
) -> None:
    body = project_text().replace(old, template.format(bad), 1)
    err = config_error(tmp_path, body)
    assert err.key_path == key_path
    assert "at most" in err.message


def test_finished_cycles_past_the_calendar_are_refused(tmp_path: Path) -> None:
    """5,000 finished cycles of 180 days reach back 2,466 years: before year 1."""
    body = project_text().replace("finished_cycles_per_plan: 1 ", "finished_cycles_per_plan: 5000 ")
    err = config_error(tmp_path, body)
    assert err.key_path == "data.realistic.finished_cycles_per_plan"


def test_values_yaml_cannot_make_are_config_errors(tmp_path: Path) -> None:
    for value in ("2026-13-45", "1" * 5000):
        err = config_error(tmp_path, f"scales:\n  small: {{offices: {value}}}\n")
        assert isinstance(err, errors.ConfigFileError)
        assert err.reason == "syntax" and err.line == 2


def test_markup_and_brackets_in_messages_print_literally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cases: list[tuple[errors.PerfkitError, str]] = [
        (errors.UnknownScaleError("[/x]", ("small",)), "unknown scale '[/x]'"),
        (
            errors.DatabaseEnvError("no binaries", hint="pip install 'perfkit[embedded]'"),
            "pip install 'perfkit[embedded]'",
        ),
        (errors.PerfkitError("[bold]not bold[/bold] :smile: [link=x]y[/link]"),
         "[bold]not bold[/bold] :smile: [link=x]y[/link]"),
    ]  # fmt: skip
    for error, shown in cases:
        with pytest.raises(SystemExit) as exited, exits.guarded():
            raise error
        assert exited.value.code == error.exit_code
        err = capsys.readouterr().err
        assert shown in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_unexpected_exception_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited, exits.guarded():
        dt.date.max.__add__(dt.timedelta(days=1))
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("perfkit: internal error: OverflowError") and "PERFKIT_DEBUG" in err
    assert len(err.splitlines()) == 1


#: One field of a good run record, replaced by a value of the wrong type (or out of range).
BAD_FIELDS: dict[str, tuple[str, object]] = {
    "run_id-number": ("run_id", 5),
    "scale-list": ("scale", ["small"]),
    "when-number": ("when", 5),
    "when-overflows": ("when", "9999-12-31T23:00:00-05:00"),
    "commit-number": ("commit", 12345678),
    "metric-text": ("metrics", {"batch_seconds": "fast", "statements": 1}),
    "metric-huge": ("metrics", {"batch_seconds": 10**400}),
    "samples-text": ("samples", {"batch_seconds": "abc"}),
    "samples-mixed": ("samples", {"batch_seconds": [0.1, "x"]}),
    "budget-text": ("budgets", {"batch": "two seconds"}),
    "machine-list": ("machine", {"cpus": [2], "hostname": "ci"}),
    "failures-numbers": ("failures", [1, 2]),
    "workload-number": ("workload", 7),
    "schema-text": ("schema", "one"),
}


def records_file(tmp_path: Path, bad: dict[str, object]) -> Path:
    """results.jsonl: two good runs of small, then ``bad`` as the newest run."""
    lines = [run_record(n).to_dict() for n in range(2)] + [bad]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", list(BAD_FIELDS), ids=list(BAD_FIELDS))
def test_a_wrongly_typed_run_record_is_skipped_with_a_warning(tmp_path: Path, case: str) -> None:
    key, value = BAD_FIELDS[case]
    bad = {**run_record(2, passed=False, failures=["slow"]).to_dict(), key: value}
    history = load_history(records_file(tmp_path, bad))
    assert len(history) == 2 and len(history.skipped) == 1
    assert "\n" not in history.skipped[0] and len(history.skipped[0]) < LINE
    cfg = config.load_config(write(tmp_path, MINIMAL), env={})
    comparisons = compare_history(
        history, baseline="median:5", rules=rules_from_config(cfg.regression)
    )
    data = build_report(history, scale_order=cfg.scale_names, comparisons=comparisons)
    assert "small" in render_markdown(data)


def test_every_wrongly_typed_record_at_once_still_renders_html(tmp_path: Path) -> None:
    path = records_file(tmp_path, run_record(2).to_dict())
    with path.open("a", encoding="utf-8") as out:
        for n, (key, value) in enumerate(BAD_FIELDS.values(), start=3):
            out.write(json.dumps({**run_record(n).to_dict(), key: value}) + "\n")
    history = load_history(path)
    assert len(history) == 3 and len(history.skipped) == len(BAD_FIELDS)
    comparisons = compare_history(
        history, baseline="median:5", rules=rules_from_config(config.RegressionConfig())
    )
    assert [c.candidate.run_id for c in comparisons] == [run_record(2).run_id]
    assert "<html" in render_html(build_report(history, comparisons=comparisons))


# -- 14. commands that succeed at nothing --------------------------------------------------------


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    body = project_text().replace("  medium:\n", "  small:\n", 1)
    err = config_error(tmp_path, body)
    assert isinstance(err, errors.ConfigFileError)
    assert err.reason == "duplicate_key" and err.key_path == "scales.small"
    second = [n for n, line in enumerate(body.splitlines(), start=1) if line == "  small:"][1]
    assert err.line == second


@pytest.mark.parametrize(
    ("body", "key_path"),
    [
        (MINIMAL + "database: {port: 5433, port: 5434}\n", "database.port"),
        (MINIMAL + "pool: {pool_size: 1}\npool: {pool_size: 2}\n", "pool"),
        (
            MINIMAL + "regression:\n  metrics:\n    statements: {gate: true, gate: false}\n",
            "regression.metrics.statements.gate",
        ),
    ],
)
def test_duplicate_keys_anywhere_are_refused(tmp_path: Path, body: str, key_path: str) -> None:
    err = config_error(tmp_path, body)
    assert isinstance(err, errors.ConfigFileError)
    assert (err.reason, err.key_path) == ("duplicate_key", key_path)


def test_merge_keys_and_aliases_still_work(tmp_path: Path) -> None:
    body = """
    scales:
      small: &base {offices: 10, staff_per_office: 5}
      medium:
        <<: *base
        offices: 100
    """
    cfg = config.load_config(write(tmp_path, body), env={})
    assert cfg.scale("medium").offices == 100 and cfg.scale("medium").staff_per_office == 5


@pytest.mark.parametrize(
    "tag",
    ["!!python/object/apply:os.system ['true']", "!!python/object:os.system {}",
     "!!python/name:os.system ''"],
)  # fmt: skip
def test_python_tags_stay_refused(tmp_path: Path, tag: str) -> None:
    err = config_error(tmp_path, f"scales:\n  small: {tag}\n")
    assert isinstance(err, errors.ConfigFileError) and err.reason == "syntax"


def test_a_dataset_past_the_row_limit_is_refused_with_its_estimate(tmp_path: Path) -> None:
    body = project_text().replace("offices: 500", "offices: 1000000000", 1)
    cfg = config.load_config(write(tmp_path, body), env={})
    large = cfg.scale("large")
    with pytest.raises(errors.DatasetTooLargeError) as info:
        command.check_dataset_size(Run(cfg), large)
    err = info.value
    expected = Run(cfg).app.recipe.row_counts(large, cfg.data, cfg.data.mode)
    assert err.rows == sum(expected.values()) and err.rows > 10**11
    assert err.limit == config.DEFAULT_MAX_ROWS == cfg.limits.max_rows
    assert err.size > err.rows * 50  # bytes: dozens per row at least
    assert err.exit_code == 2 and "limits.max_rows" in err.one_line()
    assert "--force" in err.one_line() and f"{err.rows:,}" in err.one_line()
    assert command.check_dataset_size(Run(cfg), large, force=True).total_rows == err.rows
    raised = config.load_config(
        write(
            tmp_path,
            body.replace("max_rows: 50000000", "max_rows: 1000000000000", 1),
            "raised.yaml",
        ),
        env={},
    )
    assert command.check_dataset_size(Run(raised), raised.scale("large")).total_rows == err.rows


def test_the_row_limit_lets_the_shipped_scales_through() -> None:
    cfg = config.load_config(ROOT / "scales.yaml", env={})
    for scale in cfg.scales.values():
        estimate = command.check_dataset_size(Run(cfg), scale)
        assert 0 < estimate.total_rows <= cfg.limits.max_rows
    with pytest.raises(errors.ConfigError) as info:
        config.load_config(ROOT / "scales.yaml", env={}, overrides={"limits.max_rows": "0"})
    assert info.value.key_path == "limits.max_rows"


def test_orphaned_connection_errors_are_not_reported_after_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What Ctrl-C during seed printed three times: asyncpg's waiters fail with a lost
    connection when the cancelled seed terminates its connections, and nobody awaits them."""

    def orphan(exc: BaseException) -> Callable[[], Any]:
        async def work() -> None:
            future = asyncio.get_running_loop().create_future()
            future.set_exception(exc)
            del future
            gc.collect()

        return work

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        exits.run(orphan(ConnectionError("unexpected connection_lost() call"))())
        gc.collect()
    assert "never retrieved" not in caplog.text
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        exits.run(orphan(ValueError("a real bug"))())  # anything else is still reported
        gc.collect()
    assert "never retrieved" in caplog.text and "a real bug" in caplog.text


def test_sigterm_stops_any_command_as_ctrl_c_does(capsys: pytest.CaptureFixture[str]) -> None:
    """SIGTERM in the asynchronous part of a command cancels it (its clean-up runs), in the
    synchronous part it stops where it is; both are one line and exit status 143, and the
    previous SIGTERM handler is back afterwards. An "interrupted" error the cancelled command
    raised (a restore after its swap) keeps its words but exits 143."""
    before = signal.getsignal(signal.SIGTERM)
    cleaned: list[str] = []

    async def command() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)
        finally:
            cleaned.append("clean-up ran")

    with pytest.raises(SystemExit) as stopped, exits.guarded():
        exits.run(command())
    assert stopped.value.code == 143 and cleaned == ["clean-up ran"]
    assert capsys.readouterr().err.splitlines() == ["perfkit: terminated (SIGTERM)"]

    with pytest.raises(SystemExit) as stopped, exits.guarded():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the signal handler raises here
    assert stopped.value.code == 143
    assert capsys.readouterr().err.splitlines() == ["perfkit: terminated (SIGTERM)"]

    async def restore_after_swap() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise InterruptedAfterSwapError("shop_test", None) from None

    with pytest.raises(SystemExit) as stopped, exits.guarded():
        exits.run(restore_after_swap())
    assert stopped.value.code == 143
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("perfkit: terminated (SIGTERM): interrupted after the swap: 'shop_test'")
    assert signal.getsignal(signal.SIGTERM) == before


def test_asyncpg_transport_failures_are_not_reported_by_the_front_end(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a full disk during a snapshot printed before its one line: asyncio's report of
    asyncpg's failed ``data_received()``, two tracebacks. The call that used the connection
    fails on its own; the report is dropped (shown with PERFKIT_DEBUG=1). Other protocols'
    failures are still reported."""
    from asyncpg.protocol.protocol import Protocol

    def report(protocol: object) -> Callable[[], Any]:
        async def work() -> None:
            loop = asyncio.get_running_loop()
            loop.call_exception_handler(
                {"message": "Fatal error: protocol.data_received() call failed.",
                 "exception": AttributeError("'NoneType' object has no attribute 'cancelled'"),
                 "protocol": protocol}
            )  # fmt: skip

        return work

    monkeypatch.delenv("PERFKIT_DEBUG", raising=False)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        exits.run(report(Protocol.__new__(Protocol))())
    assert "data_received" not in caplog.text
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        exits.run(report(asyncio.Protocol())())
    assert "data_received" in caplog.text
    caplog.clear()
    monkeypatch.setenv("PERFKIT_DEBUG", "1")
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        exits.run(report(Protocol.__new__(Protocol))())
    assert "data_received" in caplog.text


# -- 15. small inconsistencies -----------------------------------------------------------------


def test_valid_keys_offer_only_keys_the_file_may_set(tmp_path: Path) -> None:
    err = config_error(tmp_path, MINIMAL + "qqq: 1\n")
    offered = err.message.split("Valid keys: ")[1].split(", ")
    assert "external_url" not in offered and "source" not in offered
    assert {"scales", "database", "limits", "state_dir"} <= set(offered)
    for key in ("external_url", "source"):
        refused = config_error(tmp_path, MINIMAL + f"{key}: x\n")
        assert refused.key_path == key
    assert (
        "PERFORMANCE_TEST_DATABASE_URL"
        in config_error(tmp_path, MINIMAL + "external_url: postgresql://h/db\n").one_line()
    )


@pytest.mark.parametrize(
    ("value", "ok"),
    [("3", 3), ("1", 1), ("0", None), ("-1", None), ("abc", None), ("1.5", None), ("", 7),
     (None, 7), ("--5", None), ("9" * 30, None)],
)  # fmt: skip
def test_whole_number_flags(value: str | None, ok: int | None) -> None:
    if ok is not None:
        assert text.whole_number(value, flag="--keep", default=7) == ok
        return
    with pytest.raises(errors.BadFlagError) as info:
        text.whole_number(value, flag="--keep", default=7)
    assert info.value.key_path == "--keep" and info.value.exit_code == 2


def test_choice_flags() -> None:
    assert text.choice("file", flag="--method", choices=("auto", "template", "file")) == "file"
    with pytest.raises(errors.BadFlagError) as info:
        text.choice("[/x]" * 100, flag="--method", choices=("auto", "template", "file"))
    assert info.value.flag == "--method" and info.value.exit_code == 2
    assert len(info.value.one_line()) < LINE
