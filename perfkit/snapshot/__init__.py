"""Snapshots: save a dataset once, restore it in seconds (or a fraction of one), never stale.

* :func:`write_snapshot` -- ``perfkit snapshot``: the dataset as zstd-compressed binary COPY
  files plus a checksummed manifest, written atomically (:mod:`.store`, :mod:`.fileformat`);
  seeding first when needed is :func:`perfkit.prepare.create_snapshot`, one layer up.
* :func:`restore_snapshot` -- ``perfkit restore``: verify, build beside the target (template
  clone or files), move the dates to today, swap (:mod:`.restore`, :mod:`.template`,
  :mod:`.dates`).
* :func:`list_snapshots`, :func:`verify_snapshots`, :func:`prune` -- ``perfkit snapshots``,
  ``perfkit verify``, ``perfkit prune``.
* :func:`ensure_template`, :func:`cloned_database` -- the fast path's template, and a
  throw-away clone per destructive test (:mod:`.prepare`). "Data ready" by the cheapest route
  (``perfkit prepare``) is :mod:`perfkit.prepare`, one layer up.
"""

from __future__ import annotations

from perfkit.snapshot.create import write_snapshot
from perfkit.snapshot.dates import shifted_columns, target_date
from perfkit.snapshot.errors import (
    CorruptSnapshotError,
    RestoreFailedError,
    SnapshotError,
    SnapshotNotFoundError,
    StaleSnapshotError,
)
from perfkit.snapshot.listing import Listed, Verified, list_snapshots, verify_snapshots
from perfkit.snapshot.manifest import Manifest, TableFile
from perfkit.snapshot.prepare import cloned_database, ensure_template
from perfkit.snapshot.prune import PruneReport, prune
from perfkit.snapshot.restore import RestoreReport, restore_snapshot, verify_snapshot
from perfkit.snapshot.store import BrokenSnapshot, Snapshot, SnapshotStore

__all__ = [
    "BrokenSnapshot",
    "CorruptSnapshotError",
    "Listed",
    "Manifest",
    "PruneReport",
    "RestoreFailedError",
    "RestoreReport",
    "Snapshot",
    "SnapshotError",
    "SnapshotNotFoundError",
    "SnapshotStore",
    "StaleSnapshotError",
    "TableFile",
    "Verified",
    "cloned_database",
    "ensure_template",
    "list_snapshots",
    "prune",
    "restore_snapshot",
    "shifted_columns",
    "target_date",
    "verify_snapshot",
    "verify_snapshots",
    "write_snapshot",
]
