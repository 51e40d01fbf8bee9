"""Which config file perfkit reads: ``--config``, ``$PERFKIT_CONFIG``, ``[tool.perfkit] config``
in the nearest pyproject.toml, ``./scales.yaml``; and what it says when the path is no file."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from perfkit import config, pytest_plugin
from perfkit.errors import ConfigError, ConfigFileError

SCALES = "scales:\n  small: {offices: 1}\n"


def team_repo(root: Path, *, pyproject: str | None = 'config = "perf/scales.yaml"') -> Path:
    """A team's repository: perf/scales.yaml, a subfolder of code, and a pyproject.toml whose
    ``[tool.perfkit]`` table holds ``pyproject`` (no table when ``None``)."""
    (root / "perf").mkdir(parents=True)
    (root / "perf" / "scales.yaml").write_text(SCALES)
    (root / "app" / "tasks").mkdir(parents=True)
    body = '[project]\nname = "team"\n'
    if pyproject is not None:
        body += f"\n[tool.perfkit]\n{pyproject}\n"
    (root / "pyproject.toml").write_text(body)
    return root


def test_pyproject_names_the_file_relative_to_itself_from_any_subfolder(tmp_path: Path) -> None:
    repo = team_repo(tmp_path)
    for where in (repo, repo / "app", repo / "app" / "tasks"):
        assert config.find_config(env={}, cwd=where) == repo / "perf" / "scales.yaml"
    cfg = config.load_config(env={}, cwd=repo / "app" / "tasks")
    assert cfg.source == repo / "perf" / "scales.yaml"
    assert cfg.state_dir == repo / "perf" / ".perfkit"  # relative paths: the config's folder


def test_the_order_flag_then_environment_then_pyproject_then_current_folder(
    tmp_path: Path,
) -> None:
    repo = team_repo(tmp_path / "repo")
    (repo / "scales.yaml").write_text(SCALES)
    flag, from_env = tmp_path / "flag.yaml", tmp_path / "env.yaml"
    flag.write_text(SCALES)
    from_env.write_text(SCALES)
    env = {config.CONFIG_ENV: str(from_env)}
    assert config.find_config(flag, env=env, cwd=repo) == flag
    assert config.find_config(env=env, cwd=repo) == from_env
    assert config.find_config(env={}, cwd=repo) == repo / "perf" / "scales.yaml"
    (repo / "pyproject.toml").write_text('[project]\nname = "team"\n')
    assert config.find_config(env={}, cwd=repo) == repo / "scales.yaml"


def test_relative_paths_start_at_the_current_folder_for_flag_and_environment(
    tmp_path: Path,
) -> None:
    (tmp_path / "perf").mkdir()
    (tmp_path / "perf" / "scales.yaml").write_text(SCALES)
    wanted = tmp_path / "perf" / "scales.yaml"
    assert config.find_config("perf/scales.yaml", env={}, cwd=tmp_path) == wanted
    assert config.find_config(env={config.CONFIG_ENV: "perf/scales.yaml"}, cwd=tmp_path) == wanted


def test_only_the_nearest_pyproject_counts(tmp_path: Path) -> None:
    """A project inside another (a monorepo's package) is not configured by the outer one."""
    outer = team_repo(tmp_path)
    inner = outer / "app"
    (inner / "pyproject.toml").write_text('[project]\nname = "inner"\n')
    (inner / "scales.yaml").write_text(SCALES)
    assert config.find_config(env={}, cwd=inner) == inner / "scales.yaml"
    (inner / "scales.yaml").unlink()
    with pytest.raises(config.ConfigNotFoundError) as info:
        config.find_config(env={}, cwd=inner / "tasks")
    assert info.value.searched[2] == f"{inner / 'pyproject.toml'} has no [tool.perfkit] config"


def test_nothing_found_says_where_it_looked_and_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigNotFoundError) as info:
        config.load_config(env={}, cwd=tmp_path)
    err = info.value
    assert (err.exit_code, err.reason) == (2, "not_found")
    assert err.searched == (
        "--config (not given)",
        "PERFKIT_CONFIG (unset)",
        f"no pyproject.toml in {tmp_path} or above",
        f"./scales.yaml (not in {tmp_path})",
    )
    assert "create one, or pass --config" in (err.hint or "")
    assert "\n" not in err.one_line()


@pytest.mark.parametrize(
    ("how", "origin"),
    [("flag", "--config"), ("env", "PERFKIT_CONFIG"), ("pyproject", "[tool.perfkit] config")],
)
def test_a_named_file_that_is_missing_says_who_named_it(
    tmp_path: Path, how: str, origin: str
) -> None:
    repo = team_repo(tmp_path)
    (repo / "perf" / "scales.yaml").unlink()
    flag = repo / "perf" / "scales.yaml" if how == "flag" else None
    env = {config.CONFIG_ENV: "perf/scales.yaml"} if how == "env" else {}
    (repo / "scales.yaml").write_text(SCALES)  # never a fallback for a file named and missing
    with pytest.raises(config.ConfigNotFoundError) as info:
        config.find_config(flag, env=env, cwd=repo)
    assert info.value.source == str(repo / "perf" / "scales.yaml")
    assert origin in info.value.searched[0] and origin in info.value.message


