"""Snapshots: save a dataset once, restore it in seconds (or a fraction of one), never stale.

* :func:`create_snapshot` -- ``invoke snapshot``: the dataset as zstd-compressed binary COPY
  files plus a checksummed manifest, written atomically (:mod:`.store`, :mod:`.fileformat`).
* :func:`restore_snapshot` -- ``invoke restore``: verify, build beside the target (template
  clone or files), move the dates to today, swap (:mod:`.restore`, :mod:`.template`,
  :mod:`.dates`).
* :func:`list_snapshots`, :func:`verify_snapshots`, :func:`prune` -- ``invoke snapshots``,
  ``invoke verify``, ``invoke prune``.
* :func:`ensure_dataset` -- ``invoke prepare``: "data ready" by the cheapest route;
  :func:`cloned_database` -- a throw-away clone per destructive test (:mod:`.prepare`).
"""

from __future__ import annotations

from perfkit.snapshot.create import SnapshotReport, create_snapshot, write_snapshot
from perfkit.snapshot.dates import shifted_columns, target_date
from perfkit.snapshot.errors import (
    CorruptSnapshotError,
    RestoreFailedError,
    SnapshotError,
    SnapshotNotFoundError,
    StaleSnapshotError,
)
from perfkit.snapshot.listing import Listed, Verified, list_snapshots, verify_snapshots
from perfkit.snapshot.manifest import Manifest, TableFile, dataset_key
from perfkit.snapshot.prepare import (
    PrepareReport,
    cloned_database,
    ensure_dataset,
    ensure_template,
    report_path,
    write_report,
)
from perfkit.snapshot.prune import PruneReport, prune
from perfkit.snapshot.restore import RestoreReport, restore_snapshot, verify_snapshot
from perfkit.snapshot.store import BrokenSnapshot, Snapshot, SnapshotStore

__all__ = [
    "BrokenSnapshot",
    "CorruptSnapshotError",
    "Listed",
    "Manifest",
    "PrepareReport",
    "PruneReport",
    "RestoreFailedError",
    "RestoreReport",
    "Snapshot",
    "SnapshotError",
    "SnapshotNotFoundError",
    "SnapshotReport",
    "SnapshotStore",
    "StaleSnapshotError",
    "TableFile",
    "Verified",
    "cloned_database",
    "create_snapshot",
    "dataset_key",
    "ensure_dataset",
    "ensure_template",
    "list_snapshots",
    "prune",
    "report_path",
    "restore_snapshot",
    "shifted_columns",
    "target_date",
    "verify_snapshot",
    "verify_snapshots",
    "write_report",
    "write_snapshot",
]
