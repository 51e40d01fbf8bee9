"""``perfkit snapshot``, ``restore``, ``snapshots``, ``verify``, ``prune``, ``trust``.

Thin: each calls one function of :mod:`perfkit.snapshot` (or :mod:`perfkit.prepare`) with the
run and wraps what it returns in a report. ``snapshots``, ``verify`` and ``prune`` never load
the application (they compare with the schema as last built: :attr:`perfkit.run.Run.on_record`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from perfkit.errors import NothingMatchedError, PerfkitError
from perfkit.text import clipped, quoted

if TYPE_CHECKING:
    from perfkit.config import Config
    from perfkit.prepare import SnapshotReport
    from perfkit.run import Run
    from perfkit.snapshot.listing import Listed, Trusted, Verified
    from perfkit.snapshot.manifest import Manifest
    from perfkit.snapshot.prune import PruneReport
    from perfkit.snapshot.restore import RestoreReport
    from perfkit.snapshot.store import Entry


def none_found(
    cfg: Config, *, scale: str | None, snapshot_id: str | None = None, verb: str = "yet"
) -> str:
    """What ``perfkit snapshots`` / ``verify`` say when no snapshot matched.

    A snapshot id, or a scale scales.yaml does not have, that matched nothing is a
    :class:`NothingMatchedError` (exit status 2: the command could do nothing it was asked);
    otherwise there is simply nothing there yet, and the sentence saying so is returned.
    """
    where = cfg.snapshots.directory
    if snapshot_id:
        of = f" of scale {quoted(scale)}" if scale else ""
        raise NothingMatchedError(
            f"no snapshot {quoted(snapshot_id)}{of} in {where}",
            what="snapshot",
            name=clipped(snapshot_id),
            hint="`perfkit snapshots` lists the snapshots and their ids",
        )
    if scale and scale not in cfg.scales:
        raise NothingMatchedError(
            f"unknown scale {quoted(scale)}: scales.yaml has no such scale and {where} holds "
            "no snapshots of it",
            what="scale",
            name=clipped(scale),
            hint=f"valid scales: {', '.join(cfg.scale_names)}",
        )
    return f"no snapshots{f' of scale {scale}' if scale else ''} {verb} in {where}"


def manifest_json(m: Manifest) -> dict[str, Any]:
    """A snapshot's facts for ``--json`` (no signature, no file list)."""
    return {
        "scale": m.scale,
        "id": m.id,
        "created_at": m.created_at.isoformat(),
        "anchor_date": m.anchor_date.isoformat(),
        "seed": m.seed,
        "mode": m.mode,
        "rows": sum(m.row_counts.values()),
        "row_counts": dict(m.row_counts),
        "size": m.size,
        "raw_size": m.raw_size,
        "schema_fingerprint": m.schema_fingerprint,
        "dataset_key": m.dataset_key,
        "perfkit_version": m.perfkit_version,
        "server_version": m.server_version,
    }


@dataclass(frozen=True)
class SnapshotDone:
    """What ``perfkit snapshot`` made (and pruned)."""

    report: SnapshotReport

    def lines(self) -> list[str]:
        from perfkit.views import prune_lines, snapshot_done

        pruned = prune_lines(self.report.pruned) if self.report.pruned else []
        return [snapshot_done(self.report), *pruned]

    def to_json(self) -> dict[str, Any]:
        """``snapshot`` (its facts, as in ``perfkit snapshots --json``), ``path``,
        ``seconds``, ``write_seconds``, ``seeded``, ``seed_seconds``, ``seed_reason`` and
        ``pruned`` (as ``perfkit prune --json``, or null)."""
        r = self.report
        return {
            "snapshot": manifest_json(r.snapshot.manifest),
            "path": str(r.snapshot.path),
            "seconds": r.seconds,
            "write_seconds": r.write_seconds,
            "seeded": r.seeded,
            "seed_seconds": r.seed_seconds,
            "seed_reason": r.seed_reason,
            "pruned": None if r.pruned is None else PruneDone(r.pruned).to_json(),
        }


