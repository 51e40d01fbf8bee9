"""The import contract covers every module: each ``perfkit.*`` module but the applications
(``perfkit.apps``) is a source of "The core never imports an application under test" in
pyproject.toml, so ``lint-imports`` checks it. A module added without being listed fails here
(an ``import perfkit.apps.welfare.batch`` once passed the contract from an unlisted module)."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import perfkit

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = "The core never imports an application under test"


def contract_sources() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (core,) = [c for c in contracts if c["name"] == CONTRACT]
    assert core["forbidden_modules"] == ["perfkit.apps"]
    return set(core["source_modules"])


def every_module() -> list[str]:
    """Every module and package under perfkit, at any depth, but the applications."""
    found = [
        info.name
        for info in pkgutil.walk_packages(perfkit.__path__, "perfkit.")
        if not (info.name == "perfkit.apps" or info.name.startswith("perfkit.apps."))
    ]
    assert "perfkit.snapshot.restore" in found and "perfkit.console" in found
    return found


def test_every_perfkit_module_is_a_source_of_the_core_contract() -> None:
    sources = contract_sources()
    missing = [
        name
        for name in every_module()
        # listed itself, or inside a listed package (a package source covers its modules)
        if not any(name == s or name.startswith(s + ".") for s in sources)
    ]
    assert missing == [], f"add these to [tool.importlinter] in pyproject.toml: {missing}"


def test_the_contract_lists_no_module_that_is_gone() -> None:
    present = set(every_module())
    assert sorted(contract_sources() - present) == []
