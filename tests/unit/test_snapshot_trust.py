"""Crafted snapshots and shared folders, without a database.

Each test plays someone who can write into the snapshot folder but does not hold the
project's key: they edit a manifest and recompute its self-checksum, point file names
outside the folder, put links and FIFOs where files belong, mistype fields, date the anchor
in year 4052, or pack a zstd bomb. And a user whose ``snapshots.directory`` is a shared
folder full of their own files. Nothing of theirs may be read, trusted, hung on or deleted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from perfkit.config import Config, load_config
from perfkit.errors import PerfkitError
from perfkit.run import Run
from perfkit.schema_source import remember_fingerprint
from perfkit.snapshot.errors import CorruptSnapshotError
from perfkit.snapshot.fileformat import file_digest, verify_files
from perfkit.snapshot.listing import list_snapshots, verify_snapshots
from perfkit.snapshot.manifest import Manifest, TableFile
from perfkit.snapshot.prune import plan_files, prune
from perfkit.snapshot.store import BrokenSnapshot, Snapshot, SnapshotStore, new_snapshot_id

NOW = dt.datetime(2026, 2, 9, 10, 15, 30, tzinfo=dt.UTC)
#: The fingerprint these tests' schema is said to have (no server reads a real one here).
SCHEMA_FINGERPRINT = "fedcba9876543210"
ROWS = b"PGCOPY\n\xff\r\n\x00" + b"r" * 200  # what a data file expands to (not real COPY)
WELL_FORMED = Manifest(
    id="20260209-101530-abcd",
    scale="small",
    seed=42,
    mode="realistic",
    generator_version=1,
    anchor_date=dt.date(2026, 2, 9),
    schema_fingerprint="abcdef0123456789",
    dataset_key="0123456789abcdef",
    server_version="16.4",
    perfkit_version="0.1.0",
    created_at=NOW,
    dataset_created_at=NOW,
    tables=(TableFile("offices", "offices.copy.zst", 10, 100, 1000, "0" * 64),),
    shape={"offices": 10},
)


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def cfg(config_file: Path, tmp_path: Path) -> Config:
    """The project's config with a state folder (and so a key) and snapshot folder of its own."""
    state = tmp_path / "state"
    cfg = load_config(
        config_file,
        env={},
        overrides={"state_dir": str(state), "snapshots.directory": str(state / "snapshots")},
    )
    # The schema's fingerprint is read from a build on a server; these tests have none.
    remember_fingerprint(cfg, Run(cfg).app.schema, SCHEMA_FINGERPRINT)
    return cfg


def publish(
    store: SnapshotStore,
    *,
    tables: tuple[str, ...],
    when: dt.datetime = NOW,
    payloads: dict[str, bytes] | None = None,
    **fields: Any,
) -> Snapshot:
    """A snapshot written the way perfkit writes one: a zstd file per table (``payloads``
    replaces some), then the manifest, declaring ``len(ROWS)`` bytes per table."""
    snapshot_id = new_snapshot_id(when)
    with store.building("small", snapshot_id) as builder:
        files = []
        for table in tables:
            path = builder.dir / f"{table}.copy.zst"
            payload = (payloads or {}).get(table)
            path.write_bytes(payload or zstandard.ZstdCompressor().compress(ROWS))
            size, sha = file_digest(path)
            files.append(TableFile(table, path.name, 1, size, len(ROWS), sha))
        manifest = dataclasses.replace(
            WELL_FORMED,
            id=snapshot_id,
            created_at=when,
            dataset_created_at=when,
            tables=tuple(files),
            **fields,
        )
        return builder.publish(manifest)


def app_snapshot(
    cfg: Config, *, when: dt.datetime = NOW, payloads: dict[str, bytes] | None = None
) -> Snapshot:
    """A complete snapshot of the application's tables, fitting its schema."""
    schema = Run(cfg).app.schema
    return publish(
        SnapshotStore(cfg.snapshots.directory),
        tables=schema.all_tables,
        when=when,
        payloads=payloads,
        schema_fingerprint=schema.fingerprint,
    )


