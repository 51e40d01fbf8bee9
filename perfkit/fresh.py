"""Fresh copies for measurements that write: every run of a writing workload sees the same data.

A workload that commits writes (scales.yaml ``app.workloads.<name>.writes: true``, or a test
marked ``perf_clone``) cannot repeat its runs on one database: each run would find the previous
run's writes, and the record would name data the runs never saw. It runs on a database of its
own instead, whose name (so whose URL, and the engine on it) stays the same, and
:meth:`FreshCopies.renew` makes that database a fresh copy of its *source* again before each
run (warm-up, timed, memory, profiled, and the EXPLAINs): the database is dropped and cloned
again (``CREATE DATABASE ... TEMPLATE``, :meth:`perfkit.database.Admin.clone`), outside the
timed region.

- :func:`template_copies`: the source is the scale's template (the shared data as prepared);
  ``run_scale`` and ``perfkit explain`` use it for a workload declared as writing.
- :func:`copies_of`: the source is a database as it is now (a ``perf_clone`` test's own clone,
  its setup included), frozen into a copy of its own first.

Names are those of perfkit's test clones (:data:`perfkit.database.CLONE_PREFIX`), each held
under its own lock while it lives, so ``perfkit prune`` never takes one for a leftover; both are
dropped on exit. Whoever holds connections to the copy releases them in ``release`` (an
engine's :meth:`dispose`): the copy is dropped with its sessions ended.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perfkit.config import Scale
from perfkit.database import CLONE_PREFIX, Database
from perfkit.locks import exclusive
from perfkit.snapshot.prepare import cloned_database, ensure_template
from perfkit.snapshot.template import DEFAULT_STRATEGY
from perfkit.urls import SecretUrl

if TYPE_CHECKING:
    from perfkit.run import Run

#: Awaited before each renewal: close every connection to the copy (an engine's dispose).
Release = Callable[[], Awaitable[object]]


def clone_name(scale: str) -> str:
    """A new name for a test clone of ``scale`` (the shape :func:`perfkit.database.helper_owner`
    recognises)."""
    return f"{CLONE_PREFIX}{scale[:36]}_{secrets.token_hex(4)}"


@dataclass
class FreshCopies:
    """A database (``db``) that :meth:`renew` makes a fresh copy of ``source`` again."""

    db: Database
    source: str
    #: Renewals so far (the database as made counts as the first copy).
    renewals: int = 0
    _used: bool = False

    async def renew(self, release: Release | None = None) -> None:
        """Make the database a fresh copy of ``source`` for the next run: the first call
        finds it fresh already; each later one drops it and clones ``source`` again under the
        same name, after ``release`` closed the connections to it."""
        if not self._used:
            self._used = True
            return
        if release is not None:
            await release()
        db = self.db
        async with db.admin() as admin:
            await admin.drop(db.name)
            await admin.clone(source=self.source, name=db.name, strategy=DEFAULT_STRATEGY)
        self.renewals += 1

    @property
    def url(self) -> SecretUrl:
        """The copy's URL (what engines on it are opened with)."""
        return self.db.url


@asynccontextmanager
async def template_copies(run: Run, scale: Scale) -> AsyncIterator[FreshCopies]:
    """Copies of ``scale``'s template (dated the run's day: :func:`~perfkit.snapshot.prepare.
    cloned_database` makes the first), on the run's server; dropped on exit."""
    tpl = await ensure_template(run, scale)
    async with cloned_database(run, scale) as clone:
        yield FreshCopies(db=clone, source=tpl.name)


@asynccontextmanager
async def copies_of(
    db: Database, *, scale: str, release: Release | None = None
) -> AsyncIterator[FreshCopies]:
    """Copies of the database ``db`` as it is now, made in place: its state is frozen into a
    clone of its own first (``release`` closes the connections to it, which a clone's source
    must not have), dropped on exit; ``db`` is left as the last run left it."""
    frozen = db.other(clone_name(scale))
    if release is not None:
        await release()
    async with exclusive(frozen):
        async with db.admin() as admin:
            await admin.clone(source=db.name, name=frozen.name, strategy=DEFAULT_STRATEGY)
        try:
            yield FreshCopies(db=db, source=frozen.name)
        finally:
            async with db.admin() as admin:
                await admin.drop(frozen.name)
