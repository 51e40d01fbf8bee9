# /// script
# requires-python = ">=3.11"
# dependencies = ["nox>=2025.2.9", "pyyaml>=6", "msgspec>=0.19"]
# ///
"""perfkit's nox sessions: ``nox -l`` lists them, one line each.

One ``perf-<scale>`` session exists for every scale in scales.yaml (found as every command
finds it: ``$PERFKIT_CONFIG``, ``[tool.perfkit] config`` in pyproject.toml, ``./scales.yaml``),
from :func:`perfkit.nox.perf_sessions`, as in a team's noxfile: each runs ``perfkit perf
--scale <scale>`` in one venv shared by all of them (``.nox/perf``, this checkout installed
editable). Arguments after ``--`` go to pytest.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from perfkit.nox import perf_sessions  # noqa: E402

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint"]
nox.options.error_on_missing_interpreters = True


def _install(session: nox.Session, extras: str) -> None:
    """Install the project with ``extras`` unless this venv already has this exact version."""
    stamp_input = (ROOT / "pyproject.toml").read_bytes() + extras.encode()
    stamp = hashlib.sha256(stamp_input).hexdigest()
    marker = Path(session.virtualenv.location) / ".perfkit-installed"
    if marker.exists() and marker.read_text() == stamp:
        session.log("project already installed in this venv (pyproject.toml unchanged)")
        return
    session.install("-e", f".[{extras}]")
    marker.write_text(stamp)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests against a real PostgreSQL that perfkit brings up itself."""
    _install(session, "test")
    if session.posargs:
        session.run("pytest", *session.posargs)
        return
    suites = ["tests/unit", "tests/integration"]
    # two workers (pytest-xdist), each with its own private server; the tests that judge
    # timings run afterwards, alone, so the other worker's load is not in their samples
    session.run("pytest", "-n", "2", "--dist", "loadfile", "-m", "not serial", *suites)
    session.run("pytest", "-m", "serial", *suites)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format), mypy --strict, import contracts, actionlint on workflows."""
    _install(session, "test,lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports")  # the core never imports an application; no import cycles
    session.run("actionlint")  # with shellcheck (lint extra) it checks the run: scripts too


perf_sessions()  # perf-<scale> for every scale of scales.yaml (perfkit.nox)