async def snapshot(
    run: Run, *, scale: str, confirm_database: str | None = None, no_prune: bool = False
) -> SnapshotDone:
    """Save the scale's dataset as a snapshot (seeding it first if needed), then prune."""
    from perfkit.prepare import create_snapshot

    report = await create_snapshot(
        run, run.cfg.scale(scale), confirm=confirm_database, prune_after=not no_prune
    )
    return SnapshotDone(report)


@dataclass(frozen=True)
class RestoreDone:
    """What ``perfkit restore`` did."""

    report: RestoreReport

    def lines(self) -> list[str]:
        from perfkit.views import restore_done

        return [restore_done(self.report)]

    def to_json(self) -> dict[str, Any]:
        """``scale``, ``snapshot_id``, ``database``, ``method`` (``template`` or ``file``),
        ``seconds``, ``anchor_date``, ``shifted_days``, ``template`` and ``steps``."""
        r = self.report
        return {
            "scale": r.scale,
            "snapshot_id": r.snapshot_id,
            "database": r.database,
            "method": r.method,
            "seconds": r.seconds,
            "anchor_date": r.anchor_date.isoformat(),
            "shifted_days": r.shifted_days,
            "template": r.template,
            "steps": dict(r.steps),
        }


async def restore(
    run: Run,
    *,
    scale: str,
    snapshot: str | None = None,
    method: Literal["auto", "template", "file"] = "auto",
    confirm_database: str | None = None,
) -> RestoreDone:
    """Make the test database hold a verified snapshot (default: the scale's latest), its
    dates moved to the run's day (``--as-of``)."""
    from perfkit.snapshot.restore import restore_snapshot

    report = await restore_snapshot(
        run, run.cfg.scale(scale), snapshot_id=snapshot, as_of=run.today, method=method,
        confirm=confirm_database,
    )  # fmt: skip
    return RestoreDone(report)


@dataclass(frozen=True)
class SnapshotList:
    """``perfkit snapshots``: every snapshot, or the sentence saying there is none yet."""

    rows: tuple[Listed, ...]
    directory: str
    nothing: str | None = None

    def lines(self) -> list[str]:
        from perfkit.views import snapshots_lines

        if self.nothing is not None:
            return [self.nothing]
        return snapshots_lines(self.rows, directory=self.directory)

    def to_json(self) -> dict[str, Any]:
        """``directory`` and ``snapshots``: per snapshot ``scale``, ``id``, ``readable``,
        ``trusted``, ``latest``, ``fits_schema`` (null: unknown, the schema was not built
        yet), ``config_problem``, ``problem`` (why it is unreadable) and, when readable, its
        facts (as :func:`manifest_json`)."""
        from perfkit.snapshot.store import Snapshot

        out = []
        for row in self.rows:
            entry: Entry = row.entry
            item: dict[str, Any] = {
                "scale": entry.scale,
                "id": entry.id,
                "readable": isinstance(entry, Snapshot),
                "trusted": row.trusted,
                "latest": row.latest,
                "fits_schema": row.fits_schema,
                "config_problem": row.config_problem,
                "problem": row.problem,
            }
            if isinstance(entry, Snapshot):
                item.update(manifest_json(entry.manifest))
            out.append(item)
        return {"directory": self.directory, "snapshots": out}


async def snapshots(run: Run, *, scale: str | None = None) -> SnapshotList:
    """List the snapshots (newest first per scale) and whether each fits the schema as last
    built; nothing of the application is built."""
    from perfkit.snapshot.listing import list_snapshots

    listed = list_snapshots(run, scale=scale)
    directory = str(run.cfg.snapshots.directory)
    if not listed:
        return SnapshotList((), directory, nothing=none_found(run.cfg, scale=scale))
    return SnapshotList(tuple(listed), directory)


class VerifyFailedError(PerfkitError):
    """``perfkit verify`` found snapshots that failed (exit status 1)."""

    def __init__(self, failed: int, checked: int) -> None:
        super().__init__(f"{failed} of {checked} snapshots failed verification")
        self.failed = failed
        self.checked = checked


