"""The manifest: what a snapshot holds, and the checksums that prove it.

``manifest.json`` sits beside the data files of one snapshot. It names the dataset (scale,
seed, data mode, generator version, anchor date, schema fingerprint and a *dataset key* that
hashes everything that shapes the data), where it came from (server version, perfkit
version, creation time), and every data file with its row count, size and SHA-256. The
manifest carries a checksum of its own content, so a flipped bit anywhere is noticed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from perfkit.config import Scale
from perfkit.snapshot.errors import CorruptSnapshotError

FORMAT = "perfkit-snapshot"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
COMPRESSION = "zstd"
COPY_FORMAT = "binary"

#: The fields of a scale that change the generated data (not its budgets or timeout).
SHAPE_FIELDS = ("offices", "staff_per_office", "recipients_per_office", "cycles_per_plan")


def _plain(value: Any) -> Any:
    """Dataclasses, mappings and tuples as JSON-ready builtins, keys sorted."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def scale_shape(scale: Scale) -> dict[str, int]:
    """The data-shaping numbers of a scale."""
    return {name: int(getattr(scale, name)) for name in SHAPE_FIELDS}


@dataclass(frozen=True)
class TableFile:
    """One table's data: a zstd-compressed binary COPY stream."""

    table: str
    file: str
    rows: int
    bytes: int
    raw_bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """Everything known about one snapshot. See the module docstring."""

    id: str
    scale: str
    seed: int
    mode: str
    generator_version: int
    anchor_date: date
    schema_fingerprint: str
    dataset_key: str
    server_version: str
    perfkit_version: str
    created_at: datetime
    dataset_created_at: datetime
    tables: tuple[TableFile, ...]
    shape: Mapping[str, int] = field(default_factory=lambda: types.MappingProxyType({}))
    compression: str = COMPRESSION
    copy_format: str = COPY_FORMAT
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def row_counts(self) -> dict[str, int]:
        return {t.table: t.rows for t in self.tables}

    @property
    def size(self) -> int:
        """Bytes on disk of the data files."""
        return sum(t.bytes for t in self.tables)

    @property
    def raw_size(self) -> int:
        """Bytes of the uncompressed COPY streams."""
        return sum(t.raw_bytes for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": self.format,
            "format_version": self.format_version,
            "id": self.id,
            "scale": self.scale,
            "shape": dict(self.shape),
            "seed": self.seed,
            "mode": self.mode,
            "generator_version": self.generator_version,
            "anchor_date": self.anchor_date.isoformat(),
            "schema_fingerprint": self.schema_fingerprint,
            "dataset_key": self.dataset_key,
            "server_version": self.server_version,
            "perfkit_version": self.perfkit_version,
            "created_at": self.created_at.isoformat(),
            "dataset_created_at": self.dataset_created_at.isoformat(),
            "compression": self.compression,
            "copy_format": self.copy_format,
            "row_counts": self.row_counts,
            "size": self.size,
            "tables": [dataclasses.asdict(t) for t in self.tables],
        }
        out["checksum"] = _checksum(out)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Manifest:
        """Parse and check a manifest; any problem is a :class:`CorruptSnapshotError`."""

        def bad(reason: str) -> CorruptSnapshotError:
            return CorruptSnapshotError(source, reason=f"manifest.json {reason}")

        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise bad(f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(raw, dict):
            raise bad("is not a JSON object")
        if raw.get("format") != FORMAT:
            raise bad(f"is not a perfkit snapshot manifest (format {raw.get('format')!r})")
        if raw.get("format_version") != FORMAT_VERSION:
            raise CorruptSnapshotError(
                source,
                reason=f"format version {raw.get('format_version')!r} is not the supported "
                f"{FORMAT_VERSION} (made by another perfkit version)",
            )
        claimed = raw.pop("checksum", None)
        if claimed != _checksum(raw):
            raise bad("does not match its own checksum (edited or damaged)")
        try:
            tables = tuple(TableFile(**t) for t in raw["tables"])
            manifest = cls(
                id=str(raw["id"]),
                scale=str(raw["scale"]),
                seed=int(raw["seed"]),
                mode=str(raw["mode"]),
                generator_version=int(raw["generator_version"]),
                anchor_date=date.fromisoformat(raw["anchor_date"]),
                schema_fingerprint=str(raw["schema_fingerprint"]),
                dataset_key=str(raw["dataset_key"]),
                server_version=str(raw["server_version"]),
                perfkit_version=str(raw["perfkit_version"]),
                created_at=_aware(datetime.fromisoformat(raw["created_at"])),
                dataset_created_at=_aware(datetime.fromisoformat(raw["dataset_created_at"])),
                tables=tables,
                shape=types.MappingProxyType({k: int(v) for k, v in raw["shape"].items()}),
                compression=str(raw["compression"]),
                copy_format=str(raw["copy_format"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            raise bad(f"is missing or has a malformed field ({problem})") from None
        if manifest.compression != COMPRESSION or manifest.copy_format != COPY_FORMAT:
            raise bad(f"uses {manifest.compression}/{manifest.copy_format}, not zstd/binary")
        return manifest


def _checksum(body: Mapping[str, Any]) -> str:
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
