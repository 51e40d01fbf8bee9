"""Snapshot files without a database: manifest checks, atomic writes, pointers, pruning plans."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from perfkit.apps.welfare import application
from perfkit.config import Scale, load_config
from perfkit.database import HELPER_KINDS, helper_name, helper_owner, helper_prefix
from perfkit.datagen import planned_dataset
from perfkit.run import Run
from perfkit.schema_source import remember_fingerprint
from perfkit.snapshot.dataset import expected_key
from perfkit.snapshot.dates import BadDateError, shifted_columns, shifted_select, target_date
from perfkit.snapshot.errors import CorruptSnapshotError, SnapshotNotFoundError
from perfkit.snapshot.fileformat import file_digest, verify_files
from perfkit.snapshot.manifest import Manifest, TableFile
from perfkit.snapshot.prune import plan_files
from perfkit.snapshot.store import BrokenSnapshot, Snapshot, SnapshotStore, new_snapshot_id
from perfkit.snapshot.template import TemplateInfo, template_name

ANCHOR = dt.date(2026, 2, 9)

NOW = dt.datetime(2026, 2, 9, 10, 15, 30, tzinfo=dt.UTC)


def manifest_for(
    snapshot_id: str, *, scale: str = "small", files: tuple[TableFile, ...] = ()
) -> Manifest:
    return Manifest(
        id=snapshot_id,
        scale=scale,
        seed=42,
        mode="realistic",
        generator_version=1,
        anchor_date=dt.date(2026, 2, 9),
        schema_fingerprint="abcdef0123456789",
        dataset_key="k" * 16,
        server_version="15.18",
        perfkit_version="0.1.0",
        created_at=NOW,
        dataset_created_at=NOW,
        tables=files,
        shape={"offices": 10},
    )


def publish(store: SnapshotStore, *, when: dt.datetime, payload: bytes = b"rows") -> Snapshot:
    snapshot_id = new_snapshot_id(when)
    with store.building("small", snapshot_id) as builder:
        (builder.dir / "offices.copy.zst").write_bytes(payload)
        size, sha = file_digest(builder.dir / "offices.copy.zst")
        entry = TableFile("offices", "offices.copy.zst", 10, size, 100, sha)
        manifest = dataclasses.replace(manifest_for(snapshot_id, files=(entry,)), created_at=when)
        return builder.publish(manifest)


def test_manifest_round_trips_and_notices_any_edit() -> None:
    m = manifest_for("20260209-101530-abcd")
    again = Manifest.from_json(m.to_json(), source="x")
    assert again == m
    raw = json.loads(m.to_json())
    raw["row_counts"] = {"offices": 11}
    with pytest.raises(CorruptSnapshotError) as info:
        Manifest.from_json(json.dumps(raw), source="small/x")
    assert "checksum" in info.value.reason
    with pytest.raises(CorruptSnapshotError):
        Manifest.from_json(m.to_json()[:-20], source="small/x")


def test_a_failed_write_leaves_nothing_and_publish_moves_latest(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    with pytest.raises(RuntimeError), store.building("small", new_snapshot_id(NOW)):
        raise RuntimeError("crash mid-way")
    assert store.entries("small") == [] and list(tmp_path.iterdir()) == []  # marker too

    first = publish(store, when=NOW)
    second = publish(store, when=NOW + dt.timedelta(hours=1))
    assert store.latest_id("small") == second.id
    assert [s.id for s in store.snapshots("small")] == [second.id, first.id]
    assert store.get("small", first.id).manifest == first.manifest
    with pytest.raises(SnapshotNotFoundError):
        store.get("small", "20990101-000000-0000")


def test_leftovers_of_dead_writers_are_found(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    publish(store, when=NOW)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = tmp_path / "small" / f".tmp-20260101-000000-aaaa-{dead.stdout.strip()}"
    stale.mkdir()
    live = tmp_path / "small" / f".tmp-20260101-000000-bbbb-{os.getpid()}"
    live.mkdir()
    assert [lo.path for lo in store.leftovers()] == [stale]


def test_prune_plan_keeps_newest_and_latest_and_leaves_unreadable(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    made = [publish(store, when=NOW + dt.timedelta(minutes=i)) for i in range(5)]
    store.set_latest("small", made[0].id)  # an explicit pointer to an old one is honoured
    broken = tmp_path / "small" / "20260301-000000-dead"
    broken.mkdir()
    doomed, kept = plan_files(store, keep=2)
    # an unreadable folder is not provably perfkit's: it stays (tests/unit/test_snapshot_trust)
    assert {e.path.name for e in doomed} == {made[1].id, made[2].id}
    assert kept == {"small": 3}
    assert not any(isinstance(e, BrokenSnapshot) for e in doomed)
    for entry in doomed:
        store.remove(entry.path)
    assert [s.id for s in store.snapshots("small")] == [made[4].id, made[3].id, made[0].id]
    assert broken.is_dir()


def test_file_checks_catch_truncation_and_bit_flips(tmp_path: Path) -> None:
    data = tmp_path / "t.copy.zst"
    data.write_bytes(bytes(range(256)) * 64)
    size, sha = file_digest(data)
    entry = TableFile("t", data.name, 1, size, size, sha)
    verify_files(tmp_path, [entry], label="small/x")
    raw = bytearray(data.read_bytes())
    raw[1000] ^= 0x01
    data.write_bytes(bytes(raw))
    with pytest.raises(CorruptSnapshotError, match="SHA-256"):
        verify_files(tmp_path, [entry], label="small/x")
    data.write_bytes(bytes(raw[:-10]))
    with pytest.raises(CorruptSnapshotError, match="truncated"):
        verify_files(tmp_path, [entry], label="small/x")
    data.unlink()
    with pytest.raises(CorruptSnapshotError, match="missing"):
        verify_files(tmp_path, [entry], label="small/x")


def test_dataset_key_follows_what_shapes_the_data(config_file: Path, tmp_path: Path) -> None:
    cfg = load_config(config_file, env={}, overrides={"state_dir": str(tmp_path)})
    small = cfg.scale("small")
    # The schema's fingerprint is read from a build on a server; this test has none.
    remember_fingerprint(cfg, application().schema, "0123456789abcdef")

    def key(scale: Scale = small, **changes: object) -> str:
        data = msgspec.structs.replace(cfg.data, **changes)
        return expected_key(Run(msgspec.structs.replace(cfg, data=data)), scale)

    assert key() == key()
    assert key(seed=7) != key()
    assert key(mode="plan") != key()
    assert key(msgspec.structs.replace(small, offices=11)) != key()
    longer = msgspec.structs.replace(small, timeout=9999)  # budgets and timeouts do not matter
    assert key(longer) == key()
    app = Run(cfg).app
    info = planned_dataset(app, small, cfg.data, seed=42, mode="plan", anchor=ANCHOR)
    assert dataclasses.replace(info, generator_version=2).key() != info.key()
    assert dataclasses.replace(info, schema_fingerprint="f").key() != info.key()
    assert dataclasses.replace(info, anchor_date=dt.date(2030, 1, 1)).key() == info.key()


def test_dates_and_names() -> None:
    assert target_date("2026-03-01") == dt.date(2026, 3, 1)
    assert target_date(None) == dt.date.today()
    with pytest.raises(BadDateError) as info:
        target_date("yesterday")
    assert info.value.exit_code == 2
    shifted = shifted_columns(application())
    sql = shifted_select(
        "support_plan_cycles", ["id", "end_date"], source="s", days=30, shifted=shifted
    )
    assert sql == 'SELECT "id", "end_date" + make_interval(days => 30) AS "end_date" FROM s'

    long = "x" * 70
    for kind in HELPER_KINDS:
        name = helper_name(long, kind)
        assert len(name.encode()) <= 63 and name.startswith(helper_prefix(long))
        # what a killed run leaves is recognised as the target's, whatever the kind
        assert helper_owner(name) == helper_prefix(long).removesuffix("__pk")
        assert helper_owner(helper_name("perfkit_test", kind)) == "perfkit_test"
    assert helper_name("perfkit_test", "new").startswith("perfkit_test__pknew_")
    assert helper_owner("perfkit_test__pksch_notours") is None  # not the exact shape

    name = template_name("medium", "0123456789abcdef")
    assert name == "perfkit_tpl_medium_0123456789ab"
    info_ = TemplateInfo(name, "medium", "0123456789abcdef", "f" * 16, None, dt.date(2026, 2, 9))
    assert TemplateInfo.parse(name, info_.comment()) == info_
    assert TemplateInfo.parse(name, "created by perfkit: test database") is None
