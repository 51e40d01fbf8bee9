"""scales.yaml loading: defaults, precedence, and every kind of bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from perfkit.config import load_config
from perfkit.errors import ConfigError, UnknownScaleError

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
    assert cfg.app.workloads["nightly"].writes is True
    assert cfg.app.workloads["deadline_alerts"].writes is False
    error = error_for(tmp_path, body.replace("writes: true", "writes: sometimes"))
    assert error.key_path == "app.workloads.nightly.writes"
