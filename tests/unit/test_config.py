"""scales.yaml loading: defaults, precedence, and every kind of bad input."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from perfkit import yamlfile, yamlparse
from perfkit.config import load_config
from perfkit.errors import ConfigError, ConfigFileError, UnknownScaleError
from perfkit.yamlfile import MAX_CONFIG_BYTES, read_config_text

MINIMAL = """
scales:
  small: {offices: 10}
  medium: {offices: 100}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scales.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str, **kw: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env=kw.pop("env", {}), **kw)  # type: ignore[arg-type]
    return info.value


def test_project_file_matches_the_plan(config_file: Path) -> None:
    cfg = load_config(config_file, env={})
    assert cfg.scale_names == ("small", "medium", "large")
    plan = {"small": (10, 600), "medium": (100, 1800), "large": (500, 3600)}
    for name, (offices, timeout) in plan.items():
        scale = cfg.scale(name)
        assert (scale.offices, scale.timeout) == (offices, timeout)
        assert (scale.staff_per_office, scale.recipients_per_office) == (10, 100)
    assert cfg.database.name == "keikakun_test_performance"
    assert cfg.database.port == 5433
    assert cfg.database.settings["shared_buffers"] == "2GB"
    assert cfg.database.settings["statement_timeout"] == "10min"
    p = cfg.pool
    assert (p.pool_size, p.max_overflow, p.pool_timeout, p.pool_recycle) == (20, 30, 60, 3600)
    assert p.pool_pre_ping and p.application_name == "performance_test"
    assert p.statement_timeout == 600 and not p.expire_on_commit and not p.autoflush
    assert cfg.snapshots.keep == 3


def test_defaults_fill_what_the_file_leaves_out(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), env={})
    assert cfg.scale("small").staff_per_office == 10
    assert cfg.database.port == 5433
    assert cfg.pool.pool_size == 20
    assert cfg.snapshots.directory == tmp_path / ".perfkit" / "snapshots"
    assert cfg.state_dir == tmp_path / ".perfkit"


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), env={})
    with pytest.raises(AttributeError):
        cfg.database.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.database.settings["work_mem"] = "1MB"  # type: ignore[index]


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "database: {port: 6000}\n")
    assert load_config(path, env={}).database.port == 6000
    assert load_config(path, env={"PERFKIT_PORT": "6001"}).database.port == 6001
    flagged = load_config(path, env={"PERFKIT_PORT": "6001"}, overrides={"database.port": 6002})
    assert flagged.database.port == 6002


def test_database_url_precedence(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    both = {
        "PERFORMANCE_TEST_DATABASE_URL": "postgresql://a@h/perf",
        "TEST_DATABASE_URL": "postgresql://b@h/test",
    }
    assert load_config(path, env=both).external_url == "postgresql://a@h/perf"
    only_test = {"TEST_DATABASE_URL": "postgresql://b@h/test"}
    assert load_config(path, env=only_test).external_url == "postgresql://b@h/test"
    assert load_config(path, env={}).external_url is None


def test_perfkit_config_env_var_chooses_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, MINIMAL)
    monkeypatch.chdir(tmp_path.parent)
    cfg = load_config(env={"PERFKIT_CONFIG": str(path)})
    assert cfg.source == path


def test_unknown_key_suggests_the_nearest(tmp_path: Path) -> None:
    err = error_for(tmp_path, "scales:\n  small: {ofices: 10}\n")
    assert err.key_path == "scales.small.ofices"
    assert err.suggestion == "offices"
    assert "Did you mean 'offices'?" in err.message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = error_for(tmp_path, MINIMAL + "snapshot: {keep: 2}\n")
    assert err.key_path == "snapshot"
    assert err.suggestion == "snapshots"


@pytest.mark.parametrize(
    ("body", "key_path"),
    [
        ("scales:\n  small: {offices: abc}\n", "scales.small.offices"),
        ("scales:\n  small: {offices: 0}\n", "scales.small.offices"),
        ("scales:\n  small: {offices: -5}\n", "scales.small.offices"),
        ("scales:\n  small: {offices: 1.5}\n", "scales.small.offices"),
        ("scales:\n  small: {offices: true}\n", "scales.small.offices"),
        ("scales:\n  small: {offices: 1, timeout: 0}\n", "scales.small.timeout"),
        ("scales:\n  small: {offices: 1, budgets: {batch: -1}}\n", "scales.small.budgets.batch"),
        (MINIMAL + "pool: {pool_pre_ping: maybe}\n", "pool.pool_pre_ping"),
        (MINIMAL + "database: {port: '5433x'}\n", "database.port"),
        (MINIMAL + "database: {backend: dockr}\n", "database.backend"),
        (MINIMAL + "database: {settings: {work_mem: [1, 2]}}\n", "database.settings.work_mem"),
        (MINIMAL + "snapshots: {keep: 0}\n", "snapshots.keep"),
        (MINIMAL + "data: {realistic: {cycle_due: {overdue: 0.5}}}\n", "data.realistic.cycle_due"),
        (MINIMAL + "safety: {test_database_pattern: '('}\n", "safety.test_database_pattern"),
        ("scales: {}\n", "scales"),
        ("database: {port: 1}\n", "scales"),
        ("scales:\n  Small!: {offices: 1}\n", "scales.Small!"),
        ("scales:\n  small: 10\n", "scales.small"),
        ("scales:\n  small: {}\n", "scales.small.offices"),
    ],
)
def test_bad_values_name_the_key_path(tmp_path: Path, body: str, key_path: str) -> None:
    assert error_for(tmp_path, body).key_path == key_path


