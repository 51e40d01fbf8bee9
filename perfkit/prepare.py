""" "Data ready": make the test database hold a scale's dataset, dated today, by the cheapest route.

:func:`prepare` checks what the database holds, then takes the first route that applies, each
a small function below:

``kept`` (:func:`keep`)
    The database already holds the dataset (its key and row counts match, dates current).
``template`` (:func:`from_template`)
    The server has the scale's template for this dataset: rename its ready spare into place
    (:mod:`perfkit.snapshot.spares`), or clone it, and swap it in.
``file`` (:func:`from_file`)
    The newest snapshot of this dataset that verifies: restore it (keeping a template, so the
    next run takes the fast path).
``seeded`` (:func:`seed_and_snapshot`)
    Nothing usable: seed, snapshot, prune, and keep a template.

Whatever the route, a spare of the template is then built in the background when none is
ready (``snapshots.spare``). It returns a :class:`PrepareReport` (``perfkit prepare --json``
prints its ``to_json``); :func:`perfkit.pipeline.prepare_data` uses it directly.

:func:`create_snapshot` (``perfkit snapshot``) lives here too: it seeds first when the database
does not hold the dataset, so the snapshot layer below never seeds. (Over 400 lines because the
routes and the snapshot command share one job type and one set of checks.)
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from perfkit.config import Config, Scale
from perfkit.database import Admin, Database
from perfkit.datagen import DatasetInfo, read_dataset_info
from perfkit.datagen.command import check_dataset_size
from perfkit.datagen.kinds import seed_dataset
from perfkit.datagen.progress import RunSeedProgress
from perfkit.env.base import ensure_database
from perfkit.locks import exclusive
from perfkit.measure import timed
from perfkit.safety import created_by_perfkit
from perfkit.snapshot import spares, template
from perfkit.snapshot.create import write_snapshot
from perfkit.snapshot.dataset import database_problem, expected_key
from perfkit.snapshot.dates import target_date
from perfkit.snapshot.errors import SnapshotError
from perfkit.snapshot.prepare import newest_usable, template_from_target
from perfkit.snapshot.prune import PruneReport, prune
from perfkit.snapshot.restore import (
    Replacement,
    replace_database,
    restore_snapshot,
    stage_from_template,
)
from perfkit.snapshot.store import Snapshot, SnapshotStore

if TYPE_CHECKING:
    from perfkit.run import Run

How = Literal["kept", "template", "file", "seeded"]
#: How much work each route does, to pick the one a run record keeps.
WORK: Mapping[str, int] = {"seeded": 3, "file": 2, "template": 1, "kept": 0}


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
    steps: Mapping[str, float] = field(default_factory=dict)
    #: When it finished (UTC): a handed-over report older than an hour is not this run's.
    finished_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def work(self) -> int:
        """How much the route did: seeded 3, file 2, template 1, kept 0."""
        return WORK[self.how]

    def to_json(self) -> str:
        """The report as JSON; :meth:`from_json` reads it back, field for field."""
        body = {
            "scale": self.scale,
            "how": self.how,
            "seconds": self.seconds,
            "info": self.info.to_dict(),
            "database": self.database,
            "reason": self.reason,
            "snapshot_id": self.snapshot_id,
            "restore_seconds": self.restore_seconds,
            "seed_seconds": self.seed_seconds,
            "snapshot_seconds": self.snapshot_seconds,
            "template_seconds": self.template_seconds,
            "steps": dict(self.steps),
            "finished_at": self.finished_at.isoformat(),
        }
        return json.dumps(body, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> PrepareReport:
        """The inverse of :meth:`to_json`; ``ValueError`` on anything malformed."""
        try:
            raw = json.loads(text)
            how = raw["how"]
            if how not in get_args(How):
                raise ValueError(f"unknown route {how!r}")
            return cls(
                scale=str(raw["scale"]),
                how=how,
                seconds=float(raw["seconds"]),
                info=DatasetInfo.from_dict(raw["info"]),
                database=str(raw["database"]),
                reason=_optional(raw.get("reason"), str),
                snapshot_id=_optional(raw.get("snapshot_id"), str),
                restore_seconds=_optional(raw.get("restore_seconds"), float),
                seed_seconds=_optional(raw.get("seed_seconds"), float),
                snapshot_seconds=_optional(raw.get("snapshot_seconds"), float),
                template_seconds=_optional(raw.get("template_seconds"), float),
                steps={str(k): float(v) for k, v in dict(raw.get("steps", {})).items()},
                finished_at=dt.datetime.fromisoformat(str(raw["finished_at"])),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a prepare report: {exc}") from None


def _optional(value: Any, kind: Callable[[Any], Any]) -> Any:
    return None if value is None else kind(value)


@dataclass(frozen=True)
class _Route:
    """What one route did, beside the steps it timed."""

    snapshot_id: str | None = None
    restore_seconds: float | None = None
    seed_seconds: float | None = None
    snapshot_seconds: float | None = None
    template_seconds: float | None = None


@dataclass(frozen=True)
class _Job:
    """One preparation: the run (where, as of when, where messages go), what, and its steps."""

    run: Run
    scale: Scale
    confirm: str | None
    steps: dict[str, float]

    @property
    def db(self) -> Database:
        return self.run.db

    @property
    def cfg(self) -> Config:
        return self.run.cfg

    @property
    def today(self) -> dt.date:
        return self.run.today

    def say(self, message: str) -> None:
        self.run.say(message)


async def prepare(
    run: Run,
    scale: Scale,
    *,
    as_of: dt.date | str | None = None,
    confirm: str | None = None,
    build_spare: bool = True,
) -> PrepareReport:
    """Make the run's database hold ``scale``'s dataset dated ``as_of`` (default: the run's
    day); see the module docstring for the routes. Destructive routes follow the safety rule
    (``confirm``). ``build_spare`` false: no background build of a spare after it (see the
    module docstring)."""
    started = time.perf_counter()
    if as_of:
        run = run.as_of(target_date(as_of))
    job = _Job(run=run, scale=scale, confirm=confirm, steps={})
    # One prepare per database at a time: a second one waits here, then keeps the data.
    async with exclusive(job.db, on_wait=job.run.note):
        how, route, problem = await _route(job)
        app = run.app
        async with job.db.connect() as conn:
            info = await read_dataset_info(conn, order=app.tables)
    if info is None:  # pragma: no cover - every route above leaves a dataset
        raise SnapshotError(f"{job.db.name!r} holds no dataset after preparing it")
    if build_spare and run.cfg.snapshots.spare:
        await _keep_a_spare(job, tables=app.data.relations, tidy=how != "kept")
    return PrepareReport(
        scale=scale.name,
        how=how,
        seconds=time.perf_counter() - started,
        info=info,
        database=job.db.name,
        reason=problem,
        snapshot_id=route.snapshot_id,
        restore_seconds=route.restore_seconds,
        seed_seconds=route.seed_seconds,
        snapshot_seconds=route.snapshot_seconds,
        template_seconds=route.template_seconds,
        steps=job.steps,
    )


async def _route(job: _Job) -> tuple[How, _Route, str | None]:
    """Check the database and take the first route that applies."""
    with timed(job.steps, "check"):
        problem = await _why_not_current(job, today=job.today)
    if problem is None:
        return "kept", await keep(job), None
    job.say(f"not keeping {job.db.name!r}: {problem}")
    key = expected_key(job.run, job.scale)
    async with job.db.admin() as admin:
        tpl = await template.find(admin, job.scale.name, key)
        replaceable = await _replaceable(job, admin)
    store = SnapshotStore.for_run(job.run)
    if not replaceable:
        job.say(
            f"seeding {job.db.name!r} in place: perfkit did not create it, so a clone or a "
            f"restore may not replace it (--confirm-database {job.db.name} allows that)"
        )
        fresh = newest_usable(store, job.run, job.scale) is None
        return "seeded", await seed_and_snapshot(job, store, snapshot=fresh), problem
    if tpl is not None:
        return "template", await from_template(job, tpl), problem
    if (snap := newest_usable(store, job.run, job.scale)) is not None:
        return "file", await from_file(job, snap), problem
    return "seeded", await seed_and_snapshot(job, store), problem


async def _replaceable(job: _Job, admin: Admin) -> bool:
    """Whether the template and file routes may replace the database: it does not exist yet,
    perfkit created it, or ``--confirm-database`` names it. A database the user made is seeded
    in place instead (writing tables into it is what the safety rule allows there)."""
    if job.confirm is not None and job.confirm == job.db.name:
        return True
    return await created_by_perfkit(admin.conn, job.db.name) is not False


async def _why_not_current(job: _Job, *, today: dt.date | None = None) -> str | None:
    """Why the database does not hold the dataset (as of ``today``, when given); None when
    it does."""
    async with job.db.admin() as admin:
        if not await admin.exists(job.db.name):
            return "the database does not exist"
    async with job.db.connect() as conn:
        _, problem = await database_problem(conn, job.run, job.scale, today=today)
    return problem


# --------------------------------------------------------------------------------------------
# the routes


async def keep(job: _Job) -> _Route:
    """The database holds the dataset: keep it, and a template of it when the server has
    none yet."""
    steps: dict[str, float] = {}
    with timed(steps, "template"):
        made = await template_from_target(job.run, job.scale, today=job.today)
    if not made:
        return _Route()
    job.steps.update(steps)
    return _Route(template_seconds=steps["template"])


async def from_template(job: _Job, tpl: template.TemplateInfo) -> _Route:
    """Put the scale's template beside the target (its ready spare, else a clone) and swap it
    in."""
    app = job.run.app
    owner = template.owner_of(job.cfg.state_dir) if job.cfg.snapshots.spare else None

    async def build(admin: Admin, new: Replacement) -> None:
        await stage_from_template(
            job.db,
            admin,
            new,
            tpl,
            app=lambda: app,
            target_day=job.today,
            owner=owner,
            steps=job.steps,
            progress=job.say,
        )

    with timed({}, "restore") as clock:
        await replace_database(job.run, build=build, confirm=job.confirm, steps=job.steps)
    return _Route(snapshot_id=tpl.snapshot_id, restore_seconds=clock.seconds)


async def _keep_a_spare(job: _Job, *, tables: Sequence[str], tidy: bool) -> None:
    """Start a background build of the template's spare, unless a ready one is there;
    ``tidy``: the build first drops what the route left of the target."""
    name = template.template_name(job.scale.name, expected_key(job.run, job.scale))
    owner = template.owner_of(job.cfg.state_dir)
    async with job.db.admin() as admin:
        if await spares.ready(admin, template_name=name, owner=owner) is not None:
            return
    spares.start_build(
        job.db,
        state_dir=job.cfg.state_dir,
        template_name=name,
        owner=owner,
        tables=tables,
        target=job.db.name if tidy else None,
    )


async def from_file(job: _Job, snap: Snapshot) -> _Route:
    """Restore the snapshot's files (verified first) and keep a template of them."""
    restored = await restore_snapshot(
        job.run,
        job.scale,
        snapshot_id=snap.id,
        as_of=job.today,
        keep_template=True,
        confirm=job.confirm,
        build_spare=False,  # prepare starts it, once, at its end
    )
    job.steps.update(restored.steps)
    return _Route(
        snapshot_id=snap.id,
        restore_seconds=restored.seconds,
        template_seconds=restored.steps.get("template"),
    )