def craft(folder: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit ``manifest.json`` as an attacker can: change it, then recompute its self-checksum
    (which is only a hash of the rest, so anyone can)."""
    path = folder / "manifest.json"
    raw = json.loads(path.read_text())
    raw.pop("checksum")
    edit(raw)
    blob = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    raw["checksum"] = hashlib.sha256(blob.encode()).hexdigest()
    path.write_text(json.dumps(raw, indent=2))


def entry_of(store: SnapshotStore, snap: Snapshot) -> Snapshot | BrokenSnapshot:
    (found,) = [e for e in store.entries("small") if e.path.name == snap.path.name]
    return found


def broken_reason(store: SnapshotStore, snap: Snapshot) -> str:
    found = entry_of(store, snap)
    assert isinstance(found, BrokenSnapshot), "a crafted manifest was accepted"
    return found.reason


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


# -- authenticity ------------------------------------------------------------------------------


def test_an_edited_manifest_with_a_recomputed_checksum_is_untrusted(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    snap = publish(store, tables=("offices",))
    assert isinstance(entry_of(store, snap), Snapshot)

    craft(snap.path, lambda raw: raw.update(seed=43))
    assert Manifest.from_json((snap.path / "manifest.json").read_text(), source="x").seed == 43
    found = entry_of(store, snap)
    assert isinstance(found, BrokenSnapshot) and found.untrusted
    assert "signature does not match" in found.reason
    with pytest.raises(CorruptSnapshotError) as info:
        store.get("small", snap.id)
    assert f"perfkit trust --scale small --snapshot {snap.id}" in (info.value.hint or "")
    assert store.snapshots("small") == [] and store.latest("small") is None
    with pytest.raises(CorruptSnapshotError):
        store.latest("small", strict=True)


def test_unsigned_and_foreign_snapshots_are_untrusted_and_the_key_is_private(
    tmp_path: Path,
) -> None:
    from perfkit.snapshot.store import KEY_NAME

    store = SnapshotStore(tmp_path / "snapshots", key_file=tmp_path / "state" / KEY_NAME)
    snap = publish(store, tables=("offices",))
    key = tmp_path / "state" / KEY_NAME
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32

    # made by a perfkit from before signatures: no signature at all
    (snap.path / "manifest.json").write_text(snap.manifest.to_json())
    assert "not signed" in broken_reason(store, snap)

    # copied from another project: signed, with another key
    other = SnapshotStore(tmp_path / "elsewhere", key_file=tmp_path / "other" / KEY_NAME)
    theirs = publish(other, tables=("offices",), when=NOW + dt.timedelta(minutes=1))
    theirs.path.rename(snap.path.parent / theirs.id)
    assert "another project's key" in broken_reason(store, theirs)

    # a key that others can read is refused, not used
    key.chmod(0o644)
    with pytest.raises(PerfkitError) as info:
        SnapshotStore(tmp_path / "snapshots").entries()
    assert info.value.exit_code == 2 and "chmod 600" in (info.value.hint or "")


def test_trust_checks_everything_then_signs(cfg: Config) -> None:
    from perfkit.snapshot.listing import trust_snapshot

    snap = app_snapshot(cfg)
    (snap.path / "manifest.json").write_text(snap.manifest.to_json())  # unsigned: from elsewhere
    (row,) = list_snapshots(Run(cfg))
    assert not row.trusted and row.problem and "untrusted" in row.problem
    assert [v.ok for v in verify_snapshots(Run(cfg))] == [False]

    data = snap.path / "staffs.copy.zst"
    good = data.read_bytes()
    data.write_bytes(good[:-3] + b"abc")  # damaged on the way: never trusted
    with pytest.raises(CorruptSnapshotError, match="SHA-256"):
        trust_snapshot(Run(cfg), scale="small", snapshot_id=snap.id)
    assert not list_snapshots(Run(cfg))[0].trusted

    data.write_bytes(good)
    trusted = trust_snapshot(Run(cfg), scale="small", snapshot_id=snap.id)
    assert trusted.was and "not signed" in trusted.was and trusted.fits_schema
    assert any("trusted snapshot small/" in line for line in trusted.lines())
    (row,) = list_snapshots(Run(cfg))
    assert row.trusted and row.problem is None
    assert [v.ok for v in verify_snapshots(Run(cfg))] == [True]
    assert SnapshotStore(cfg.snapshots.directory).get("small", snap.id).manifest == snap.manifest


def test_trust_adopts_a_folder_of_copied_in_snapshots_only(cfg: Config, tmp_path: Path) -> None:
    from perfkit.snapshot.listing import trust_snapshot

    snap = app_snapshot(cfg)
    # another machine's folder, copied in without its marker (or made before markers)
    copied = tmp_path / "copied"
    shutil.copytree(snap.path.parent, copied / "small")
    mine = msgspec.structs.replace(
        cfg, snapshots=msgspec.structs.replace(cfg.snapshots, directory=copied)
    )
    with pytest.raises(PerfkitError, match="marker"):
        list_snapshots(Run(mine))
    trusted = trust_snapshot(Run(mine), scale="small", snapshot_id=snap.id)
    assert trusted.snapshot.path == copied / "small" / snap.id
    assert (copied / ".perfkit-snapshots").is_file()
    assert [row.trusted for row in list_snapshots(Run(mine))] == [True]

    shared = tmp_path / "shared"
    files = shared_folder(shared)
    shutil.copytree(snap.path, shared / "small" / snap.id)
    theirs = msgspec.structs.replace(
        cfg, snapshots=msgspec.structs.replace(cfg.snapshots, directory=shared)
    )
    with pytest.raises(PerfkitError, match="marker"):
        trust_snapshot(Run(theirs), scale="small", snapshot_id=snap.id)
    assert not (shared / ".perfkit-snapshots").exists()
    assert {p: p.read_bytes() for p in files} == files


def test_trust_refuses_tables_the_schema_does_not_have(cfg: Config) -> None:
    from perfkit.snapshot.listing import trust_snapshot

    store = SnapshotStore(cfg.snapshots.directory)
    snap = publish(store, tables=("offices", "pg_authid"))
    (snap.path / "manifest.json").write_text(snap.manifest.to_json())
    with pytest.raises(CorruptSnapshotError, match="pg_authid"):
        trust_snapshot(Run(cfg), scale="small", snapshot_id=snap.id)
    (row,) = list_snapshots(Run(cfg))
    assert row.problem and "pg_authid" in row.problem


# -- file names, links, FIFOs ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../outside.copy.zst", "ABSOLUTE"])
def test_file_names_outside_the_folder_are_never_read(tmp_path: Path, name: str) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    snap = publish(store, tables=("offices",))
    outside = snap.path.parent / "outside.copy.zst"
    outside.write_bytes(b"someone else's file")
    if name == "ABSOLUTE":
        name = str(outside)
    size, sha = file_digest(outside)

    def point_outside(raw: dict[str, Any]) -> None:
        raw["tables"][0].update(file=name, bytes=size, sha256=sha)
        raw["size"] = size

    craft(snap.path, point_outside)
    assert "plain name" in broken_reason(store, snap)
    # and the reading side refuses such a name whatever a manifest says
    crafted = TableFile("offices", name, 1, size, 1, sha)
    with pytest.raises(CorruptSnapshotError, match="not a plain file name"):
        verify_files(snap.path, [crafted], label="small/x")


def test_a_symbolic_link_as_a_data_file_is_refused(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    snap = publish(store, tables=("offices",))
    data = snap.path / "offices.copy.zst"
    elsewhere = tmp_path / "secret"
    elsewhere.write_bytes(data.read_bytes())  # same bytes, so size and SHA-256 match
    data.unlink()
    data.symlink_to(elsewhere)
    with pytest.raises(CorruptSnapshotError, match="symbolic link"):
        verify_files(snap.path, snap.manifest.tables, label=snap.label)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("where", ["manifest.json", "LATEST", "offices.copy.zst"])
def test_a_fifo_never_hangs_listing_verify_or_prune(tmp_path: Path, where: str) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    snap = publish(store, tables=("offices",))
    path = snap.path / where if where != "LATEST" else snap.path.parent / "LATEST"
    path.unlink()
    os.mkfifo(path)

    entries = store.entries("small")  # would block forever opening a FIFO for reading
    store.latest_id("small")
    doomed, _ = plan_files(store, keep=0)
    if where == "manifest.json":
        assert "not a regular file" in broken_reason(store, snap) and doomed == []
    if where == "offices.copy.zst":
        assert isinstance(entries[0], Snapshot)
        with pytest.raises(CorruptSnapshotError, match="not a regular file"):
            verify_files(snap.path, snap.manifest.tables, label=snap.label)


# -- fields: types and ranges ------------------------------------------------------------------


WRONG: dict[str, Callable[[dict[str, Any]], None]] = {
    "shape": lambda raw: raw.update(shape=["offices"]),
    "seed": lambda raw: raw.update(seed="42"),
    "created_at": lambda raw: raw.update(created_at=20260209),
    "anchor_date": lambda raw: raw.update(anchor_date=None),
    "tables": lambda raw: raw.update(tables={"offices": 1}),
    "rows": lambda raw: raw["tables"][0].update(rows="10"),
    "bytes": lambda raw: raw["tables"][0].update(bytes=-1),
    "raw_bytes": lambda raw: raw["tables"][0].update(raw_bytes=1.5),
    "sha256": lambda raw: raw["tables"][0].update(sha256=None),
    "table": lambda raw: raw["tables"][0].update(table="offices; DROP TABLE staffs"),
    "server_version": lambda raw: raw.update(server_version="16\x1b[2J"),
    "format_version": lambda raw: raw.update(format_version=True),
}


@pytest.mark.parametrize("field", sorted(WRONG))
def test_a_wrongly_typed_field_is_listed_as_broken_never_crashes(cfg: Config, field: str) -> None:
    good = app_snapshot(cfg)
    bad = app_snapshot(cfg, when=NOW + dt.timedelta(minutes=1))
    craft(bad.path, WRONG[field])
    rows = {r.entry.id: r for r in list_snapshots(Run(cfg))}  # the other one is still listed
    assert sorted(rows) == sorted([bad.id, good.id])
    assert isinstance(rows[bad.id].entry, BrokenSnapshot)
    assert isinstance(rows[good.id].entry, Snapshot)
    reason = rows[bad.id].problem or ""
    assert field in reason or "format version" in reason, reason
    verified = {v.label: v.ok for v in verify_snapshots(Run(cfg))}
    assert verified == {bad.label: False, good.label: True}


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
    st.text(max_size=12), st.sampled_from(["2026-02-09", "4052-01-01", "../x.copy.zst", "-1"]),
)  # fmt: skip
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
_TOP = sorted(json.loads(Manifest.to_json(WELL_FORMED)))
_TABLE = ["table", "file", "rows", "bytes", "raw_bytes", "sha256"]


@settings(max_examples=400, deadline=None)
@given(field=st.sampled_from(_TOP + [f"tables.{f}" for f in _TABLE]), value=_VALUES)
def test_any_value_in_any_field_is_a_reason_never_a_crash(field: str, value: Any) -> None:
    raw = json.loads(WELL_FORMED.to_json())
    raw.pop("checksum")
    if field.startswith("tables."):
        raw["tables"][0][field.split(".")[1]] = value
    else:
        raw[field] = value
    blob = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    raw["checksum"] = hashlib.sha256(blob.encode()).hexdigest()
    try:
        m = Manifest.from_json(json.dumps(raw), source="small/x")
    except CorruptSnapshotError as exc:
        assert exc.reason.startswith(("manifest.json", "format version"))
        return
    # whatever passed is what the rest of perfkit may rely on
    low, high = dt.date(1900, 1, 1), dt.date(2200, 12, 31)
    assert low <= m.anchor_date <= high and low <= m.created_at.date() <= high
    assert type(m.seed) is int and type(m.generator_version) is int
    assert all(type(v) is int and v >= 0 for v in m.shape.values())
    for t in m.tables:
        assert t.file == f"{t.table}.copy.zst" and "/" not in t.file
        assert all(type(n) is int and n >= 0 for n in (t.rows, t.bytes, t.raw_bytes))
    assert m.size >= 0 and m.raw_size >= 0 and sum(m.row_counts.values()) >= 0


@pytest.mark.parametrize("field", ["anchor_date", "created_at"])
def test_dates_outside_a_sane_window_are_refused(tmp_path: Path, field: str) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    snap = publish(store, tables=("offices",))
    value = "4052-01-15" if field == "anchor_date" else "4052-01-15T00:00:00+00:00"
    craft(snap.path, lambda raw: raw.update({field: value}))
    assert "4052" in broken_reason(store, snap)


def test_deeply_nested_or_huge_json_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    snap = publish(store, tables=("offices",))
    (snap.path / "manifest.json").write_text("[" * 200_000)
    assert "not valid JSON" in broken_reason(store, snap)
    (snap.path / "manifest.json").write_text('{"seed": ' + "9" * 5000 + "}")
    assert "not valid JSON" in broken_reason(store, snap)


# -- decompression ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A few kilobytes of zstd that expand to 256 MiB of zeros."""
    out = zstandard.ZstdCompressor(level=3).compress(bytes(256 << 20))
    assert len(out) < 64 << 10
    return out


def test_a_zstd_bomb_stops_at_the_declared_size(cfg: Config, bomb: bytes) -> None:
    # signed, sizes and SHA-256 right: only what the file expands to is wrong
    app_snapshot(cfg, payloads={"staffs": bomb})
    tracemalloc.start()
    try:
        (result,) = verify_snapshots(Run(cfg))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not result.ok and "expands to more than" in (result.problem or "")
    assert peak < 16 << 20, f"{peak} bytes held in memory"


# -- the folder: marker, shared folders, links ------------------------------------------------


def shared_folder(root: Path) -> dict[Path, bytes]:
    """A folder of someone's own files, some named like perfkit's snapshots and leftovers."""
    files = {
        root / "photos" / "20240101-120000-abcd" / "holiday.jpg": b"jpeg",
        root / "photos" / "20240102-090000-beef" / "manifest.json": b"{}",
        root / "photos" / "LATEST": b"20240101-120000-abcd\n",
        root / "photos" / f".tmp-20240103-000000-cafe-{dead_pid()}" / "draft.txt": b"draft",
        root / "2024" / "20240201-000000-0000" / "notes.txt": b"notes",
        root / "readme.txt": b"mine",
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


async def test_prune_refuses_a_shared_folder_and_deletes_nothing(
    cfg: Config, tmp_path: Path
) -> None:
    root = tmp_path / "shared"
    files = shared_folder(root)
    shared = msgspec.structs.replace(
        cfg, snapshots=msgspec.structs.replace(cfg.snapshots, directory=root)
    )
    with pytest.raises(PerfkitError) as info:
        await prune(Run(shared), server=False, keep=1)
    assert info.value.exit_code in (2, 4) and "marker" in info.value.message
    assert ".perfkit/snapshots" in (info.value.hint or "")
    assert str(root) == getattr(info.value, "directory", None)
    with pytest.raises(PerfkitError):
        plan_files(SnapshotStore(root), keep=0)
    with pytest.raises(PerfkitError):  # nor is the folder adopted by writing into it
        publish(SnapshotStore(root), tables=("offices",))
    with pytest.raises(PerfkitError):
        list_snapshots(Run(shared))
    assert {p: p.read_bytes() for p in files} == files
    assert not (root / ".perfkit-snapshots").exists()
    assert sorted(p.name for p in root.iterdir()) == ["2024", "photos", "readme.txt"]


def test_a_new_or_empty_folder_is_claimed_with_the_marker(tmp_path: Path) -> None:
    for root in (tmp_path / "new" / "snapshots", tmp_path / "empty"):
        root.parent.mkdir(exist_ok=True)
        if root.name == "empty":
            root.mkdir()
        store = SnapshotStore(root)
        assert store.entries() == []
        with pytest.raises(RuntimeError), store.building("small", new_snapshot_id(NOW)):
            raise RuntimeError("disk full")  # a failed first write leaves the folder as found
        assert not root.exists() or list(root.iterdir()) == []
        publish(store, tables=("offices",))
        assert (root / ".perfkit-snapshots").is_file()
        assert len(store.snapshots("small")) == 1


async def test_inside_perfkits_folder_only_proven_folders_are_deleted(
    cfg: Config, tmp_path: Path
) -> None:
    made = [app_snapshot(cfg, when=NOW + dt.timedelta(minutes=i)) for i in range(3)]
    scale_dir = made[0].path.parent
    # a user's folder that looks like a snapshot, one with a crafted manifest, a leftover name
    # holding a user's file, and a link to a folder elsewhere named like a snapshot
    user = scale_dir / "20200101-000000-aaaa"
    user.mkdir()
    (user / "keep.txt").write_text("mine")
    crafted = made[0]
    craft(crafted.path, lambda raw: raw.update(seed=7))
    not_ours = scale_dir / f".tmp-20200101-000000-bbbb-{dead_pid()}"
    not_ours.mkdir()
    (not_ours / "keep.txt").write_text("mine")
    ours = scale_dir / f".tmp-20200101-000000-cccc-{dead_pid()}"
    ours.mkdir()
    (ours / "offices.copy.zst").write_bytes(b"half written")
    target = tmp_path / "elsewhere" / "20200101-000000-dddd"
    target.mkdir(parents=True)
    (target / "keep.txt").write_text("mine")
    link = scale_dir / target.name
    link.symlink_to(target, target_is_directory=True)

    report = await prune(Run(cfg), server=False, keep=1)
    assert [e.id for e in report.snapshots] == [made[1].id]
    assert [lo.path for lo in report.leftovers] == [ours]
    assert sorted(e.id for e in report.untouched) == sorted([user.name, crafted.id, link.name])
    assert link.is_symlink() and (target / "keep.txt").read_text() == "mine"
    assert (user / "keep.txt").exists() and (not_ours / "keep.txt").exists()
    assert crafted.path.is_dir() and not made[1].path.exists() and made[2].path.is_dir()
    assert not ours.exists()


async def test_prune_never_reports_removing_a_symlinked_folder(cfg: Config, tmp_path: Path) -> None:
    snap = app_snapshot(cfg)
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    link = snap.path.parent / "20200101-000000-eeee"
    link.symlink_to(target, target_is_directory=True)
    dry = await prune(Run(cfg), server=False, keep=1, dry_run=True)
    done = await prune(Run(cfg), server=False, keep=1)
    for report in (dry, done):
        assert link.name not in [e.id for e in report.snapshots]
    assert link.is_symlink() and (target / "keep.txt").exists()
    assert SnapshotStore(cfg.snapshots.directory).remove(link) is False
    assert link.is_symlink()