@dataclass(frozen=True)
class VerifyReport:
    """``perfkit verify``: each snapshot checked, or the sentence saying there is none."""

    results: tuple[Verified, ...]
    nothing: str | None = None

    def lines(self) -> list[str]:
        from perfkit.views import verify_lines

        return [self.nothing] if self.nothing is not None else verify_lines(self.results)

    def to_json(self) -> dict[str, Any]:
        """``ok`` (every one passed), ``snapshots``: per snapshot ``label``, ``ok``,
        ``problem`` and ``note`` (what could not be checked)."""
        return {
            "ok": all(r.ok for r in self.results),
            "snapshots": [
                {"label": r.label, "ok": r.ok, "problem": r.problem, "note": r.note}
                for r in self.results
            ],
        }

    def failure(self) -> VerifyFailedError | None:
        bad = [r for r in self.results if not r.ok]
        return VerifyFailedError(len(bad), len(self.results)) if bad else None


async def verify(
    run: Run, *, scale: str | None = None, snapshot: str | None = None
) -> VerifyReport:
    """Check snapshots' signatures, manifests, schema fingerprints and files; the command
    fails (exit 1) when any does."""
    from perfkit.snapshot.errors import SnapshotNotFoundError
    from perfkit.snapshot.listing import verify_snapshots

    try:
        results = verify_snapshots(run, scale=scale, snapshot_id=snapshot)
    except SnapshotNotFoundError:
        results = []
    if not results:
        return VerifyReport(
            (), nothing=none_found(run.cfg, scale=scale, snapshot_id=snapshot, verb="to verify")
        )
    return VerifyReport(tuple(results))


@dataclass(frozen=True)
class PruneDone:
    """What ``perfkit prune`` removed (or, with ``--dry-run``, would remove)."""

    report: PruneReport

    def lines(self) -> list[str]:
        from perfkit.views import prune_lines

        return prune_lines(self.report)

    def to_json(self) -> dict[str, Any]:
        """``dry_run``, ``snapshots`` (labels), ``leftovers`` (folders), ``templates``,
        ``databases``, ``roles``, ``kept`` (per scale), ``unowned``, ``untouched`` (labels)
        and ``server_note``."""
        r = self.report
        return {
            "dry_run": r.dry_run,
            "snapshots": [e.label for e in r.snapshots],
            "leftovers": [str(lo.path) for lo in r.leftovers],
            "templates": list(r.templates),
            "databases": list(r.databases),
            "roles": list(r.roles),
            "kept": dict(r.kept),
            "unowned": list(r.unowned),
            "untouched": [e.label for e in r.untouched],
            "server_note": r.server_note,
        }


async def prune(
    run: Run, *, scale: str | None = None, keep: int | None = None, dry_run: bool = False
) -> PruneDone:
    """Keep the newest ``keep`` snapshots per scale (default: ``snapshots.keep``); drop stale
    templates and leftovers on the server. Nothing of the application is built."""
    from perfkit.snapshot.prune import prune as prune_snapshots

    return PruneDone(await prune_snapshots(run, scale=scale, keep=keep, dry_run=dry_run))


@dataclass(frozen=True)
class TrustDone:
    """What ``perfkit trust`` checked and signed."""

    trusted: Trusted

    def lines(self) -> list[str]:
        return self.trusted.lines()

    def to_json(self) -> dict[str, Any]:
        """``snapshot`` (its facts), ``was`` (why it was not trusted; null: it was) and
        ``fits_schema``."""
        t = self.trusted
        return {
            "snapshot": manifest_json(t.snapshot.manifest),
            "was": t.was,
            "fits_schema": t.fits_schema,
        }


async def trust(run: Run, *, scale: str, snapshot: str) -> TrustDone:
    """Check a snapshot made elsewhere (every field, table and file), then sign it with this
    project's key."""
    from perfkit.snapshot.listing import trust_snapshot

    return TrustDone(trust_snapshot(run, scale=scale, snapshot_id=snapshot))