async def seed_and_snapshot(job: _Job, store: SnapshotStore, *, snapshot: bool = True) -> _Route:
    """Seed the dataset, snapshot it, prune old snapshots, and keep a template; ``snapshot``
    false: seed only (a usable snapshot of this dataset exists already)."""
    check_dataset_size(job.run, job.scale, anchor=job.today)  # refuses a runaway scale
    job.say(f"seeding scale {job.scale.name}")
    with timed(job.steps, "seed"):
        await ensure_database(job.db.url)
        await seed_dataset(
            job.run,
            job.scale,
            anchor=job.today,
            reset=True,
            confirm=job.confirm,
            progress=RunSeedProgress(job.run),
        )
    if not snapshot:
        return _Route(seed_seconds=job.steps["seed"])
    job.say("writing a snapshot")
    with timed(job.steps, "snapshot"):
        snap = await write_snapshot(job.run, job.scale, store=store)
    await prune(job.run, scale=job.scale.name)
    with timed(job.steps, "template"):
        await template_from_target(
            job.run, job.scale, today=job.today, snapshot_id=snap.id, replace=True
        )
    return _Route(
        snapshot_id=snap.id,
        seed_seconds=job.steps["seed"],
        snapshot_seconds=job.steps["snapshot"],
        template_seconds=job.steps["template"],
    )


