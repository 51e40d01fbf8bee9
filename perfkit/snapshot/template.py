"""The fast path: a template database per scale and dataset, cloned in a fraction of a second.

A template is an ordinary database named ``perfkit_tpl_<scale>_<dataset key>`` (the key
hashes the scale's shape, the data settings, the generator version and the schema
fingerprint; see :meth:`perfkit.datagen.DatasetInfo.key`). Its comment records what it
holds (scale, key, schema, source snapshot, anchor date) and its *owner*, the project that
made it (:func:`owner_of`: a digest of the project's state folder), so it is found without
connecting to it, and ``perfkit prune`` of one project never drops another's on a shared
server. Templates of one dataset have one name, so two projects with the same dataset use
(and refresh) one template; the last to build it owns it. While its dates move, the comment
says so first (``refreshing``): a refresh that was interrupted is seen and repaired by the
next one, never served as dated on the recorded day. It is flagged ``IS_TEMPLATE`` and
``ALLOW_CONNECTIONS false``: nobody can connect by accident, and cloning never waits for a
stray session. Its dates are moved to the target date once (a day), under its own lock, so
each clone is a plain ``CREATE DATABASE ... TEMPLATE``.

``STRATEGY``: PostgreSQL 15 copies a template either through the WAL (``WAL_LOG``, the
default) or file by file between two forced checkpoints (``FILE_COPY``). ``perfkit
bench-restore`` times both; ``WAL_LOG`` was as fast or faster at medium and large on these
machines (medians 0.10 s vs 0.13 s and 0.24 s vs 0.25 s; under load 0.19 s vs 0.35 s), and it
forces no checkpoint, so it is :data:`DEFAULT_STRATEGY`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg

from perfkit.database import Admin, Database, helper_name
from perfkit.locks import exclusive
from perfkit.snapshot.dates import ANCHOR_COLUMN, Shifted, shift_days, shift_in_place
from perfkit.sqlnames import DATASET_TABLE, quote_ident

PREFIX = "perfkit_tpl_"
COMMENT_MARK = "perfkit template "
#: Clone strategy on PostgreSQL 15+ (see the module docstring and `perfkit bench-restore`).
DEFAULT_STRATEGY = "WAL_LOG"


@dataclass(frozen=True)
class TemplateInfo:
    """What a template database holds, as recorded in its comment."""

    name: str
    scale: str
    dataset_key: str
    schema_fingerprint: str
    snapshot_id: str | None
    anchor_date: dt.date
    #: True while (or after an interrupted) date refresh: the data's dates are unknown.
    refreshing: bool = False
    #: The project that made it (:func:`owner_of`); None in templates of an older perfkit.
    owner: str | None = None

    def comment(self) -> str:
        body: dict[str, object] = {
            "scale": self.scale,
            "dataset_key": self.dataset_key,
            "schema": self.schema_fingerprint,
            "snapshot": self.snapshot_id,
            "anchor": self.anchor_date.isoformat(),
        }
        if self.refreshing:
            body["refreshing"] = True
        if self.owner is not None:
            body["owner"] = self.owner
        return COMMENT_MARK + json.dumps(body, sort_keys=True)

    @classmethod
    def parse(cls, name: str, comment: str | None) -> TemplateInfo | None:
        """The info in a template's comment; None when it is not one of perfkit's."""
        if not comment or not comment.startswith(COMMENT_MARK):
            return None
        try:
            body = json.loads(comment[len(COMMENT_MARK) :])
            return cls(
                name=name,
                scale=str(body["scale"]),
                dataset_key=str(body["dataset_key"]),
                schema_fingerprint=str(body["schema"]),
                snapshot_id=None if body.get("snapshot") is None else str(body["snapshot"]),
                anchor_date=dt.date.fromisoformat(body["anchor"]),
                refreshing=body.get("refreshing") is True,
                owner=body["owner"] if isinstance(body.get("owner"), str) else None,
            )
        except (ValueError, KeyError, TypeError):
            return None


def owner_of(state_dir: Path) -> str:
    """The owner a project's templates carry: a digest of its state folder, resolved. Every
    command of the project gives the same one (the folder may be deleted and made again);
    another project (another state folder) on the same server gives another."""
    where = str(state_dir.expanduser().absolute().resolve())
    return hashlib.sha256(f"perfkit-project:{where}".encode()).hexdigest()[:16]


def template_name(scale: str, key: str) -> str:
    """``perfkit_tpl_<scale>_<key>``, within PostgreSQL's 63-byte name limit."""
    return f"{PREFIX}{scale[:36]}_{key[:12]}"


