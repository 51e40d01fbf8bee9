"""Crafted snapshots against a real server, and the trust step as a user meets it.

A restore must refuse a manifest someone edited (its self-checksum recomputed), must stop a
zstd bomb at the size its manifest declares without holding the expansion in memory, and a
snapshot from elsewhere is used only after ``perfkit trust``. ``perfkit prune`` on a shared
folder refuses and deletes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import zstandard

from perfkit.config import Config, Scale
from perfkit.datagen import seed_database
from perfkit.db import connection
from perfkit.run import Run
from perfkit.schema import quote_ident
from perfkit.snapshot.create import write_snapshot
from perfkit.snapshot.errors import CorruptSnapshotError
from perfkit.snapshot.fileformat import file_digest
from perfkit.snapshot.manifest import Manifest
from perfkit.snapshot.restore import restore_snapshot
from perfkit.snapshot.store import Snapshot, SnapshotStore, new_snapshot_id
from perfkit.testing import PrivateServer, one_error_line, run_perfkit
from perfkit.urls import with_database

pytestmark = pytest.mark.integration

SOURCE = "perfkit_trustsrc_test"
TARGET = "perfkit_trusttarget_test"


async def recreate(server_url: str, name: str) -> str:
    async with connection(with_database(server_url, "postgres")) as admin:
        await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {quote_ident(name)}")
    return with_database(server_url, name)


async def fingerprint(url: str) -> str:
    """What the target holds: its dataset row and every table's row count."""
    async with connection(url) as conn:
        row = await conn.fetchrow("SELECT scale, anchor_date, row_counts FROM perfkit_dataset")
        cycles = await conn.fetchval("SELECT count(*) FROM support_plan_cycles")
    return f"{dict(row or {})}|{cycles}"


async def helper_databases(server_url: str) -> list[str]:
    async with connection(with_database(server_url, "postgres")) as admin:
        rows = await admin.fetch(
            "SELECT datname FROM pg_database WHERE strpos(datname, '__pk') > 0 "
            "AND datname NOT LIKE '%\\_\\_pkspare' AND datname NOT LIKE '%\\_\\_pkrdy\\_%'"
        )
    return [str(r["datname"]) for r in rows]


def craft(folder: Path, **changes: object) -> None:
    """Edit ``manifest.json`` as anyone can: change fields, recompute the self-checksum."""
    path = folder / "manifest.json"
    raw = json.loads(path.read_text())
    raw.pop("checksum")
    raw.update(changes)
    blob = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    raw["checksum"] = hashlib.sha256(blob.encode()).hexdigest()
    path.write_text(json.dumps(raw, indent=2))


def with_store(cfg: Config, directory: Path) -> Config:
    return msgspec.structs.replace(
        cfg, snapshots=msgspec.structs.replace(cfg.snapshots, directory=directory)
    )


@pytest.fixture(scope="module")
def small(pg_config: Config) -> Scale:
    return pg_config.scale("small")


@pytest.fixture(scope="module")
def cfg(pg_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    return with_store(pg_config, tmp_path_factory.mktemp("trust") / "snapshots")


@pytest.fixture(scope="module")
async def snap(pg: PrivateServer, cfg: Config, small: Scale) -> Snapshot:
    """A genuine snapshot of scale small, written by perfkit (and so signed)."""
    url = await recreate(pg.url, SOURCE)
    await seed_database(Run(cfg, db=url), small)
    return await write_snapshot(
        Run(cfg, db=url), small, store=SnapshotStore(cfg.snapshots.directory)
    )


@pytest.fixture
async def target(
    pg: PrivateServer, cfg: Config, small: Scale, snap: Snapshot
) -> AsyncIterator[str]:
    """A test database holding the genuine snapshot."""
    url = with_database(pg.url, TARGET)
    await restore_snapshot(Run(cfg, db=url), small, snapshot_id=snap.id)
    yield url
    async with connection(with_database(pg.url, "postgres")) as admin:
        await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(TARGET)} WITH (FORCE)")
        await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(TARGET + '__pkspare')}")


@pytest.fixture
def copied(cfg: Config, snap: Snapshot, tmp_path: Path) -> tuple[Config, Path]:
    """A private copy of the snapshot folder (marker included), to craft things in."""
    shutil.copytree(cfg.snapshots.directory, tmp_path / "snapshots")
    return with_store(cfg, tmp_path / "snapshots"), tmp_path / "snapshots" / "small" / snap.id