# --------------------------------------------------------------------------------------------
# ``perfkit snapshot``: seed first when the database does not hold the dataset


@dataclass(frozen=True)
class SnapshotReport:
    """A new snapshot, how long it took, and whether the data had to be seeded first."""

    snapshot: Snapshot
    seconds: float
    write_seconds: float
    seeded: bool = False
    seed_seconds: float | None = None
    seed_reason: str | None = None
    pruned: PruneReport | None = None


async def create_snapshot(
    run: Run,
    scale: Scale,
    *,
    store: SnapshotStore | None = None,
    confirm: str | None = None,
    prune_after: bool = False,
) -> SnapshotReport:
    """Save the run's database's dataset of ``scale`` as a new snapshot (seeding it first if
    the database does not hold it) and point the scale's ``LATEST`` at it. With
    ``prune_after`` (what ``perfkit snapshot`` does), :func:`~perfkit.snapshot.prune.prune`
    runs right after."""
    job = _Job(run=run, scale=scale, confirm=confirm, steps={})
    store = store or SnapshotStore.for_run(run)
    with timed(job.steps, "total"):
        async with exclusive(job.db, on_wait=job.run.note):  # the snapshot is of settled data
            problem = await _why_not_current(job)
            if problem is not None:
                check_dataset_size(run, scale, anchor=job.today)
                job.say(f"seeding scale {scale.name} first: {problem}")
                with timed(job.steps, "seed"):
                    await ensure_database(job.db.url)
                    await seed_dataset(
                        run,
                        scale,
                        reset=True,
                        confirm=confirm,
                        progress=RunSeedProgress(job.run),
                    )
            with timed(job.steps, "write"):
                snap = await write_snapshot(run, scale, store=store)
        pruned = await prune(run, scale=scale.name) if prune_after else None
    return SnapshotReport(
        snapshot=snap,
        seconds=job.steps["total"],
        write_seconds=job.steps["write"],
        pruned=pruned,
        seeded=problem is not None,
        seed_seconds=job.steps.get("seed"),
        seed_reason=problem,
    )
