""" "Data ready": :func:`ensure_dataset`, and :func:`cloned_database` for destructive tests.

:func:`ensure_dataset` makes the target database hold the scale's dataset as of today, by
the cheapest route available:

``kept``
    The database already holds it (right scale, seed, mode, generator version, schema and
    row counts, dates current): nothing is restored.
``template``
    The server has the scale's template for this dataset: clone it and swap it in.
``file``
    The newest snapshot of this dataset in the snapshot directory that verifies: restore it
    (and keep a template, so the next run takes the fast path).
``seeded``
    Nothing usable: seed with :func:`perfkit.datagen.seed_database`, snapshot, prune, and keep
    a template.

Every route leaves the scale's template on the server, which :func:`cloned_database` needs.
``invoke prepare --scale NAME`` calls :func:`ensure_dataset` and writes the report to
``<state_dir>/prepare/<scale>.json`` for the performance tests' budget checks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import asyncpg

from perfkit.app import load_application
from perfkit.config import Config, Scale
from perfkit.datagen import DatasetInfo, read_dataset_info, seed_database
from perfkit.db import connection
from perfkit.env.base import ensure_database
from perfkit.locks import exclusive
from perfkit.snapshot import dbadmin, template
from perfkit.snapshot.create import write_snapshot
from perfkit.snapshot.dataset import (
    SaySeedProgress,
    database_problem,
    expected_key,
    manifest_problem,
)
from perfkit.snapshot.dates import target_date
from perfkit.snapshot.errors import SnapshotError
from perfkit.snapshot.prune import prune
from perfkit.snapshot.restore import (
    Staging,
    clone_template,
    load_from_files,
    replace_database,
    restore_snapshot,
    verify_snapshot,
)
from perfkit.snapshot.store import Snapshot, SnapshotStore
from perfkit.urls import database_name, with_database

How = Literal["kept", "template", "file", "seeded"]
Progress = Callable[[str], None]
CLONE_PREFIX = "perfkit_clone_"


@dataclass(frozen=True)
class PrepareReport:
    """How the data was made ready, and how long each step took (seconds)."""

    scale: str
    how: How
    seconds: float
    info: DatasetInfo
    database: str
    #: Why the database could not be kept as it was (None when kept).
    reason: str | None = None
    snapshot_id: str | None = None
    restore_seconds: float | None = None
    seed_seconds: float | None = None
    snapshot_seconds: float | None = None
    template_seconds: float | None = None
    steps: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings)."""
        info = self.info
        return {
            "scale": self.scale,
            "how": self.how,
            "seconds": self.seconds,
            "restore_seconds": self.restore_seconds,
            "seed_seconds": self.seed_seconds,
            "snapshot_seconds": self.snapshot_seconds,
            "template_seconds": self.template_seconds,
            "steps": dict(self.steps),
            "database": self.database,
            "reason": self.reason,
            "snapshot_id": self.snapshot_id,
            "info": {
                "scale": info.scale,
                "seed": info.seed,
                "mode": info.mode,
                "generator_version": info.generator_version,
                "anchor_date": info.anchor_date.isoformat(),
                "schema_fingerprint": info.schema_fingerprint,
                "row_counts": dict(info.row_counts),
                "created_at": info.created_at.isoformat(),
            },
        }


def report_path(cfg: Config, scale: str) -> Path:
    return cfg.state_dir / "prepare" / f"{scale}.json"


