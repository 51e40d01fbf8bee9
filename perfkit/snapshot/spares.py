"""Spares: one ready clone of each scale's template, so that a restore is a rename.

Cloning a template (``CREATE DATABASE ... TEMPLATE``) copies the whole dataset: 0.07 s at
medium and 0.23 s at large on these machines. Renaming a database takes about a millisecond. So
after each restore or prepare that leaves a template, perfkit makes one *spare* of it in the
background (:func:`start_build`, :mod:`perfkit.snapshot.spare_build`): a full clone, its load
recorded like any restored dataset's.
The next restore of that template's snapshot, as of the template's day, checks the spare like
any kept dataset and renames it into place in the swap's one transaction (:func:`take`); when
no spare is ready, or the one there fails its check, it clones the template as before.

**Names.** ``<template>__pkrdy_<owner>`` (:func:`perfkit.database.ready_spare_name`): a helper
of the template, one per project on a shared server (the owner is
:func:`perfkit.snapshot.template.owner_of`). It is never a user's database: leftovers of a
killed build are recognised by the name, ``perfkit prune`` removes spares whose template is
gone or moved on (:func:`stale`), and a template is dropped with its spares.

**Ready and sealed.** A build (:func:`perfkit.snapshot.spare_build.build`) clones the
template, records the load in the spare itself
(:func:`perfkit.datagen.changes.record_load_baseline`, as a restore does after its swap),
then *seals* it: connections are no longer allowed (``ALLOW_CONNECTIONS false``, like a
template's), other sessions are ended, and the data is checked against that record once more
(nothing committed, no table rewritten, the catalogue as built). Only then is it marked ready:
its comment gets :data:`~perfkit.database.SPARE_MARK` and a JSON record (:class:`SpareInfo`)
of the template it copies (name, oid, snapshot, anchor date, dataset key, schema), its owner,
the settings that applied, and the seal: the transaction id of its ``pg_database`` row as
sealed, which any later ``ALTER DATABASE`` (allowing connections again, renaming) changes. A
build cut short anywhere leaves a database without the mark, which nothing takes and the
next build, restore or prune removes.

**Checked before use** (:func:`take`), like any kept dataset: its record names this
project, and the template as it is now (same database, snapshot, dataset and day), and the
settings that apply to it are those it was sealed with. While the seal holds, no session can
have connected since the check the build made, so nothing else needs reading. When it is
broken, the restore connects and runs the checks of a kept dataset
(:func:`perfkit.snapshot.dataset.changes_problem`: the catalogue of its tables as built, its
settings, no change committed since its load). A spare that fails is dropped and the restore
clones. A template whose dates move (a new day) or that is replaced leaves its spare stale;
the next build replaces it.

**Locks.** The spare's own perfkit lock (:func:`perfkit.locks.exclusive`, keyed by its name) is
held by a build for all of its work and by a restore from the spare's check to its swap: a
restore never takes a half-built or half-checked spare, two restores never take one, and
prune never drops one in use. A build takes the template's lock only while it clones (what a
refresh or a foreground clone also take, so the template's dates never move under a clone);
it never connects to the template, and ends nobody's session there: a session on the
template (someone looking inside it) makes the build give up, where a restore would end it.
A build that finds the spare's lock taken leaves: whoever holds it (a restore) starts the
next build. A restore that finds it taken by a build does not wait: it clones the template
(the build's own work, minus sealing), and the build goes on for the next restore. Nor does a
build hold the target's lock: the database a spare replaced (a helper named ``..__pkold_..``,
complete from its rename on) is dropped under a lock of its own name, which a restore's sweep
of leftovers skips while it is held.

**The background.** :func:`start_build` starts ``python -m perfkit.snapshot.spare_build``, a
child in a session of its own that outlives the command (``perfkit restore`` exits at once). It
reads its job, the server's URL included, from its stdin (never argv), runs at a lower CPU
priority, drops what the restore left of the target (the database the spare replaced), builds
the spare and writes one line to ``<state dir>/spares/<template>.log``. A process, not a
thread, for every caller: it must outlive a short command, and in a long one (a perf session)
a thread would take turns on the interpreter lock with the code being measured. A measurement
that starts right after a restore still shares the machine with the build (about a clone's
time of work): a caller that measures at once can pass ``build_spare=False`` to the restore
and start the build (:func:`start_build`) after measuring.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from perfkit.app import Application
from perfkit.database import SPARE_MARK, Admin, Database, ready_spare_name
from perfkit.datagen import read_dataset_info
from perfkit.datagen.changes import (
    Setting,
    read_load_baseline,
    settings_of,
    settings_problem,
)
from perfkit.errors import DatabaseEnvError
from perfkit.locks import LockTimeout, exclusive
from perfkit.snapshot import template
from perfkit.snapshot.dataset import changes_problem
from perfkit.snapshot.template import TemplateInfo
from perfkit.sqlnames import quote_ident

Progress = Callable[[str], None]
#: The module the background build runs as (:mod:`perfkit.snapshot.spare_build`).
MODULE = "perfkit.snapshot.spare_build"


@dataclass(frozen=True)
class SpareInfo:
    """What a ready spare holds, as its comment records it (written only once complete)."""

    name: str
    template: str
    #: The template database's oid: a template replaced under the same name has another.
    template_oid: int
    snapshot_id: str | None
    anchor_date: dt.date
    dataset_key: str
    schema_fingerprint: str
    owner: str
    #: The transaction id of its ``pg_database`` row as sealed (module docstring).
    seal: int
    #: The settings that applied to it when sealed (:func:`perfkit.datagen.changes.settings_of`).
    settings: tuple[Setting, ...]

    @classmethod
    def of(
        cls,
        name: str,
        tpl: TemplateInfo,
        *,
        oid: int,
        owner: str,
        seal: int,
        settings: tuple[Setting, ...],
    ) -> SpareInfo:
        """The record of a spare ``name`` cloned from ``tpl`` (database oid ``oid``)."""
        return cls(
            name=name,
            template=tpl.name,
            template_oid=oid,
            snapshot_id=tpl.snapshot_id,
            anchor_date=tpl.anchor_date,
            dataset_key=tpl.dataset_key,
            schema_fingerprint=tpl.schema_fingerprint,
            owner=owner,
            seal=seal,
            settings=settings,
        )

    def comment(self) -> str:
        body = {
            "template": self.template,
            "template_oid": self.template_oid,
            "snapshot": self.snapshot_id,
            "anchor": self.anchor_date.isoformat(),
            "dataset_key": self.dataset_key,
            "schema": self.schema_fingerprint,
            "owner": self.owner,
            "seal": self.seal,
            "settings": [list(s) for s in self.settings],
        }
        return SPARE_MARK + json.dumps(body, sort_keys=True)

    @classmethod
    def parse(cls, name: str, comment: str | None) -> SpareInfo | None:
        """The record in a spare's comment; None when it is not marked ready."""
        if not comment or not comment.startswith(SPARE_MARK):
            return None
        try:
            body = json.loads(comment[len(SPARE_MARK) :])
            snapshot = body["snapshot"]
            return cls(
                name=name,
                template=str(body["template"]),
                template_oid=int(body["template_oid"]),
                snapshot_id=None if snapshot is None else str(snapshot),
                anchor_date=dt.date.fromisoformat(body["anchor"]),
                dataset_key=str(body["dataset_key"]),
                schema_fingerprint=str(body["schema"]),
                owner=str(body["owner"]),
                seal=int(body["seal"]),
                settings=tuple((str(a), str(b), str(c)) for a, b, c in body["settings"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def differs(self, tpl: TemplateInfo, *, oid: int) -> str | None:
        """Why this spare is not a copy of ``tpl`` (database oid ``oid``) as it is now; None
        when it is."""
        if self.template != tpl.name or self.template_oid != oid:
            return f"it was cloned from another template than {tpl.name}"
        if tpl.refreshing:
            return "its template's dates are being moved"
        if (self.snapshot_id, self.dataset_key, self.schema_fingerprint) != (
            tpl.snapshot_id,
            tpl.dataset_key,
            tpl.schema_fingerprint,
        ):
            return "its template holds another snapshot or dataset now"
        if self.anchor_date != tpl.anchor_date:
            return f"its dates are for {self.anchor_date}, its template's for {tpl.anchor_date}"
        return None


@dataclass(frozen=True)
class Found:
    """A template and its spare as the server has them (each None when missing)."""

    template: TemplateInfo | None
    template_oid: int
    spare: SpareInfo | None
    spare_oid: int | None
    #: The spare's ``pg_database`` row: connections allowed, and its transaction id.
    spare_open: bool = True
    spare_xmin: int = 0

    @property
    def spare_exists(self) -> bool:
        return self.spare_oid is not None

    @property
    def sealed(self) -> bool:
        """The spare's seal holds: nobody can have connected since it was checked."""
        return self.spare is not None and not self.spare_open and self.spare_xmin == self.spare.seal


_FIND_SQL = """
SELECT datname, oid::bigint AS oid, datallowconn, xmin::text::bigint AS xmin,
       shobj_description(oid, 'pg_database') AS comment
FROM pg_database WHERE datname = ANY($1::text[])
"""


async def find(admin: Admin, template_name: str, name: str) -> Found:
    """The template ``template_name`` and the spare ``name``: their records and oids."""
    rows = await admin.conn.fetch(_FIND_SQL, [template_name, name])
    by_name = {str(r["datname"]): r for r in rows}
    tpl_row, spare_row = by_name.get(template_name), by_name.get(name)
    tpl = None if tpl_row is None else TemplateInfo.parse(template_name, tpl_row["comment"])
    tpl_oid = 0 if tpl_row is None else int(tpl_row["oid"])
    if spare_row is None:
        return Found(template=tpl, template_oid=tpl_oid, spare=None, spare_oid=None)
    return Found(
        template=tpl,
        template_oid=tpl_oid,
        spare=SpareInfo.parse(name, spare_row["comment"]),
        spare_oid=int(spare_row["oid"]),
        spare_open=bool(spare_row["datallowconn"]),
        spare_xmin=int(spare_row["xmin"]),
    )


async def ready(admin: Admin, *, template_name: str, owner: str) -> SpareInfo | None:
    """The owner's spare of the template, when it is marked ready and copies the template as
    it is now (its data is not checked: that is :func:`take`'s job)."""
    found = await find(admin, template_name, ready_spare_name(template_name, owner))
    spare, tpl = found.spare, found.template
    if spare is None or tpl is None or spare.owner != owner:
        return None
    return spare if spare.differs(tpl, oid=found.template_oid) is None else None


# --------------------------------------------------------------------------------------------
# using one


async def take(
    db: Database,
    admin: Admin,
    tpl: TemplateInfo,
    *,
    owner: str,
    app: Callable[[], Application],
    day: dt.date,
    hold: AsyncExitStack,
    progress: Progress | None = None,
) -> str | None:
    """The name of ``owner``'s spare of ``tpl``, checked and ready to be
    renamed into place as of ``day``; its lock stays held in ``hold`` until the caller closes
    it, after the swap. None when there is none fit for use: one that fails its check is
    dropped first (and said), so the caller clones the template instead.

    A build in progress holds the spare's lock: the restore does not wait for it (None: it
    clones the template, as the build does, and leaves the build to finish its spare for the
    next restore)."""
    say = progress or (lambda _msg: None)
    if tpl.refreshing or tpl.anchor_date != day:
        return None  # the template's dates move first; any spare of it is stale then
    name = ready_spare_name(tpl.name, owner)
    try:
        await hold.enter_async_context(exclusive(db.other(name).url, wait_s=0.0, conn=admin.conn))
    except LockTimeout:
        say(f"spare {name} is being built; cloning the template")
        return None
    found = await find(admin, tpl.name, name)
    if not found.spare_exists:
        return None
    why = await _problem(db, admin, found, tpl=tpl, owner=owner, app=app, day=day)
    if why is None:
        return name
    say(f"not using spare {name}: {why}; cloning the template")
    await admin.drop(name)
    return None


async def _problem(
    db: Database,
    admin: Admin,
    found: Found,
    *,
    tpl: TemplateInfo,
    owner: str,
    app: Callable[[], Application],
    day: dt.date,
) -> str | None:
    """Why the spare in ``found`` must not become the data of ``day``; None when it may.

    It must be marked ready, by this project, as a copy of the template as it is now (same
    database, snapshot, dataset and day), with the settings it was sealed with. While its seal
    holds that is all (module docstring); when it is broken, the checks of a kept dataset run
    in it (:func:`perfkit.snapshot.dataset.changes_problem`), and its dataset row must say
    what its record says."""
    spare = found.spare
    if spare is None or found.spare_oid is None:
        return "it is not marked ready (its build did not finish)"
    if spare.owner != owner:
        return "another project made it"
    if (why := spare.differs(tpl, oid=found.template_oid)) is not None:
        return why
    if spare.anchor_date != day:
        return f"its dates are for {spare.anchor_date}, not {day}"
    now = await settings_of(admin.conn, spare.name)
    if now is None:
        return "it is gone"
    if (why := settings_problem(spare.settings, now)) is not None:
        return why
    if found.sealed:
        return None
    try:
        if not found.spare_open:  # sealed again by hand: open it to look inside
            await admin.conn.execute(
                f"ALTER DATABASE {quote_ident(spare.name)} WITH ALLOW_CONNECTIONS true"
            )
        async with db.other(spare.name).connect() as conn:
            return await _data_problem(conn, app(), spare, oid=found.spare_oid)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, DatabaseEnvError) as exc:
        return f"its seal was broken and it could not be checked ({type(exc).__name__})"


async def _data_problem(
    conn: asyncpg.Connection, app: Application, spare: SpareInfo, *, oid: int
) -> str | None:
    info = await read_dataset_info(conn, order=app.tables)
    if info is None:
        return "it holds no perfkit dataset"
    if info.key() != spare.dataset_key or info.schema_fingerprint != app.data.fingerprint:
        return "it holds another dataset than its record says"
    if info.anchor_date != spare.anchor_date:
        return f"its data is dated {info.anchor_date}, its record says {spare.anchor_date}"
    baseline = await read_load_baseline(conn)
    if baseline is None or baseline.database_oid != oid:
        return "its load was not recorded in it"
    return await changes_problem(conn, app, info)


def start_build(
    db: Database,
    *,
    state_dir: Path,
    template_name: str,
    owner: str,
    tables: Sequence[str],
    target: str | None = None,
) -> subprocess.Popen[bytes] | None:
    """:func:`perfkit.snapshot.spare_build.build` in a detached child process (module
    docstring), started and left to run; returns it, or None when it could not be started
    (then the next restore clones, as without spares). The child reaches the server ``db``'s
    connections reached (its pin)."""
    server = db.pin.server
    job: dict[str, Any] = {
        "url": str(db.url),
        "server": None if server is None else [server.system_identifier, server.started],
        "template": template_name,
        "owner": owner,
        "tables": list(tables),
        "target": target,
    }
    log = log_path(state_dir, template_name)
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", MODULE],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        if child.stdin is not None:
            with child.stdin:
                child.stdin.write(json.dumps(job).encode())
    except OSError:
        return None
    # Reaped when it ends (no zombie in a long-running process, no "still running" warning
    # when the handle is dropped); a daemon thread never holds up this process's exit.
    threading.Thread(target=child.wait, name=f"reap {child.pid}", daemon=True).start()
    return child


def log_path(state_dir: Path, template_name: str) -> Path:
    """Where the background build of ``template_name``'s spare writes its line."""
    return state_dir / "spares" / f"{template_name}.log"


async def wait_until_ready(
    db: Database, *, template_name: str, owner: str, seconds: float = 60.0
) -> SpareInfo | None:
    """Poll until ``owner``'s spare of the template is :func:`ready` (None after ``seconds``):
    for benchmarks and tests, which measure or check the rename once the build is done."""
    deadline = time.monotonic() + seconds
    async with db.admin() as admin:
        while True:
            found = await ready(admin, template_name=template_name, owner=owner)
            if found is not None or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.05)


async def stale(admin: Admin, *, owner: str, keep: bool = True) -> list[str]:
    """``owner``'s spares that no longer copy their template as it is now (template moved on,
    replaced or gone; never finished); all of them when ``keep`` is false (spares turned off).
    Another project's spares are left to it, unless their template is gone (those are
    :meth:`~perfkit.database.Admin.leftovers`)."""
    out = []
    for info in await template.list_templates(admin):
        for name in await admin.ready_spares(info.name):
            if name != ready_spare_name(info.name, owner):
                continue
            if not keep or await ready(admin, template_name=info.name, owner=owner) is None:
                out.append(name)
    return out
