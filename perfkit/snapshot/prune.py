"""Housekeeping: keep the newest N snapshots per scale, and drop what nothing can use.

``perfkit prune`` (and every ``perfkit snapshot``, right after writing) removes:

* snapshots beyond the newest ``snapshots.keep`` of each scale (the one ``LATEST`` names is
  always kept);
* ``.tmp-*``/``.del-*`` folders left by a process that died while writing or deleting;
* on the server: this project's perfkit templates that are stale (made for another schema,
  another generator version or other data settings, or for a scale scales.yaml no longer
  has); another project's templates (their comment names another owner) are not looked at,
  and templates of an older perfkit that name no owner are never dropped (listed in
  ``unowned``, for the user to judge); and
  helper databases (``<name>__pknew_*``/``__pkold_*``) left by a killed restore, the spare
  (``<name>__pkspare``, the previous database kept empty for the next restore) of a database
  that no longer exists, templates' ready spares (``<template>__pkrdy_*``,
  :mod:`perfkit.snapshot.spares`) that were never finished, whose template is gone or dropped
  here, or, this project's, that no longer copy their template (all of this project's when
  ``snapshots.spare`` is off), and
  ``perfkit_clone_*`` databases of a test run that was killed before dropping them; then the
  build roles of schema builds that were killed (:mod:`perfkit.schema_sandbox`).

Pruning never builds the application's schema (it never runs a SQL file or migrations): a
template is stale when its dataset key is not the one the schema as last built gives
(:attr:`perfkit.run.Run.on_record`); before any build only templates of scales
scales.yaml no longer has are.

Files: perfkit deletes only what it can prove it wrote. The snapshot folder must carry
perfkit's marker (a non-empty folder without it is refused, nothing is deleted); a snapshot
is removed only when its manifest's signature holds with this project's key; a leftover
only when it holds nothing but snapshot files. Damaged, untrusted and linked folders are
left alone (``untouched`` in the report) for the user to look at; symbolic links are never
followed, removed or reported as removed.

Only databases carrying perfkit's mark are dropped (a template's comment, or the "created by
perfkit" comment of helper databases), each under its owner's lock so a running restore's
helpers are never touched (a ready spare under its own lock, which its build and the restore
that takes it hold). ``dry_run`` reports the same lists and removes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from perfkit.database import Admin, Database, lock_owner
from perfkit.errors import PerfkitError
from perfkit.locks import LockTimeout, exclusive
from perfkit.schema_sandbox import drop_leftover_roles, leftover_roles
from perfkit.snapshot import spares, template
from perfkit.snapshot.dataset import key_on_record
from perfkit.snapshot.listing import store_on_record
from perfkit.snapshot.store import BrokenSnapshot, Entry, Leftover, SnapshotStore

if TYPE_CHECKING:
    from perfkit.loading import OnRecord
    from perfkit.run import Run


@dataclass(frozen=True)
class PruneReport:
    """What was removed (or, with ``dry_run``, what would be)."""

    dry_run: bool
    snapshots: list[Entry] = field(default_factory=list)
    leftovers: list[Leftover] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    #: Build roles of killed schema builds.
    roles: list[str] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)
    server_note: str | None = None
    #: Snapshot folders perfkit cannot prove it wrote (damaged, untrusted, links): kept.
    untouched: list[Entry] = field(default_factory=list)
    #: Templates that name no owner (made by an older perfkit): maybe another project's, kept.
    unowned: list[str] = field(default_factory=list)

    @property
    def nothing(self) -> bool:
        return not (
            self.snapshots or self.leftovers or self.templates or self.databases or self.roles
        )


def plan_files(
    store: SnapshotStore, *, keep: int, scale: str | None = None
) -> tuple[list[Entry], dict[str, int]]:
    """(snapshot folders to remove, how many are kept per scale); changes nothing.

    Only signed snapshots (:class:`~perfkit.snapshot.store.Snapshot`) are ever planned for
    removal; a broken or untrusted folder is not provably perfkit's, so it stays."""
    doomed: list[Entry] = []
    kept: dict[str, int] = {}
    for name in [scale] if scale else store.scales():
        latest = store.latest_id(name)
        readable = [e for e in store.entries(name) if not isinstance(e, BrokenSnapshot)]
        keepers = {e.id for e in readable[:keep]} | ({latest} if latest else set())
        doomed += [e for e in readable if e.id not in keepers]
        kept[name] = sum(1 for e in readable if e.id in keepers)
    return doomed, kept