def write_report(cfg: Config, report: PrepareReport) -> Path:
    """Write ``report`` as JSON to ``<state_dir>/prepare/<scale>.json`` (atomically)."""
    path = report_path(cfg, report.scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


async def ensure_dataset(
    url: str,
    cfg: Config,
    scale: Scale,
    *,
    as_of: dt.date | str | None = None,
    confirm: str | None = None,
    progress: Progress | None = None,
) -> PrepareReport:
    """Make the URL's database hold ``scale``'s dataset with current dates; see the module
    docstring for the routes. Destructive routes follow the safety rule (``confirm``)."""
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    today = target_date(as_of)
    key = expected_key(cfg, scale)
    store = SnapshotStore(cfg.snapshots.directory)
    steps: dict[str, float] = {}
    admin_url = with_database(url, "postgres")
    target = database_name(url)

    t = time.perf_counter()
    problem: str | None = "the database does not exist"
    async with connection(admin_url) as admin:
        if await dbadmin.exists(admin, target):
            async with connection(url) as conn:
                _, problem = await database_problem(conn, cfg, scale, today=today)
    steps["check"] = time.perf_counter() - t

    how: How
    snapshot_id: str | None = None
    restore_s = seed_s = snapshot_s = template_s = None
    if problem is None:
        how = "kept"
        t = time.perf_counter()
        if await _template_from_target(url, cfg, scale, key=key, today=today, progress=say):
            template_s = steps["template"] = time.perf_counter() - t
    else:
        say(f"not keeping {target!r}: {problem}")
        async with connection(admin_url) as admin:
            tpl = await template.find(admin, scale.name, key)
        if tpl is not None:
            how = "template"
            t = time.perf_counter()
            found = tpl

            async def build(admin: asyncpg.Connection, staging: Staging) -> None:
                await clone_template(
                    url,
                    admin,
                    found,
                    app=load_application(cfg),
                    name=await staging.fresh(),
                    target_day=today,
                    steps=steps,
                    progress=say,
                )

            await replace_database(
                url, cfg, build=build, confirm=confirm, steps=steps, progress=say
            )
            restore_s = time.perf_counter() - t
            snapshot_id = tpl.snapshot_id
        elif (snap := _newest_usable(store, cfg, scale, say)) is not None:
            how = "file"
            restored = await restore_snapshot(
                url,
                cfg,
                scale,
                snapshot_id=snap.id,
                as_of=today,
                keep_template=True,
                confirm=confirm,
                progress=say,
            )
            steps.update(restored.steps)
            restore_s = restored.seconds
            template_s = restored.steps.get("template")
            snapshot_id = snap.id
        else:
            how = "seeded"
            say(f"seeding scale {scale.name}")
            t = time.perf_counter()
            await ensure_database(url)
            await seed_database(
                url,
                cfg,
                scale,
                anchor=today,
                reset=True,
                confirm=confirm,
                progress=SaySeedProgress(say),
            )
            seed_s = steps["seed"] = time.perf_counter() - t
            say("writing a snapshot")
            t = time.perf_counter()
            snap = await write_snapshot(url, cfg, scale, store=store, progress=say)
            snapshot_s = steps["snapshot"] = time.perf_counter() - t
            snapshot_id = snap.id
            await prune(cfg, url=url, scale=scale.name)
            t = time.perf_counter()
            await _template_from_target(
                url,
                cfg,
                scale,
                key=key,
                today=today,
                progress=say,
                snapshot_id=snap.id,
                replace=True,
            )
            template_s = steps["template"] = time.perf_counter() - t

    async with connection(url) as conn:
        info = await read_dataset_info(conn, order=load_application(cfg).tables)
    if info is None:  # pragma: no cover - every route above leaves a dataset
        raise SnapshotError(f"{target!r} holds no dataset after preparing it")
    return PrepareReport(
        scale=scale.name,
        how=how,
        seconds=time.perf_counter() - started,
        info=info,
        database=target,
        reason=problem,
        snapshot_id=snapshot_id,
        restore_seconds=restore_s,
        seed_seconds=seed_s,
        snapshot_seconds=snapshot_s,
        template_seconds=template_s,
        steps=steps,
    )


async def prepare(
    url: str,
    cfg: Config,
    scale: Scale,
    *,
    as_of: dt.date | str | None = None,
    confirm: str | None = None,
    progress: Progress | None = None,
) -> tuple[PrepareReport, Path]:
    """``invoke prepare``: :func:`ensure_dataset`, then :func:`write_report`."""
    report = await ensure_dataset(url, cfg, scale, as_of=as_of, confirm=confirm, progress=progress)
    return report, write_report(cfg, report)


def _newest_usable(
    store: SnapshotStore, cfg: Config, scale: Scale, say: Progress
) -> Snapshot | None:
    """The newest snapshot of this dataset that verifies; damaged ones are skipped (said)."""
    for snap in store.snapshots(scale.name):
        if manifest_problem(snap.manifest, cfg, scale) is not None:
            continue
        try:
            verify_snapshot(snap, load_application(cfg))
        except SnapshotError as exc:
            say(f"skipping snapshot {snap.label}: {exc.message}")
            continue
        return snap
    return None


async def _template_from_target(
    url: str,
    cfg: Config,
    scale: Scale,
    *,
    key: str,
    today: dt.date,
    progress: Progress,
    snapshot_id: str | None = None,
    replace: bool = False,
) -> bool:
    """Clone the target into the scale's template when there is none (or ``replace``);
    True when a template was made. The target's other sessions are ended for the clone."""
    admin_url = with_database(url, "postgres")
    async with connection(admin_url) as admin:
        if not replace and await template.find(admin, scale.name, key) is not None:
            return False
        if snapshot_id is None:
            latest = SnapshotStore(cfg.snapshots.directory).latest(scale.name)
            if latest is not None and latest.manifest.dataset_key == key:
                snapshot_id = latest.id
        info = template.TemplateInfo(
            name=template.template_name(scale.name, key),
            scale=scale.name,
            dataset_key=key,
            schema_fingerprint=load_application(cfg).schema.fingerprint,
            snapshot_id=snapshot_id,
            anchor_date=today,
        )
        progress(f"keeping template {info.name} for the fast path")
        async with exclusive(url), template.locked(url, info.name):
            await template.install(admin, source=database_name(url), info=info)
    return True


async def ensure_template(
    url: str, cfg: Config, scale: Scale, *, progress: Progress | None = None
) -> template.TemplateInfo:
    """The scale's template for the configured dataset; built from the newest usable snapshot
    when the server has none. Raises :class:`SnapshotError` when neither exists."""
    say = progress or (lambda _msg: None)
    key = expected_key(cfg, scale)
    async with connection(with_database(url, "postgres")) as admin:
        tpl = await template.find(admin, scale.name, key)
        if tpl is not None:
            return tpl
        snap = _newest_usable(SnapshotStore(cfg.snapshots.directory), cfg, scale, say)
        if snap is None:
            raise SnapshotError(
                f"no template and no usable snapshot of scale {scale.name!r} on this server",
                hint=f"run `invoke prepare --scale {scale.name}` first",
            )
        name = template.template_name(scale.name, key)
        staging = dbadmin.helper_name(name, "src")
        today = dt.date.today()
        async with template.locked(url, name):
            try:
                await load_from_files(
                    url,
                    admin,
                    snap,
                    app=load_application(cfg),
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
                )
                await template.install(admin, source=staging, info=info)
            finally:
                await dbadmin.drop_quietly(admin, staging)
        return info


@asynccontextmanager
async def cloned_database(url: str, cfg: Config, scale: Scale) -> AsyncIterator[str]:
    """A fresh database cloned from the scale's template, dated today; yields its URL and
    drops it on exit. Give each destructive test its own::

        async with cloned_database(url, cfg, scale) as db_url:
            ...  # delete, update, run the batch: nothing else sees it

    The template comes from ``invoke prepare`` (or, failing that, the newest usable snapshot).
    While the clone lives, its lock is held so ``invoke prune`` leaves it alone.
    """
    tpl = await ensure_template(url, cfg, scale)
    name = f"{CLONE_PREFIX}{scale.name[:36]}_{secrets.token_hex(4)}"
    admin_url = with_database(url, "postgres")
    clone_url = with_database(url, name)
    async with exclusive(clone_url):
        async with connection(admin_url) as admin:
            await clone_template(
                url, admin, tpl, app=load_application(cfg), name=name, target_day=dt.date.today()
            )
        try:
            yield clone_url
        finally:
            async with connection(admin_url) as admin:
                await dbadmin.drop(admin, name)
