"""``perfkit snapshots``, ``perfkit verify`` and ``perfkit trust``: what the snapshot directory
holds, whether it is sound, and taking in a snapshot made elsewhere.

Listing and verifying never build the application's schema: they never run its SQL file or
migrations (the application's own code), nor build its models. They compare snapshots with the
schema as its last build left it in the state folder
(:attr:`perfkit.run.Run.on_record`); before any build, whether a snapshot fits is unknown, and
said so. Verifying never imports the application's recipe (nor anything of it, for a SQL file
or migrations). ``perfkit trust`` vouches that a snapshot's tables are the application's, so it
loads the application, building its schema when no command has yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perfkit.config import Config
from perfkit.snapshot.dataset import manifest_problem
from perfkit.snapshot.errors import CorruptSnapshotError, SnapshotError
from perfkit.snapshot.fileformat import check_stream, verify_files
from perfkit.snapshot.manifest import Manifest
from perfkit.snapshot.replay import read_schema_file
from perfkit.snapshot.restore import check_snapshot
from perfkit.snapshot.store import (
    KEY_NAME,
    BrokenSnapshot,
    Entry,
    Snapshot,
    SnapshotStore,
    load_manifest,
)

if TYPE_CHECKING:
    from perfkit.loading import OnRecord
    from perfkit.run import Run

#: What listing and verifying say of a schema no command has built yet.
NOT_BUILT = "unknown (not built yet)"


def store_on_record(cfg: Config, record: OnRecord) -> SnapshotStore:
    """The configured snapshot directory and key, checking manifests' table names against
    the schema as last built (none when it never was): what commands that never build use
    instead of :meth:`SnapshotStore.for_config`."""
    return SnapshotStore(
        cfg.snapshots.directory,
        key_file=cfg.state_dir / KEY_NAME,
        tables=None if record.schema is None else record.schema.all_tables,
    )


@dataclass(frozen=True)
class Listed:
    """One row of ``perfkit snapshots``."""

    entry: Entry
    latest: bool
    #: Whether it was made for the current schema (None: unknown, no command built the
    #: schema yet: :data:`NOT_BUILT`).
    fits_schema: bool | None
    #: Why it is not the dataset scales.yaml asks for now (None: it is).
    config_problem: str | None

    @property
    def problem(self) -> str | None:
        if isinstance(self.entry, BrokenSnapshot):
            return self.entry.reason
        return None

    @property
    def trusted(self) -> bool:
        """Proven written (or explicitly trusted) by this project: its signature holds."""
        return isinstance(self.entry, Snapshot)


def list_snapshots(run: Run, *, scale: str | None = None) -> list[Listed]:
    """Every snapshot (newest first per scale), with whether it fits the schema as last built.

    A damaged, crafted or untrusted one is listed as broken with its reason, never raised.
    Nothing is built (see the module docstring)."""
    cfg = run.cfg
    record = run.on_record
    store = store_on_record(cfg, record)
    entries = store.entries(scale)
    fingerprint = None if record.schema is None else record.schema.fingerprint
    out: list[Listed] = []
    for entry in entries:
        if isinstance(entry, BrokenSnapshot):
            out.append(Listed(entry, latest=False, fits_schema=False, config_problem=None))
            continue
        known = cfg.scales.get(entry.scale)
        problem = None
        if known is None:
            problem = "scales.yaml has no such scale"
        else:
            problem = manifest_problem(entry.manifest, run, known, record=record)
        out.append(
            Listed(
                entry,
                latest=store.latest_id(entry.scale) == entry.id,
                fits_schema=None
                if fingerprint is None
                else entry.manifest.schema_fingerprint == fingerprint,
                config_problem=problem,
            )
        )
    order = {name: i for i, name in enumerate(cfg.scale_names)}
    out.sort(
        key=lambda row: (
            order.get(row.entry.scale, len(order)),
            row.entry.scale,
            -row.entry.created_at.timestamp(),
        )
    )
    return out


@dataclass(frozen=True)
class Verified:
    """One snapshot checked by ``perfkit verify``."""

    label: str
    ok: bool
    problem: str | None
    #: What could not be checked (the schema fit, before any build), for the terminal.
    note: str | None = None


def verify_snapshots(
    run: Run, *, scale: str | None = None, snapshot_id: str | None = None
) -> list[Verified]:
    """Check signatures, manifests, schema fingerprints (against the schema as last built;
    never building it), every file's size and SHA-256, and that every file expands to exactly
    the size its manifest declares (streamed, bounded)."""
    record = run.on_record
    store = store_on_record(run.cfg, record)
    entries: list[Entry] = (
        [store.entry(scale, snapshot_id)] if scale and snapshot_id else store.entries(scale)
    )
    known = record.schema
    note = None if known is not None else f"schema fit {NOT_BUILT}"
    out = []
    for entry in entries:
        if snapshot_id and entry.id != snapshot_id:
            continue
        if isinstance(entry, BrokenSnapshot):
            out.append(Verified(entry.label, ok=False, problem=entry.reason))
            continue
        try:
            check_snapshot(
                entry,
                fingerprint=None if known is None else known.fingerprint,
                tables=None if known is None else known.all_tables,
            )
            for table in entry.manifest.tables:
                check_stream(entry.path, table, label=entry.label)
        except SnapshotError as exc:
            out.append(Verified(entry.label, ok=False, problem=exc.message))
        else:
            out.append(Verified(entry.label, ok=True, problem=None, note=note))
    return out


@dataclass(frozen=True)
class Trusted:
    """What ``perfkit trust`` checked and signed."""

    snapshot: Snapshot
    #: Why it was not trusted before (None: it already was; it was signed again anyway).
    was: str | None
    fits_schema: bool

    def lines(self) -> list[str]:
        """What was trusted, for the terminal (a few plain lines)."""
        m = self.snapshot.manifest
        rows = sum(m.row_counts.values())
        return [
            f"trusted snapshot {self.snapshot.label}"
            + (f" (before: {self.was})" if self.was else " (it was already trusted)"),
            f"  made {m.created_at:%Y-%m-%d %H:%M} UTC by perfkit {m.perfkit_version} on "
            f"PostgreSQL {m.server_version}; anchor date {m.anchor_date}; seed {m.seed}, "
            f"mode {m.mode}",
            f"  {len(m.tables)} tables, {rows:,} rows, {m.size:,} bytes on disk, "
            f"{m.raw_size:,} bytes of COPY data; every file's SHA-256 and size checked",
            "  schema: " + ("fits the application's" if self.fits_schema else "another (stale)"),
        ]


def trust_snapshot(run: Run, *, scale: str, snapshot_id: str) -> Trusted:
    """Take in a snapshot made elsewhere (or before snapshots were signed): check every field
    of its manifest, its tables against the application's schema, every file's size and
    SHA-256 and what it expands to, then sign the manifest with this project's key.

    Raises :class:`~perfkit.snapshot.errors.CorruptSnapshotError` (nothing is signed) when any
    check fails; a damaged snapshot cannot be trusted, only replaced. A snapshot folder without
    perfkit's marker is adopted here when it holds nothing but snapshots (copied in by hand,
    or made before the marker existed); any other is refused as everywhere.
    """
    say = run.say
    store = SnapshotStore.for_run(run)
    app = run.app
    store.claim(adopt=True)  # a folder of copied-in snapshots only: the user vouches for it
    entry = store.entry(scale, snapshot_id)
    label = entry.label
    if isinstance(entry, BrokenSnapshot) and not entry.untrusted:
        raise CorruptSnapshotError(label, reason=entry.reason, scale=scale)
    say(f"checking {label}")
    parsed = load_manifest(entry.path, source=label)
    manifest: Manifest = parsed.manifest
    if manifest.id != snapshot_id or manifest.scale != scale:
        raise CorruptSnapshotError(label, reason="manifest.json names another snapshot")
    expected = set(app.all_tables)
    named = [t.table for t in manifest.tables]
    if set(named) != expected or len(named) != len(expected):
        raise CorruptSnapshotError(
            label,
            reason="its tables are not the application's: "
            f"{', '.join(sorted(set(named) ^ expected)[:5])}",
            scale=scale,
        )
    verify_files(entry.path, manifest.tables, label=label)
    if manifest.schema_file is not None:  # inferred data: the schema it replays
        read_schema_file(Snapshot(entry.path, manifest))
    for table in manifest.tables:
        say(f"checking {table.file}")
        check_stream(entry.path, table, label=label)
    was = parsed.trust_problem(store.key())
    snap = store.write_manifest(entry.path, manifest)
    return Trusted(
        snapshot=snap, was=was, fits_schema=manifest.schema_fingerprint == app.data.fingerprint
    )


def age(when: dt.datetime, *, now: dt.datetime | None = None) -> str:
    """``3d 4h``, ``2h 5m``, ``40s``: how long ago."""
    seconds = int(((now or dt.datetime.now(dt.UTC)) - when).total_seconds())
    seconds = max(seconds, 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"