def test_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    err = error_for(tmp_path, "scales:\n  small: {offices: abc}\n")
    assert "expected a positive integer, got 'abc'" in err.message
    assert err.exit_code == 2


def test_bad_environment_override_names_the_variable(tmp_path: Path) -> None:
    err = error_for(tmp_path, MINIMAL, env={"PERFKIT_PORT": "many"})
    assert err.source == "environment PERFKIT_PORT"
    assert err.key_path == "database.port"


def test_invalid_yaml_gives_line_and_column(tmp_path: Path) -> None:
    err = error_for(tmp_path, "scales:\n  small: {offices: 10\n")
    assert err.key_path == ""
    assert "line" in err.message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in error_for(tmp_path, "- a\n- b\n").message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", env={})
    assert "not found" in info.value.message


def test_unknown_scale_lists_the_valid_ones(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), env={})
    with pytest.raises(UnknownScaleError) as info:
        cfg.scale("huge")
    assert info.value.valid == ("small", "medium")
    assert info.value.exit_code == 2


def test_scales_up_to_follows_file_order(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + ""), env={})
    assert [s.name for s in cfg.scales_up_to("small")] == ["small"]
    assert [s.name for s in cfg.scales_up_to("medium")] == ["small", "medium"]


def test_a_user_added_scale_is_loaded(tmp_path: Path, config_file: Path) -> None:
    raw = yaml.safe_load(config_file.read_text())
    raw["scales"]["xl"] = {"offices": 5000, "timeout": 7200, "description": "5,000 offices"}
    path = tmp_path / "scales.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = load_config(path, env={})
    assert cfg.scale_names[-1] == "xl"
    assert cfg.scale("xl").staff == 50_000


def test_a_workload_says_whether_it_writes(tmp_path: Path) -> None:
    """``app.workloads.<name>.writes``: false unless said; anything but a boolean names the
    key."""
    body = MINIMAL + textwrap.dedent("""
        app:
          workloads:
            deadline_alerts: {call: "perfkit.apps.welfare.batch:deadline_alerts"}
            nightly: {call: "perfkit.apps.welfare.batch:deadline_alerts", writes: true}
    """)
    cfg = load_config(write(tmp_path, body), env={})
    assert cfg.app.call_workloads["nightly"].writes is True
    assert cfg.app.call_workloads["deadline_alerts"].writes is False
    error = error_for(tmp_path, body.replace("writes: true", "writes: sometimes"))
    assert error.key_path == "app.workloads.nightly.writes"


# -- a config path that is not a regular file: said what it is, exit 2, never blocking ------


