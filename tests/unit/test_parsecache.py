"""The parsed-YAML cache: the same tree as parsing gives, never a stale or foreign one, and
never a failure of its own."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from perfkit import parsecache
from perfkit.errors import ConfigFileError
from perfkit.testing import clean_env
from perfkit.yamlfile import read_yaml
from perfkit.yamlparse import parse

TEXT = (
    "day: 2026-12-01\nat: 2026-12-01 09:30:00+09:00\nbase: &b {offices: 10, share: 0.5}\n"
    "copy: *b\nset: !!set {a, b}\nkeys: {1: one, 2026-01-02: day, null: none}\nraw: !!binary aGk=\n"
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache of the test's own."""
    monkeypatch.setenv("PERFKIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "yaml"


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pickle")) if folder.is_dir() else []


def test_a_cached_tree_equals_the_parsed_one_and_is_a_copy_of_its_own(cache: Path) -> None:
    first = read_yaml(TEXT, source="t")
    assert len(entries(cache)) == 1
    second = read_yaml(TEXT, source="t")
    assert second == first == parse(TEXT, source="t")
    assert second["day"] == dt.date(2026, 12, 1) and second["raw"] == b"hi"
    assert second["at"].utcoffset() == dt.timedelta(hours=9)
    assert second["copy"] is second["base"]  # an alias stays one object, as PyYAML makes it
    second["base"]["offices"] = 99
    assert read_yaml(TEXT, source="t")["base"]["offices"] == 10
    assert len(entries(cache)) == 1


def test_a_hit_is_served_without_parsing(cache: Path) -> None:
    read_yaml(TEXT, source="t")
    (entry,) = entries(cache)
    planted = {"planted": True}
    parsecache.put(TEXT, planted)
    assert read_yaml(TEXT, source="t") == planted
    assert entries(cache) == [entry]


def test_a_changed_text_is_parsed_again(cache: Path) -> None:
    assert read_yaml("a: 1\n", source="t") == {"a": 1}
    assert read_yaml("a: 2\n", source="t") == {"a": 2}
    assert len(entries(cache)) == 2


def test_an_error_is_never_cached(cache: Path) -> None:
    for _ in range(2):
        with pytest.raises(ConfigFileError) as info:
            read_yaml("a: 1\na: 2\n", source="t")
        assert info.value.reason == "duplicate_key"
    assert entries(cache) == []


@pytest.mark.parametrize("damage", ["corrupt", "empty", "group_writable", "symlink"])
def test_a_damaged_or_foreign_entry_is_a_miss(cache: Path, tmp_path: Path, damage: str) -> None:
    read_yaml(TEXT, source="t")
    (entry,) = entries(cache)
    if damage == "corrupt":
        entry.write_bytes(b"\x80\x05not a pickle")
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "group_writable":
        parsecache.put(TEXT, {"planted": True})
        entry.chmod(0o664)
    else:
        elsewhere = tmp_path / "elsewhere.pickle"
        elsewhere.write_bytes(entry.read_bytes())
        entry.unlink()
        entry.symlink_to(elsewhere)
    assert read_yaml(TEXT, source="t") == parse(TEXT, source="t")


def test_a_folder_others_may_write_to_is_not_used(cache: Path) -> None:
    cache.mkdir(parents=True)
    cache.chmod(0o777)
    read_yaml(TEXT, source="t")
    assert entries(cache) == []


def test_an_empty_setting_turns_the_cache_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERFKIT_CACHE_DIR", "")
    assert parsecache.cache_dir() is None
    assert read_yaml("a: 1\n", source="t") == {"a": 1}


def test_an_unwritable_cache_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PERFKIT_CACHE_DIR", str(blocker))
    assert read_yaml(TEXT, source="t") == parse(TEXT, source="t")


def test_the_default_place_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PERFKIT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert parsecache.cache_dir() == tmp_path / "xdg" / "perfkit" / "yaml"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert parsecache.cache_dir() == tmp_path / "home" / ".cache" / "perfkit" / "yaml"


def test_no_home_folder_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERFKIT_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def nowhere() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(nowhere))
    assert parsecache.cache_dir() is None
    assert read_yaml("a: 1\n", source="t") == {"a": 1}


def test_the_oldest_entries_go_beyond_the_limit(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsecache, "MAX_ENTRIES", 3)
    for n in range(5):
        read_yaml(f"n: {n}\n", source="t")
    assert len(entries(cache)) == 3
    assert read_yaml("n: 4\n", source="t") == {"n": 4}


def test_a_command_reading_a_cached_config_imports_no_yaml_parser(
    tmp_path: Path, project_root: Path
) -> None:
    """The point of the cache: the second command on the same scales.yaml imports no PyYAML."""
    env = clean_env({"PERFKIT_CACHE_DIR": str(tmp_path / "cache")})
    probe = (
        "import json, sys\nfrom perfkit.config import load_config\nload_config(sys.argv[1])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'yaml' or "
        "m.startswith(('yaml.', 'perfkit.yamlparse')))))"
    )
    config = str(project_root / "scales.yaml")

    def yaml_modules() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", probe, config], capture_output=True, text=True, check=True,
            env=env, cwd=tmp_path,
        )  # fmt: skip
        found: list[str] = json.loads(done.stdout)
        return found

    assert "yaml" in yaml_modules()  # the first parses
    assert yaml_modules() == []
