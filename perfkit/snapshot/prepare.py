"""Templates for the fast path, and throw-away clones for destructive tests.

The scale's *template* is a database on the server holding its dataset, cloned in a fraction
of a second. :func:`template_from_target` keeps one from a database that holds the dataset,
:func:`ensure_template` builds one from the newest usable snapshot, and :func:`cloned_database`
gives each destructive test its own clone. :func:`newest_usable` picks the snapshot a restore
would use. The "data ready" routes that use them are in :mod:`perfkit.prepare`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

from perfkit.config import Scale
from perfkit.database import CLONE_PREFIX, Database, helper_name
from perfkit.locks import exclusive
from perfkit.snapshot import template
from perfkit.snapshot.dataset import (
    expected_key,
    manifest_problem,
)
from perfkit.snapshot.errors import SnapshotError
from perfkit.snapshot.restore import (
    clone_template,
    load_from_files,
    verify_snapshot,
)
from perfkit.snapshot.store import Snapshot, SnapshotStore

if TYPE_CHECKING:
    from perfkit.run import Run

How = Literal["kept", "template", "file", "seeded"]


def newest_usable(store: SnapshotStore, run: Run, scale: Scale) -> Snapshot | None:
    """The newest snapshot of this dataset that verifies; damaged ones are skipped (said)."""
    for snap in store.snapshots(scale.name):
        if manifest_problem(snap.manifest, run, scale) is not None:
            continue
        try:
            verify_snapshot(snap, run.app)
        except SnapshotError as exc:
            run.say(f"skipping snapshot {snap.label}: {exc.message}")
            continue
        return snap
    return None


async def template_from_target(
    run: Run,
    scale: Scale,
    *,
    today: dt.date,
    snapshot_id: str | None = None,
    replace: bool = False,
) -> bool:
    """Clone the run's database into the scale's template when there is none (or
    ``replace``); True when a template was made. The database's other sessions are ended for
    the clone."""
    key = expected_key(run, scale)
    db, cfg = run.db, run.cfg
    async with db.admin() as admin:
        if not replace and await template.find(admin, scale.name, key) is not None:
            return False
        if snapshot_id is None:
            latest = SnapshotStore.for_run(run).latest(scale.name)
            if latest is not None and latest.manifest.dataset_key == key:
                snapshot_id = latest.id
        info = template.TemplateInfo(
            name=template.template_name(scale.name, key),
            scale=scale.name,
            dataset_key=key,
            schema_fingerprint=run.app.data.fingerprint,
            snapshot_id=snapshot_id,
            anchor_date=today,
            owner=template.owner_of(cfg.state_dir),
        )
        run.say(f"keeping template {info.name} for the fast path")
        async with exclusive(db), template.locked(db, info.name):
            await template.install(admin, source=db.name, info=info)
    return True


async def ensure_template(run: Run, scale: Scale) -> template.TemplateInfo:
    """The scale's template for the configured dataset, on the run's server; built from the
    newest usable snapshot when the server has none. Raises :class:`SnapshotError` when
    neither exists."""
    say = run.say
    key = expected_key(run, scale)
    db = run.db
    async with db.admin() as admin:
        tpl = await template.find(admin, scale.name, key)
        if tpl is not None:
            return tpl
        snap = newest_usable(SnapshotStore.for_run(run), run, scale)
        if snap is None:
            raise SnapshotError(
                f"no template and no usable snapshot of scale {scale.name!r} on this server",
                hint=f"run `perfkit prepare --scale {scale.name}` first",
            )
        name = template.template_name(scale.name, key)
        staging = helper_name(name, "src")
        today = run.today
        async with template.locked(db, name):
            try:
                await load_from_files(
                    db,
                    admin,
                    snap,
                    app=run.app,
                    staging=staging,
                    target_day=today,
                    progress=say,
                )
                info = template.TemplateInfo(
                    name=name,
                    scale=scale.name,
                    dataset_key=key,
                    schema_fingerprint=snap.manifest.schema_fingerprint,
                    snapshot_id=snap.id,
                    anchor_date=today,
                    owner=template.owner_of(run.cfg.state_dir),
                )
                await template.install(admin, source=staging, info=info)
            finally:
                await admin.drop_quietly(staging)
        return info


@asynccontextmanager
async def cloned_database(run: Run, scale: Scale) -> AsyncIterator[Database]:
    """A fresh database cloned from the scale's template on the run's server, dated the run's
    day; yields its handle and drops it on exit. Give each destructive test its own::

        async with cloned_database(run, scale) as clone:
            ...  # delete, update, run the batch: nothing else sees it

    The template comes from ``perfkit prepare`` (or, failing that, the newest usable
    snapshot). While the clone lives, its lock is held so ``perfkit prune`` leaves it alone.
    """
    db = run.db
    tpl = await ensure_template(run, scale)
    clone = db.other(f"{CLONE_PREFIX}{scale.name[:36]}_{secrets.token_hex(4)}")
    async with exclusive(clone):
        async with db.admin() as admin:
            await clone_template(
                db,
                admin,
                tpl,
                app=lambda: run.app,
                name=clone.name,
                target_day=run.today,
            )
        try:
            yield clone
        finally:
            async with db.admin() as admin:
                await admin.drop(clone.name)
