"""What can go wrong with a snapshot, as one-line errors with a hint.

Every refusal happens before the target database is touched: a snapshot that is missing,
corrupted, truncated or made for another schema never reaches ``CREATE DATABASE``.
"""

from __future__ import annotations

from perfkit.errors import PerfkitError


class SnapshotError(PerfkitError):
    """Base class of snapshot problems (exit status 1)."""


class SnapshotNotFoundError(SnapshotError):
    """No snapshot of that scale (or with that id) in the snapshot directory."""

    def __init__(self, scale: str, snapshot_id: str | None, *, where: str) -> None:
        what = (
            f"snapshot {snapshot_id!r} of scale {scale!r}"
            if snapshot_id
            else (f"no usable snapshot of scale {scale!r}")
        )
        super().__init__(
            f"{what} not found in {where}" if snapshot_id else f"{what} in {where}",
            hint=f"`perfkit snapshots` lists them; `perfkit snapshot --scale {scale}` makes one",
        )
        self.scale = scale
        self.snapshot_id = snapshot_id


class CorruptSnapshotError(SnapshotError):
    """A snapshot whose manifest or data files do not match their checksums or sizes."""

    def __init__(self, snapshot: str, *, reason: str, scale: str | None = None) -> None:
        again = f"perfkit snapshot --scale {scale}" if scale else "perfkit snapshot --scale NAME"
        super().__init__(
            f"snapshot {snapshot} is corrupted: {reason}; nothing was restored",
            hint=f"delete it and make a new one (`{again}`), or restore another with --snapshot",
        )
        self.snapshot = snapshot
        self.reason = reason


class StaleSnapshotError(SnapshotError):
    """A snapshot made for another schema than the application's current one."""

    def __init__(self, snapshot: str, *, scale: str, found: str, expected: str) -> None:
        super().__init__(
            f"snapshot {snapshot} was made for schema {found}, but the current schema is "
            f"{expected}; nothing was restored",
            hint=f"re-seed and re-snapshot: `perfkit snapshot --scale {scale}` "
            "(`perfkit prune` removes stale snapshots)",
        )
        self.snapshot = snapshot
        self.found = found
        self.expected = expected


class RestoreFailedError(SnapshotError):
    """Loading a verified snapshot failed on the server; the previous database was kept."""


class InterruptedAfterSwapError(SnapshotError):
    """Ctrl-C (or a cancellation) arrived after the restored copy was swapped in: the restore
    took effect; only the clean-up of the previous copy was cut short."""

    exit_code = 130

    def __init__(self, database: str, old: str | None) -> None:
        left = f"; the previous copy {old!r} was left for the next restore to reuse" if old else ""
        super().__init__(
            f"interrupted after the swap: {database!r} already holds the restored data{left}",
            hint="nothing to undo; `perfkit prune` removes leftover copies",
        )
        self.database = database
        self.old = old
