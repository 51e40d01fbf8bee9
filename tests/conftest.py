"""Fixture wiring only; the helpers live in :mod:`perfkit.testing`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from perfkit.config import Config
from perfkit.env.native import NativeEnvironment
from perfkit.testing import PrivateServer, private_server

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _own_parse_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The session's parsed-YAML cache (:mod:`perfkit.parsecache`) is its own, for every
    command it runs, in process or not: never the user's ``~/.cache``."""
    before = os.environ.get("PERFKIT_CACHE_DIR")
    os.environ["PERFKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("parse-cache"))
    yield
    if before is None:
        os.environ.pop("PERFKIT_CACHE_DIR", None)
    else:
        os.environ["PERFKIT_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def config_file() -> Path:
    """The project's own scales.yaml."""
    return ROOT / "scales.yaml"


@pytest.fixture(scope="session")
async def pg(config_file: Path) -> AsyncIterator[PrivateServer]:
    """One private PostgreSQL for the whole test session (its own folder and port)."""
    async with private_server(config_file) as server:
        yield server


@pytest.fixture(scope="session")
def pg_url(pg: PrivateServer) -> str:
    return pg.url


@pytest.fixture(scope="session")
def pg_config(pg: PrivateServer) -> Config:
    return pg.cfg


@pytest.fixture(scope="session")
def pg_env(pg: PrivateServer) -> NativeEnvironment:
    return pg.env


@pytest.fixture
def git() -> Callable[..., str]:
    """``git(repo, *args)``: run git in a scratch repository with a throwaway identity."""

    def run(repo: Path, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=perfkit", "-c",
             "user.email=perfkit@example.invalid", "-c", "commit.gpgsign=false", *args],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    return run
