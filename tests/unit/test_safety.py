"""The safety rule on database names (the checks against a real server are in
tests/integration/test_safety_and_locks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfkit.config import load_config
from perfkit.errors import UnsafeTargetError
from perfkit.safety import check_name


def test_names_that_look_like_tests_pass(config_file: Path) -> None:
    cfg = load_config(config_file, env={})
    for name in ("keikakun_test_performance", "perf_db", "app_TEST", "perfkit_test"):
        check_name(name, cfg)


def test_a_production_name_is_refused_unless_confirmed(config_file: Path) -> None:
    cfg = load_config(config_file, env={})
    with pytest.raises(UnsafeTargetError) as info:
        check_name("keikakun", cfg)
    assert info.value.database == "keikakun"
    assert "--confirm-database keikakun" in (info.value.hint or "")
    with pytest.raises(UnsafeTargetError):
        check_name("keikakun", cfg, confirm="other")
    check_name("keikakun", cfg, confirm="keikakun")
