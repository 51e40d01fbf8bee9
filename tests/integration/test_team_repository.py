"""A team adopts perfkit in its own repository: perfkit's wheel, installed, run from there.

The proof of docs/adopting.md. perfkit's wheel is built (from a copy of the sources, so nothing
is written into this checkout); a scratch "team repository" is made in a temporary folder from
the home-care example (``examples/homecare``) laid out as a team commits it: its code at the
top, a ``perf/`` folder with scales.yaml and the team's own performance test, a 3-line
``noxfile.py`` and ``pyproject.toml`` with ``[tool.perfkit] config`` and the team's pytest
settings. The wheel goes into a fresh venv (pip reaches the package index this machine
uses), with the application's requirements; then, from that folder, with no ``PYTHONPATH``
and no ``PERFKIT_CONFIG``: ``perfkit db-up`` (a native server of its own, on a free port),
``perfkit seed``, ``nox -s perf-small``, ``perfkit compare``, ``perfkit db-down``.

One venv for every step; about a minute and a half, most of it pip.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from perfkit.results import read_records
from perfkit.testing import clean_env, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "homecare"

NOXFILE = """\
from perfkit.nox import perf_sessions

perf_sessions(venv="current")
"""

PYPROJECT = """\
[project]
name = "homecare"
version = "1.0.0"
requires-python = ">=3.11"

[tool.perfkit]
config = "perf/scales.yaml"

# the team's own pytest settings govern its tests (perfkit's never reach them)
[tool.pytest.ini_options]
pythonpath = ["."]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
"""

TEAM_TEST = '''\
"""The team's own performance test, on perfkit's fixtures."""

import pytest

from homecare.batch import send_review_reminders

pytestmark = pytest.mark.performance


async def test_reminders_by_hand(perf_session, perf_today, perf_measure):
    """Review reminders, measured by the team's own test."""
    run = await perf_measure(
        lambda: send_review_reminders(perf_session, dry_run=True, today=perf_today)
    )
    assert run.numbers["reminders"] > 0
'''


def build_wheel(dest: Path) -> Path:
    """perfkit's wheel, built from a copy of its sources (the checkout stays untouched)."""
    src = dest / "src"
    shutil.copytree(ROOT / "perfkit", src / "perfkit", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(src), "-w", str(dest / "dist")],
        capture_output=True, text=True, timeout=300, check=False, env=clean_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (dest / "dist").glob("perfkit-*.whl")
    return wheel


def team_repository(repo: Path, *, port: int) -> None:
    """The home-care example as a team commits it (see the module docstring)."""
    shutil.copytree(EXAMPLE / "homecare", repo / "homecare")
    shutil.copy(EXAMPLE / "requirements.txt", repo / "requirements.txt")
    (repo / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (repo / "noxfile.py").write_text(NOXFILE, encoding="utf-8")
    perf = repo / "perf"
    perf.mkdir()
    raw = yaml.safe_load((EXAMPLE / "scales.yaml").read_text(encoding="utf-8"))
    app = raw["app"]
    app["import_root"] = ".."  # the code is at the repository's top
    app["requirements"] = "../requirements.txt"
    del app["workloads"]["dashboard"]  # HTTP workloads need perfkit[http]: not this team's
    raw["scales"] = {
        "small": {
            "offices": 2,
            "timeout": 300,
            "description": "2 agencies: the team's every-commit scale",
            "budgets": {"batch": 30, "prepare": 120, "restore": 60, "statements": 1},
        },
        "medium": {"offices": 3, "timeout": 300},
    }
    raw["database"]["port"] = port
    raw["measure"] = {"repeat": 3, "warmup": 1}
    (perf / "scales.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    (perf / "test_team_reminders.py").write_text(textwrap.dedent(TEAM_TEST), encoding="utf-8")


def checkout_state() -> str:
    """What git sees changed in perfkit's checkout (ignored files aside)."""
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout if done.returncode == 0 else ""


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The team's repository and its venv with perfkit's wheel; the server stopped after."""
    repo = tmp_path / "homecare"
    repo.mkdir()
    team_repository(repo, port=free_port())
    wheel = build_wheel(tmp_path / "build")
    venv = repo / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel),
         "-r", str(repo / "requirements.txt")],
        capture_output=True, text=True, timeout=600, check=False, env=clean_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    try:
        yield repo, venv / "bin"
    finally:
        subprocess.run(
            [str(venv / "bin" / "perfkit"), "db-down"], cwd=repo, env=team_env(),
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip


def team_env() -> dict[str, str]:
    """A user's shell in the team's repository: no PYTHONPATH, no perfkit variables."""
    env = clean_env()
    for name in list(env):
        if name == "PYTHONPATH" or name.startswith(("PERFKIT_", "PERF_TEST_")):
            del env[name]
    return env


def test_a_team_runs_perfkit_from_its_own_repository(team: tuple[Path, Path]) -> None:
    repo, bin_dir = team
    before = checkout_state()
    env = team_env()

    def step(*argv: str | Path, ok: tuple[int, ...] = (0,)) -> str:
        done = subprocess.run(
            [str(a) for a in argv], cwd=repo, env=env, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip
        out = done.stdout + done.stderr
        assert done.returncode in ok, f"{argv}: exit {done.returncode}\n{out[-4000:]}"
        return out

    # the installed perfkit is the wheel's, in the team's venv, not this checkout
    where = step(bin_dir / "python", "-c", "import perfkit; print(perfkit.__file__)")
    assert where.strip().startswith(str(bin_dir.parent)) and str(ROOT) not in where

    assert "perf-small" in step(bin_dir / "nox", "-l")
    step(bin_dir / "perfkit", "db-up")
    step(bin_dir / "perfkit", "seed", "--scale", "small")
    report = step(bin_dir / "nox", "-s", "perf-small")
    # the built-in test of the default workload and the team's own test, at small only
    assert "2 passed" in report and "skipped" in report
    assert "[small] Review reminders (dry run)" in report
    assert "[small] Review reminders, measured by the team's own test." in report
    compared = step(bin_dir / "perfkit", "compare", "--json")
    assert '"scale": "small"' in compared or '"scales"' in compared
    step(bin_dir / "perfkit", "db-down")

    results = repo / "perf" / ".perfkit" / "results" / "results.jsonl"
    records = read_records(results)
    assert {r.workload for r in records} == {"review_reminders", "reminders_by_hand"}
    assert all(r.passed and r.scale == "small" for r in records)
    assert checkout_state() == before  # nothing written into perfkit's checkout