def path_kinds(tmp_path: Path) -> dict[str, Path]:
    """A path of each kind that exists but is no config file (and a missing one)."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    loop_a, loop_b, self_loop = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "self.yaml"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    self_loop.symlink_to(self_loop)
    dangling = tmp_path / "dangling.yaml"
    dangling.symlink_to(tmp_path / "gone.yaml")
    to_folder = tmp_path / "to-folder.yaml"
    to_folder.symlink_to(folder)
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"# " + b"x" * (MAX_CONFIG_BYTES + 1) + b"\n")
    return {
        "fifo": fifo, "dev-zero": Path("/dev/zero"), "folder": folder, "loop": loop_a,
        "self-loop": self_loop, "dangling": dangling, "to-folder": to_folder,
        "missing": tmp_path / "missing.yaml", "not-a-folder": huge / "scales.yaml",
        "huge": huge,
    }  # fmt: skip


#: What each kind is said to be: ConfigFileError.reason, and words of its message.
KINDS = {
    "fifo": ("not_regular", "is a FIFO, not a regular file"),
    "dev-zero": ("not_regular", "is a device, not a regular file"),
    "folder": ("directory", "is a directory"),
    "to-folder": ("directory", "is a directory"),
    "loop": ("symlink_loop", "is a symlink loop"),
    "self-loop": ("symlink_loop", "is a symlink loop"),
    "dangling": ("not_found", "symbolic link to a file that does not exist"),
    "missing": ("not_found", "config file not found"),
    "not-a-folder": ("not_found", "config file not found"),
    "huge": ("too_large", "larger than"),
}


@pytest.mark.timeout(20)  # a FIFO read would block forever
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("given", ["flag", "env"])
def test_a_config_path_that_is_no_config_file_says_what_it_is(
    tmp_path: Path, kind: str, given: str
) -> None:
    path = path_kinds(tmp_path)[kind]
    reason, words = KINDS[kind]
    with pytest.raises(ConfigFileError) as info:
        if given == "flag":
            load_config(path, env={})
        else:
            load_config(env={"PERFKIT_CONFIG": str(path)})
    assert info.value.reason == reason and info.value.exit_code == 2
    assert words in info.value.message
    assert ("--config" if given == "flag" else "PERFKIT_CONFIG") in info.value.message
    assert info.value.source == str(path.absolute())


@pytest.mark.timeout(20)
def test_reading_never_blocks_on_a_fifo_put_in_place_after_the_check(tmp_path: Path) -> None:
    fifo = tmp_path / "scales.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigFileError) as info:
        read_config_text(fifo, source=str(fifo))
    assert info.value.reason == "not_regular"


def test_a_config_file_that_cannot_be_read_says_permission_denied(tmp_path: Path) -> None:
    config = tmp_path / "scales.yaml"
    config.write_text("scales:\n  small: {offices: 1}\n")
    config.chmod(0o000)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "scales.yaml").write_text("scales:\n  small: {offices: 1}\n")
    locked.chmod(0o000)
    as_root = os.geteuid() == 0
    if as_root:  # root reads anything: be nobody for the two reads
        os.seteuid(65534)
    try:
        with pytest.raises(ConfigFileError) as unreadable:
            load_config(config, env={})
        with pytest.raises(ConfigFileError) as unsearchable:
            load_config(locked / "scales.yaml", env={})
    finally:
        if as_root:
            os.seteuid(0)
        locked.chmod(0o700)
    for info in (unreadable, unsearchable):
        assert info.value.reason == "permission" and info.value.exit_code == 2
        assert "cannot be read: permission denied" in info.value.message


def test_importing_the_config_loads_no_heavy_library() -> None:
    """``perfkit db-status`` and ``perfkit --help`` read the config and must start in a blink:
    a fresh interpreter that imports perfkit.config (and loads scales.yaml) has imported no
    database driver, ORM, terminal renderer, task runner or pydantic."""
    code = (
        "import sys, json; from perfkit.config import load_config; "
        "load_config('scales.yaml', env={}); print(json.dumps(sorted(sys.modules)))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    heavy = {"sqlalchemy", "asyncpg", "psycopg", "rich", "invoke", "pydantic", "nox", "jsonschema"}
    assert loaded & heavy == set()
    assert "perfkit.config_schema" not in json.loads(done.stdout)
    # beyond the standard library, only what noxfile.py's inline metadata and the CI plan job
    # install (nox's session list and `python -m perfkit.schedule` read the config too)
    third_party = {
        name
        for name in loaded - set(sys.stdlib_module_names)
        if not name.startswith("_") and name != "cython_runtime"  # site and PyYAML's C part
    }
    assert {"perfkit", "msgspec"} <= third_party  # PyYAML only to parse a text not cached
    assert third_party <= {"perfkit", "yaml", "msgspec", "typing_extensions"}


@pytest.mark.parametrize(
    ("body", "key_path", "suggestion"),
    [
        (
            "app: {workloads: {nightly: {call: 'a:b', budgets: {small: {secnds: 1}}}}, "
            "default_workload: nightly}",
            "app.workloads.nightly.budgets.small.secnds",
            "seconds",
        ),
        (
            "app: {workloads: {ok: {call: 'a:b'}, nightly: {call: 'a:b', budgets: "
            "{small: {seconds: 0}}}}, default_workload: nightly}",
            "app.workloads.nightly.budgets.small.seconds",
            None,
        ),
        (
            "app: {workloads: {nightly: {call: 'a:b', kwargs: {when: [1, .inf]}}}, "
            "default_workload: nightly}",
            "app.workloads.nightly.kwargs.when[1]",
            None,
        ),
        ("app: {env: {SECRET: x, '1X': y}}", "app.env.1X", None),
        ("app: {database_env: [OK, 'bad name']}", "app.database_env[1]", None),
        ("database: {settings: {work_mem: 4MB, jit: [on]}}", "database.settings.jit", None),
        ("regression: {metrics: {statements: {gate: true}, peak_memory_mb: {noise_flor: 1}}}",
         "regression.metrics.peak_memory_mb.noise_flor", "noise_floor"),
        ("scales_: 1", "scales_", "scales"),
        ("database: {backend: dockr}", "database.backend", "docker"),
    ],
)  # fmt: skip
def test_an_entry_of_a_users_mapping_is_named_by_its_key(
    tmp_path: Path, body: str, key_path: str, suggestion: str | None
) -> None:
    """msgspec writes a mapping's keys as ``[...]``; the message names the user's own key."""
    err = error_for(tmp_path, MINIMAL + body + "\n")
    assert (err.key_path, err.suggestion) == (key_path, suggestion)
    assert "[...]" not in err.message and "$" not in err.message
    assert len(err.one_line()) < 400 and "\n" not in err.one_line()


def test_run_day_may_be_an_unquoted_date(tmp_path: Path) -> None:
    """docs/keikakun_back.md says ``run_day: 2026-12-01``: YAML makes that a date object (what
    app.data's overrides need for date columns); run_day takes it as the day it names."""
    cfg = load_config(write(tmp_path, MINIMAL + "app: {run_day: 2026-12-01}\n"), env={})
    assert cfg.app.run_day == "2026-12-01"
    err = error_for(tmp_path, MINIMAL + "app: {run_day: '2026-02-30'}\n")
    assert err.key_path == "app.run_day" and "YYYY-MM-DD" in err.message


def test_a_path_with_an_unknown_users_home_is_a_config_error(tmp_path: Path) -> None:
    err = error_for(tmp_path, MINIMAL + "state_dir: ~no_such_user_perfkit/x\n")
    assert err.key_path == "state_dir"


@pytest.mark.parametrize(
    "loader", [yamlparse.ConfigLoader, yamlparse.FastConfigLoader], ids=["python", "libyaml"]
)
def test_both_yaml_parsers_read_the_file_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loader: type
) -> None:
    """libyaml's parser (the default, ~20x faster) and the pure-Python fallback apply the
    same strict rules, with the same key paths and lines."""
    monkeypatch.setattr(yamlparse, "LOADER", loader)
    monkeypatch.setenv("PERFKIT_CACHE_DIR", "")  # every text parsed by this loader

    def file_error(text: str) -> ConfigFileError:
        with pytest.raises(ConfigFileError) as info:
            load_config(write(tmp_path, text), env={})
        return info.value

    shipped = (Path(__file__).resolve().parents[2] / "scales.yaml").read_text()
    assert load_config(write(tmp_path, shipped), env={}).scale("large").offices == 500
    twice = file_error(MINIMAL + "pool: {pool_size: 1}\npool: {pool_size: 2}\n")
    assert (twice.reason, twice.key_path, twice.line) == ("duplicate_key", "pool", 6)
    for depth in (40, 5000):  # libyaml gives up at 1,000 levels by itself
        deep = file_error("scales: " + "[" * depth + "]" * depth + "\n")
        assert deep.reason == "too_deep"
        assert deep.key_path.startswith("scales[0][0][0]")
    merged = (
        "scales:\n  small: &b {offices: 10, timeout: 5}\n  medium:\n    <<: *b\n    offices: 100\n"
    )
    assert load_config(write(tmp_path, merged), env={}).scale("medium").timeout == 5
    tagged = file_error("scales:\n  small: !!python/name:os.system ''\n")
    assert (tagged.reason, tagged.line) == ("syntax", 2)
    huge = file_error("scales:\n  small: {offices: " + "1" * 5000 + "}\n")
    assert (huge.reason, huge.line) == ("syntax", 2)
    assert yamlfile.read_yaml("day: 2026-12-01", source="") == {"day": dt.date(2026, 12, 1)}


def test_a_scale_may_time_its_own_number_of_repeats(tmp_path: Path) -> None:
    path = tmp_path / "scales.yaml"
    path.write_text(
        "scales:\n  small: {offices: 1, repeat: 30}\n  big: {offices: 2}\nmeasure: {repeat: 7}\n",
        encoding="utf-8",
    )
    cfg = load_config(path, env={})
    assert cfg.measure.repeat_for(cfg.scale("small")) == 30
    assert cfg.measure.repeat_for(cfg.scale("big")) == 7  # measure.repeat, as before
    path.write_text("scales:\n  small: {offices: 1, repeat: 0}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.key_path == "scales.small.repeat"


def test_the_shipped_scales_take_more_repeats_the_cheaper_they_are(config_file: Path) -> None:
    cfg = load_config(config_file, env={})
    assert [cfg.measure.repeat_for(s) for s in cfg.scales.values()] == [50, 20, 10]