async def prune(
    run: Run,
    *,
    server: bool = True,
    scale: str | None = None,
    keep: int | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Apply the policy above; ``server``: the templates and leftovers on the run's server are
    checked too (False: files only). An unreachable server is noted in the report, not an
    error."""
    cfg = run.cfg
    record = run.on_record
    store = store_on_record(cfg, record)
    doomed, kept = plan_files(store, keep=keep or cfg.snapshots.keep, scale=scale)
    leftovers = store.leftovers(scale)
    untouched: list[Entry] = [e for e in store.entries(scale) if isinstance(e, BrokenSnapshot)]
    templates: list[str] = []
    unowned: list[str] = []
    databases: list[str] = []
    roles: list[str] = []
    note: str | None = None
    if server:
        db = run.db
        try:
            async with db.admin(timeout=5.0) as admin:
                templates, unowned = await _stale_templates(admin, run, scale, record)
                databases = await admin.leftovers()
                for name in templates:  # a template goes with its spares
                    databases += await admin.ready_spares(name)
                databases += await spares.stale(
                    admin, owner=template.owner_of(cfg.state_dir), keep=cfg.snapshots.spare
                )
                databases = sorted(set(databases))
                if not dry_run:
                    databases = await _drop_locked(db, admin, databases)
                    templates = await _drop_locked(db, admin, templates)
                roles = await (leftover_roles if dry_run else drop_leftover_roles)(admin)
        except PerfkitError as exc:
            note = f"templates not checked: {exc.message}"
        if note is None and record.schema is None:
            note = "templates of scales.yaml's scales kept: the schema was not built yet"
    if not dry_run:  # report only what is really gone
        doomed = [entry for entry in doomed if store.remove(entry.path)]
        leftovers = [leftover for leftover in leftovers if store.remove(leftover.path)]
    return PruneReport(
        dry_run=dry_run,
        snapshots=doomed,
        leftovers=leftovers,
        templates=templates,
        databases=databases,
        roles=roles,
        kept=kept,
        server_note=note,
        untouched=untouched,
        unowned=unowned,
    )


async def _stale_templates(
    admin: Admin, run: Run, scale: str | None, record: OnRecord
) -> tuple[list[str], list[str]]:
    """(this project's stale templates, templates that name no owner); another project's
    templates are neither. Judged against the schema as last built (``record``)."""
    cfg = run.cfg
    own = template.owner_of(cfg.state_dir)
    stale: list[str] = []
    unowned: list[str] = []
    for info in await template.list_templates(admin):
        if scale and info.scale != scale:
            continue
        if info.owner is None:
            unowned.append(info.name)
            continue
        if info.owner != own:
            continue
        known = cfg.scales.get(info.scale)
        if (
            known is None
            or info.name != template.template_name(info.scale, info.dataset_key)
            or info.dataset_key != (key_on_record(run, known, record) or info.dataset_key)
        ):
            stale.append(info.name)
    return stale, unowned


async def _drop_locked(db: Database, admin: Admin, names: list[str]) -> list[str]:
    """Drop each database under the lock that guards it (:func:`perfkit.database.lock_owner`);
    skip those whose lock is busy."""
    dropped = []
    for name in names:
        owner = lock_owner(name)
        try:
            async with exclusive(db.other(owner), wait_s=0.0):
                await admin.drop(name)
        except LockTimeout:
            continue
        dropped.append(name)
    return dropped
