"""``python -m perfkit.snapshot.spare_build``: a template's spare, built (the background side).

:func:`perfkit.snapshot.spares.start_build` starts this module in a process of its own, with
its job on stdin (:func:`main`); :func:`build` is the work, also called in process by
benchmarks and tests. What a spare is, and the rules it keeps, are in
:mod:`perfkit.snapshot.spares`. The order of a build:

1. drop what the restore left of its target (the database the spare replaced, a helper
   ``..__pkold_..``), each under a lock of its own name: never the target's, so a restore
   that follows at once does not wait for the drop;
2. under the spare's lock (taken at once, or the build leaves: someone else is at it): keep a
   ready spare that copies the template as it is now, else drop the old one and clone the
   template, politely (no session ended; the template's lock held for the clone only);
3. record the load in the spare, seal it (no connections; other sessions ended), check it
   against that record once more, and only then mark it ready (its record,
   :class:`~perfkit.snapshot.spares.SpareInfo`, in its comment, with the seal). A failure
   anywhere drops it.

(A module of its own, which the package never imports: ``-m`` then runs its only copy.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence

import asyncpg

from perfkit.catalog import read_catalog
from perfkit.database import Admin, Database, helper_kind, ready_spare_name
from perfkit.datagen.changes import (
    changes_since_load,
    record_load_baseline,
    settings_of,
    wait_until_gone,
)
from perfkit.db import Server, ServerPin
from perfkit.errors import PerfkitError
from perfkit.locks import LockTimeout, exclusive
from perfkit.snapshot import spares, template
from perfkit.snapshot.template import TemplateInfo
from perfkit.sqlnames import quote_ident
from perfkit.urls import mask_url


async def build(
    db: Database,
    *,
    template_name: str,
    owner: str,
    tables: Sequence[str],
    target: str | None = None,
) -> spares.SpareInfo | None:
    """Make ``owner``'s spare of the template ``template_name`` (on ``db``'s server), unless a
    ready one copies the template as it is now; returns it, or None when there is no template
    to copy or another build or a restore holds the spare. ``tables`` are the application's
    (their load is recorded in the spare). ``target``: first drop what the restore of that
    database left behind (the databases spares replaced: :func:`_tidy`).

    The spare's lock is held throughout (module docstring); the template's only for the clone.
    """
    name = ready_spare_name(template_name, owner)
    async with db.admin() as admin:
        if target is not None:
            await _tidy(db, admin, target)
        try:
            async with exclusive(db.other(name).url, wait_s=0.0, conn=admin.conn):
                return await _build_locked(
                    db, admin, name=name, template_name=template_name, owner=owner, tables=tables
                )
        except LockTimeout:
            return None


async def _tidy(db: Database, admin: Admin, target: str) -> None:
    """Drop the databases spares replaced as ``target`` (its ``old`` helpers among its
    :meth:`~perfkit.database.Admin.leftovers`: complete from their rename on, used by
    nobody), each under the lock of its own name (:func:`perfkit.database.lock_owner`), never
    the target's: a restore of ``target`` meanwhile sweeps the other leftovers and skips
    these while they are held."""
    for leftover in await admin.leftovers(target):
        if helper_kind(leftover) != "old":
            continue  # a killed run's: the next command on the target removes it
        with contextlib.suppress(LockTimeout):
            async with exclusive(db.other(leftover).url, wait_s=0.0, conn=admin.conn):
                await admin.drop(leftover)


async def _build_locked(
    db: Database,
    admin: Admin,
    *,
    name: str,
    template_name: str,
    owner: str,
    tables: Sequence[str],
) -> spares.SpareInfo | None:
    found = await spares.find(admin, template_name, name)
    tpl, spare = found.template, found.spare
    if (
        tpl is not None
        and spare is not None
        and spare.owner == owner
        and spare.differs(tpl, oid=found.template_oid) is None
    ):
        return spare
    if found.spare_exists:
        await admin.drop(name)  # stale, or never finished
    if tpl is None:
        return None
    async with template.locked(db, template_name, conn=admin.conn):
        found = await spares.find(admin, template_name, name)  # as it is under the lock
        tpl = found.template
        if tpl is None or tpl.refreshing:
            return None
        await admin.clone(
            source=template_name, name=name, strategy=template.DEFAULT_STRATEGY, polite=True
        )
    try:
        async with db.other(name).connect() as conn:
            baseline = await record_load_baseline(conn, tables)
            await _close_to_others(admin, name, keep=conn.get_server_pid())
            changed = await changes_since_load(conn, tables, baseline=baseline)
            built = baseline.catalog.fingerprint if baseline.catalog else None
            if (
                changed.problem is not None
                or not changed.known
                or (await read_catalog(conn, "public", tables)).fingerprint != built
            ):
                raise SpareChangedError(f"{name} was changed while it was being built")
        info = await _seal(admin, name, tpl, oid=found.template_oid, owner=owner)
    except BaseException:
        await admin.drop_quietly(name)
        raise
    return info


class SpareChangedError(PerfkitError):
    """Another session changed a spare while it was being built (it is dropped)."""


async def _close_to_others(admin: Admin, name: str, *, keep: int) -> None:
    """Allow no new connection to ``name`` and end the sessions on it but ``keep``'s; return
    once they are gone (their counters are then published)."""
    await admin.conn.execute(f"ALTER DATABASE {quote_ident(name)} WITH ALLOW_CONNECTIONS false")
    pids = [
        int(r["pid"])
        for r in await admin.conn.fetch(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> $2",
            name,
            keep,
        )
    ]
    await wait_until_gone(admin.conn, pids)


async def _seal(
    admin: Admin, name: str, tpl: TemplateInfo, *, oid: int, owner: str
) -> spares.SpareInfo:
    """Mark the spare ready (a build's last step), with its seal: the transaction id of its
    ``pg_database`` row, last changed by :func:`_close_to_others`."""
    async with admin.conn.transaction():
        seal = await admin.conn.fetchval(
            "SELECT xmin::text::bigint FROM pg_database WHERE datname = $1", name
        )
        settings = await settings_of(admin.conn, name)
        if seal is None or settings is None:  # pragma: no cover - dropped under our lock
            raise SpareChangedError(f"{name} vanished while it was being built")
        info = spares.SpareInfo.of(
            name, tpl, oid=oid, owner=owner, seal=int(seal), settings=settings
        )
        await admin.set_comment(name, info.comment())
    return info


def main() -> int:
    """The background build: a job (JSON) on stdin, one line on stdout; exit 0 unless it
    failed."""
    started = time.perf_counter()
    with contextlib.suppress(OSError):
        os.nice(10)  # a background chore: a measurement that runs meanwhile comes first
    try:
        job = json.loads(sys.stdin.read())
        server = job["server"]
        pin = ServerPin(None if server is None else Server(server[0], str(server[1])))
        db = Database(str(job["url"]), pin=pin)
        made = asyncio.run(
            build(
                db,
                template_name=str(job["template"]),
                owner=str(job["owner"]),
                tables=[str(t) for t in job["tables"]],
                target=None if job["target"] is None else str(job["target"]),
            )
        )
    except (PerfkitError, asyncpg.PostgresError, OSError, ValueError, KeyError) as exc:
        message = exc.message if isinstance(exc, PerfkitError) else f"{type(exc).__name__}: {exc}"
        print(f"perfkit: no spare made: {mask_url(message)}", flush=True)
        return 1
    seconds = time.perf_counter() - started
    if made is None:
        print(f"perfkit: no spare made (no template, or another build is at it); {seconds:.2f} s")
    else:
        print(f"perfkit: spare {made.name} ready for {made.anchor_date} in {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