async def test_restore_refuses_an_edited_manifest_with_a_recomputed_checksum(
    pg: PrivateServer, target: str, small: Scale, copied: tuple[Config, Path]
) -> None:
    before = await fingerprint(target)
    crafted_cfg, folder = copied
    craft(folder, anchor_date="2020-01-01")  # the checksum matches; only the key is missing
    with pytest.raises(CorruptSnapshotError) as info:
        await restore_snapshot(Run(crafted_cfg, db=target), small, snapshot_id=folder.name)
    assert "untrusted" in info.value.message and "nothing was restored" in info.value.message
    assert f"perfkit trust --scale small --snapshot {folder.name}" in (info.value.hint or "")
    with pytest.raises(CorruptSnapshotError, match="untrusted"):
        await restore_snapshot(Run(crafted_cfg, db=target), small)  # nor as the latest
    assert await fingerprint(target) == before
    assert await helper_databases(pg.url) == []


async def test_restore_stops_a_zstd_bomb_at_the_declared_size(
    pg: PrivateServer, target: str, cfg: Config, small: Scale, snap: Snapshot, tmp_path: Path
) -> None:
    """Signed, sizes and SHA-256 right; one file expands to 256 MiB instead of what its
    manifest declares. The restore stops right after the declared size, holding little."""
    before = await fingerprint(target)
    bomb_cfg = with_store(cfg, tmp_path / "snapshots")
    store = SnapshotStore(tmp_path / "snapshots")
    bomb = zstandard.ZstdCompressor().compress(bytes(256 << 20))
    with store.building("small", new_snapshot_id()) as builder:
        tables = []
        for entry in snap.manifest.tables:
            path = builder.dir / entry.file
            if entry.table == "support_plan_cycles":
                path.write_bytes(bomb)
                size, sha = file_digest(path)
                entry = dataclasses.replace(entry, bytes=size, sha256=sha)
            else:
                shutil.copyfile(snap.path / entry.file, path)
            tables.append(entry)
        manifest: Manifest = dataclasses.replace(
            snap.manifest, id=builder.snapshot_id, tables=tuple(tables)
        )
        bombed = builder.publish(manifest)
    del bomb

    tracemalloc.start()
    try:
        with pytest.raises(CorruptSnapshotError) as info:
            await restore_snapshot(
                Run(bomb_cfg, db=target), small, snapshot_id=bombed.id, method="file"
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "expands to more than" in info.value.message, info.value.message
    assert peak < 64 << 20, f"{peak} bytes held in memory"
    assert await fingerprint(target) == before
    assert await helper_databases(pg.url) == []


def test_a_snapshot_from_elsewhere_is_used_only_after_invoke_trust(
    project_root: Path, pg: PrivateServer, snap: Snapshot, tmp_path: Path
) -> None:
    password = pg.url.split(":")[2].split("@")[0]
    # what another machine (or an older perfkit) hands over: the folder, unsigned, no marker
    elsewhere = tmp_path / "from-elsewhere"
    shutil.copytree(snap.path, elsewhere / "small" / snap.id)
    (elsewhere / "small" / snap.id / "manifest.json").write_text(snap.manifest.to_json())
    env = {
        "PERFKIT_STATE_DIR": str(pg.cfg.state_dir),
        "PERFKIT_PORT": str(pg.cfg.database.port),
        "PERFKIT_BACKEND": "native",
        "PERFKIT_DATABASE": TARGET,
        "PERFKIT_SNAPSHOT_DIR": str(elsewhere),
    }
    outputs = []

    def invoke(*args: str, code: int) -> str:
        """``perfkit <args>``: its stderr when it failed (the one line), else its stdout."""
        done = run_perfkit(*args, cwd=project_root, env=env)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == code, done.stderr
        return done.stderr if code else done.stdout

    assert "marker" in one_error_line(invoke("snapshots", code=2))
    trusted = invoke("trust", "--scale", "small", "--snapshot", snap.id, code=0)
    assert f"trusted snapshot small/{snap.id}" in trusted and "not signed" in trusted
    assert "fits" in invoke("snapshots", code=0)
    invoke("verify", code=0)

    craft(elsewhere / "small" / snap.id, seed=7)  # edited after it was trusted
    line = one_error_line(invoke("restore", "--scale", "small", "--snapshot", snap.id, code=1))
    assert "untrusted" in line and "perfkit trust --scale small" in line
    assert "failed verification" in invoke("verify", code=1)  # the one line, on stderr
    assert "untrusted" in invoke("snapshots", code=0)

    shared = tmp_path / "shared"
    (shared / "photos" / "20240101-120000-abcd").mkdir(parents=True)
    (shared / "photos" / "20240101-120000-abcd" / "holiday.jpg").write_bytes(b"jpeg")
    env["PERFKIT_SNAPSHOT_DIR"] = str(shared)
    line = one_error_line(invoke("prune", "--keep", "1", code=2))
    assert "no .perfkit-snapshots marker" in line and "hint:" in line
    assert (shared / "photos" / "20240101-120000-abcd" / "holiday.jpg").read_bytes() == b"jpeg"
    for output in outputs:
        assert password not in output