async def list_templates(admin: Admin) -> list[TemplateInfo]:
    """Every perfkit template on the server (databases named and commented as such)."""
    rows = await admin.conn.fetch(
        "SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database "
        "WHERE left(datname, length($1)) = $1 ORDER BY datname",
        PREFIX,
    )
    out = []
    for row in rows:
        info = TemplateInfo.parse(str(row["datname"]), row["comment"])
        if info is not None:
            out.append(info)
    return out


async def find(admin: Admin, scale: str, key: str) -> TemplateInfo | None:
    """The template of ``scale`` holding dataset ``key``, if there is one."""
    name = template_name(scale, key)
    info = TemplateInfo.parse(name, await admin.comment_of(name))
    return info if info is not None and info.dataset_key == key else None


@contextlib.asynccontextmanager
async def locked(
    db: Database, name: str, *, conn: asyncpg.Connection | None = None
) -> AsyncIterator[None]:
    """Hold the template's own lock (refreshes, replacements and clones take turns); on
    ``conn`` (an admin connection) when given, else on a connection of its own."""
    async with exclusive(db.other(name), conn=conn):
        yield


async def install(
    admin: Admin, *, source: str, info: TemplateInfo, strategy: str | None = None
) -> TemplateInfo:
    """Make ``info.name`` a clone of database ``source``, replacing any template of that name.

    The clone is made beside the old template and swapped in by renaming, so a template is
    always either the old one or the complete new one. Call with the template's lock held.
    """
    staging = helper_name(info.name, "new")
    try:
        await admin.clone(source=source, name=staging, strategy=strategy or DEFAULT_STRATEGY)
        await _seal(admin, staging, info)
        old = await admin.swap(target=info.name, staging=staging)
    except BaseException:
        await admin.drop_quietly(staging)
        raise
    if old:
        await admin.drop(old)
    return info


async def _seal(admin: Admin, name: str, info: TemplateInfo) -> None:
    ident = quote_ident(name)
    await admin.conn.execute(
        f"ALTER DATABASE {ident} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
    )
    await admin.set_comment(name, info.comment())


async def refresh(
    db: Database, admin: Admin, info: TemplateInfo, *, target: dt.date, shifted: Shifted
) -> TemplateInfo:
    """Move the template's dates to ``target`` (no-op when already there). Call with its lock.

    The comment is marked ``refreshing`` before the data moves and cleared, with the new
    anchor, only after the data and its compaction are done: an interruption anywhere in
    between leaves the mark, and the next refresh repairs the template whatever its recorded
    date says. The shift is computed from the anchor in the data itself, so a shift that did
    commit is never applied twice. Connections are allowed only for the update.
    """
    if info.anchor_date == target and not info.refreshing:
        return info
    ident = quote_ident(info.name)
    await admin.set_comment(info.name, replace(info, refreshing=True).comment())
    await admin.conn.execute(f"ALTER DATABASE {ident} WITH ALLOW_CONNECTIONS true")
    try:
        async with db.other(info.name).connect() as conn:
            anchor = await conn.fetchval(
                f"SELECT {ANCHOR_COLUMN} FROM {DATASET_TABLE}"  # noqa: S608 - constants
            )
            await shift_in_place(conn, shift_days(anchor, target), shifted=shifted, compact=True)
    finally:
        await admin.conn.execute(f"ALTER DATABASE {ident} WITH ALLOW_CONNECTIONS false")
        await admin.terminate(info.name)
    fresh = replace(info, anchor_date=target, refreshing=False)
    await admin.set_comment(info.name, fresh.comment())
    return fresh


async def clone(
    admin: Admin, info: TemplateInfo, *, name: str, strategy: str | None = None
) -> None:
    """A new database ``name`` cloned from the template (its sessions ended first)."""
    await admin.clone(source=info.name, name=name, strategy=strategy or DEFAULT_STRATEGY)


async def drop(admin: Admin, info: TemplateInfo) -> None:
    """Drop the template, and its ready spares (:mod:`perfkit.snapshot.spares`) with it."""
    for spare in await admin.ready_spares(info.name):
        await admin.drop(spare)
    await admin.drop(info.name)