@pytest.mark.parametrize(
    ("table", "key_path", "suggestion"),
    [
        ('confg = "perf/scales.yaml"', "tool.perfkit.confg", "config"),
        ("config = 5", "tool.perfkit.config", None),
        ('config = "  "', "tool.perfkit.config", None),
    ],
)
def test_a_bad_tool_perfkit_table_names_the_key(
    tmp_path: Path, table: str, key_path: str, suggestion: str | None
) -> None:
    repo = team_repo(tmp_path, pyproject=table)
    with pytest.raises(ConfigError) as info:
        config.find_config(env={}, cwd=repo / "app")
    err = info.value
    assert (err.source, err.key_path, err.suggestion) == (
        str(repo / "pyproject.toml"),
        key_path,
        suggestion,
    )
    assert err.exit_code == 2


def test_a_pyproject_that_is_not_toml_is_a_config_error(tmp_path: Path) -> None:
    repo = team_repo(tmp_path, pyproject="config = perf/scales.yaml")  # unquoted: not TOML
    with pytest.raises(ConfigFileError) as info:
        config.find_config(env={}, cwd=repo)
    assert (info.value.reason, info.value.exit_code) == ("syntax", 2)
    assert info.value.source == str(repo / "pyproject.toml")


def test_a_pyproject_about_something_else_is_not_parsed(tmp_path: Path) -> None:
    """No ``perfkit`` in the file: it is not parsed at all, so broken TOML there is not ours."""
    (tmp_path / "pyproject.toml").write_text("this is [not toml\n")
    (tmp_path / "scales.yaml").write_text(SCALES)
    assert config.find_config(env={}, cwd=tmp_path) == tmp_path / "scales.yaml"


def not_files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "folder"
    folder.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop")
    return {"folder": folder, "fifo": fifo, "loop": loop, "device": Path("/dev/zero")}


@pytest.mark.timeout(30)  # a FIFO opened for reading would block for good
@pytest.mark.parametrize(
    ("kind", "reason", "words"),
    [
        ("folder", "directory", "a directory"),
        ("fifo", "not_regular", "a FIFO"),
        ("loop", "symlink_loop", "a symlink loop"),
        ("device", "not_regular", "a device"),
    ],
)
def test_a_path_that_is_no_file_says_what_it_is(
    tmp_path: Path, kind: str, reason: str, words: str
) -> None:
    path = not_files(tmp_path)[kind]
    for chosen, env in ((path, {}), (None, {config.CONFIG_ENV: str(path)})):
        with pytest.raises(ConfigFileError) as info:
            config.load_config(chosen, env=env, cwd=tmp_path)
        err = info.value
        assert (err.reason, err.exit_code) == (reason, 2)
        assert words in err.message and "\n" not in err.one_line()


@pytest.mark.timeout(30)
def test_a_fifo_named_scales_yaml_in_the_current_folder_is_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "scales.yaml")
    with pytest.raises(ConfigFileError) as info:
        config.load_config(env={}, cwd=tmp_path)
    assert info.value.reason == "not_regular"


def plugin_config(root: Path, ini: str = "") -> pytest.Config:
    """What the plugin's ``config_path`` reads of pytest's config: the ini option, the ini
    file and the rootdir."""
    fake = SimpleNamespace(
        getini=lambda name: ini if name == pytest_plugin.CONFIG_INI else "",
        inipath=root / "pytest.ini",
        rootpath=root,
    )
    return cast(pytest.Config, fake)


def test_the_pytest_plugin_finds_the_file_as_every_command_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = team_repo(tmp_path / "repo")
    monkeypatch.delenv(config.CONFIG_ENV, raising=False)
    assert pytest_plugin.config_path(plugin_config(repo)) == repo / "perf" / "scales.yaml"
    (repo / "other.yaml").write_text(SCALES)
    by_ini = plugin_config(repo, ini="other.yaml")
    assert pytest_plugin.config_path(by_ini) == repo / "other.yaml"  # the ini option first
    from_env = tmp_path / "env.yaml"
    from_env.write_text(SCALES)
    monkeypatch.setenv(config.CONFIG_ENV, str(from_env))
    assert pytest_plugin.config_path(by_ini) == from_env  # and $PERFKIT_CONFIG before it
    monkeypatch.delenv(config.CONFIG_ENV)
    with pytest.raises(config.ConfigNotFoundError) as info:
        pytest_plugin.config_path(plugin_config(repo, ini="missing.yaml"))
    assert "ini option perfkit_config" in info.value.message
