"""The safety rule reads whole name parts, refuses production names, and asks for the override
before replacing a database perfkit did not create (the server-side cases are in
tests/integration/test_safety_hardening.py)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from perfkit.config import Config, load_config
from perfkit.errors import ConfigError, UnsafeTargetError
from perfkit.safety import check_name, is_test_name, name_parts


@pytest.fixture(scope="module")
def cfg(config_file: Path) -> Config:
    return load_config(config_file, env={})


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("perf_test", ["perf", "test"]),
        ("keikakun_test_performance", ["keikakun", "test", "performance"]),
        ("myapp-perf", ["myapp", "perf"]),
        ("TestDB", ["Test", "DB"]),
        ("myAppTest2", ["my", "App", "Test", "2"]),
        ("HTTPServer_v2", ["HTTP", "Server", "v", "2"]),
        ("app_latest", ["app", "latest"]),
    ],
)
def test_names_split_into_parts(name: str, parts: list[str]) -> None:
    assert name_parts(name) == parts


@pytest.mark.parametrize(
    "name",
    ["perf_test", "keikakun_test_performance", "perfkit_test", "myapp-perf", "TestDB", "PERF2"],
)
def test_a_whole_test_part_qualifies(name: str, cfg: Config) -> None:
    assert is_test_name(name, cfg)
    check_name(name, cfg, destructive=False)
    check_name(name, cfg, created=None)  # nothing exists yet: the name is enough


@pytest.mark.parametrize("name", ["app_latest", "contest", "superfast", "perfkit", "attestation"])
def test_test_or_perf_inside_a_word_does_not(name: str, cfg: Config) -> None:
    assert not is_test_name(name, cfg)
    with pytest.raises(UnsafeTargetError) as info:
        check_name(name, cfg, destructive=False)
    assert info.value.rule == "name"
    check_name(name, cfg, destructive=False, confirm=name)


@pytest.mark.parametrize(
    "name", ["production_perf_copy", "perf_prod", "TestLive", "live-test", "ProdTestDB"]
)
def test_a_production_part_is_refused_even_when_perfkit_made_it(name: str, cfg: Config) -> None:
    for created in (True, False, None):
        for destructive in (True, False):
            with pytest.raises(UnsafeTargetError) as info:
                check_name(name, cfg, created=created, destructive=destructive)
            assert info.value.rule == "production"
    check_name(name, cfg, created=False, confirm=name)


@pytest.mark.parametrize("name", ["productive_test", "delivery_test", "olive_perf"])
def test_production_words_inside_other_words_do_not_count(name: str, cfg: Config) -> None:
    check_name(name, cfg, destructive=False)


def test_replacing_needs_perfkit_or_the_override_whatever_the_name(cfg: Config) -> None:
    with pytest.raises(UnsafeTargetError) as info:
        check_name("perf_test", cfg, created=False)  # exists, not perfkit's: a user's database
    assert info.value.rule == "not_created"
    assert "--confirm-database perf_test" in (info.value.hint or "")
    with pytest.raises(UnsafeTargetError) as info:
        check_name("perf_test", cfg, created=False, confirm="perf_tests")
    assert info.value.rule == "confirmation"
    check_name("perf_test", cfg, created=False, confirm="perf_test")
    check_name("welfare_app", cfg, created=True)  # perfkit's own, whatever its name
    check_name("perf_test", cfg, created=False, destructive=False)  # writing tables: the name


def test_the_patterns_are_configurable_and_checked(cfg: Config, config_file: Path) -> None:
    words = msgspec.structs.replace(
        cfg, safety=msgspec.structs.replace(cfg.safety, test_database_pattern="qa|bench(mark)?")
    )
    assert is_test_name("shop_benchmark", words) and is_test_name("QA-shop", words)
    assert not is_test_name("shop_test", words) and not is_test_name("qatar", words)
    with pytest.raises(ConfigError) as info:
        load_config(config_file, env={}, overrides={"safety.production_pattern": "(prod"})
    assert info.value.key_path == "safety.production_pattern"
