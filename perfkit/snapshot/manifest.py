"""The manifest: what a snapshot holds, and the checksums that prove it.

``manifest.json`` sits beside the data files of one snapshot. It names the dataset (scale,
seed, data mode, generator version, anchor date, schema fingerprint and a *dataset key* that
hashes everything that shapes the data), where it came from (server version, perfkit
version, creation time), and every data file with its row count, size and SHA-256. A snapshot
of inferred data also holds the schema it replays (``schema.json``, the capture of the tables
as they were dumped: :mod:`perfkit.snapshot.replay`), named with its size and SHA-256 in
``schema_file``. The manifest carries a checksum of its own content, so a flipped bit anywhere
is noticed.

The checksum proves nothing about *who* wrote it: anyone who edits a manifest can recompute
it. Authenticity comes from a ``signature``: an HMAC-SHA256 of the canonical manifest (every
field but ``checksum`` and ``signature``, as sorted compact JSON) with the project's snapshot
key (:mod:`perfkit.snapshot.store` keeps it). :func:`read_manifest` checks every field by type
and range (a crafted manifest is refused, it never crashes a listing); whether the signature
holds is :meth:`ManifestFile.trust_problem`.

Over 400 lines: every manifest field is validated by type and range here (crafted manifests
are the threat), one function per field kind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
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

#: What a data file's name is: its table's name and this suffix, nothing else.
DATA_SUFFIX = ".copy.zst"
#: The captured schema of an inferred dataset, beside its data files.
SCHEMA_NAME = "schema.json"
SIGNATURE = "signature"
#: Dates and times outside these years are refused (a crafted anchor in year 4052, say).
YEARS = (1900, 2200)
#: Upper bounds of counts and sizes (far beyond any real dataset, far below overflow).
MAX_ROWS = 1 << 40
MAX_BYTES = 1 << 42
MAX_TABLES = 4096
MAX_MANIFEST_BYTES = 1 << 20

SNAPSHOT_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")
SCALE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_TOKEN = re.compile(r"[A-Za-z0-9_.+-]{1,128}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_FIELD = re.compile(r"[A-Za-z0-9_]{1,40}")

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
class SchemaFile:
    """The captured schema an inferred dataset's restore replays (:data:`SCHEMA_NAME`)."""

    file: str
    bytes: int
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
    #: Inferred data: the schema file a restore replays (None for a recipe's dataset).
    schema_file: SchemaFile | None = None
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

    def to_dict(self, *, key: bytes | None = None) -> dict[str, Any]:
        """The manifest as JSON-ready data; with ``key``, signed (see the module docstring)."""
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
        if self.schema_file is not None:
            out["schema_file"] = dataclasses.asdict(self.schema_file)
        if key is not None:
            out[SIGNATURE] = sign(canonical(out), key)
        out["checksum"] = _checksum(out)
        return out

    def to_json(self, *, key: bytes | None = None) -> str:
        """``manifest.json``'s text; signed with ``key`` when one is given."""
        return json.dumps(self.to_dict(key=key), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Manifest:
        """Parse and check a manifest; any problem is a :class:`CorruptSnapshotError`.

        This does not say who wrote it: :func:`read_manifest` also returns the signature."""
        return read_manifest(text, source=source).manifest


@dataclass(frozen=True)
class ManifestFile:
    """A parsed, checked ``manifest.json`` and the signature it carries (if any)."""

    manifest: Manifest
    #: ``{"key_id": ..., "hmac": ...}``, or None for an unsigned manifest.
    signature: Mapping[str, str] | None
    #: The canonical bytes the signature covers.
    signed_bytes: bytes

    def trust_problem(self, key: bytes | None) -> str | None:
        """Why this manifest is not proven written (or trusted) with ``key``; None when it is."""
        if self.signature is None:
            return (
                "it is not signed (made by a perfkit from before snapshots were signed, "
                "or not by perfkit)"
            )
        if key is None:
            return "this project has no snapshot key yet, so it signed no snapshot"
        if self.signature["key_id"] != key_id(key):
            return "it is signed with another project's key (copied from elsewhere)"
        if not hmac.compare_digest(self.signature["hmac"], _mac(self.signed_bytes, key)):
            return "its signature does not match its content (edited after it was written)"
        return None


def key_id(key: bytes) -> str:
    """A short public name of a key: which key signed a manifest, without revealing it."""
    return hashlib.sha256(b"perfkit-snapshot-key-id\0" + key).hexdigest()[:16]


def canonical(body: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: every field but the checksum and the signature itself."""
    rest = {k: v for k, v in body.items() if k not in ("checksum", SIGNATURE)}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(signed_bytes: bytes, key: bytes) -> dict[str, str]:
    """The ``signature`` field for ``signed_bytes``."""
    return {"key_id": key_id(key), "hmac": _mac(signed_bytes, key)}


def _mac(signed_bytes: bytes, key: bytes) -> str:
    return hmac.new(key, b"perfkit-snapshot-manifest\0" + signed_bytes, "sha256").hexdigest()


class _Bad(Exception):
    """One reason a manifest is refused (turned into a :class:`CorruptSnapshotError`)."""


_FIELDS = frozenset(
    {
        "format", "format_version", "id", "scale", "shape", "seed", "mode",
        "generator_version", "anchor_date", "schema_fingerprint", "dataset_key",
        "server_version", "perfkit_version", "created_at", "dataset_created_at",
        "compression", "copy_format", "row_counts", "size", "tables", "schema_file",
        SIGNATURE,
    }
)  # fmt: skip
#: Fields a manifest may leave out.
_OPTIONAL = frozenset({SIGNATURE, "schema_file"})
_TABLE_FIELDS = ("table", "file", "rows", "bytes", "raw_bytes", "sha256")


def read_manifest(text: str, *, source: str) -> ManifestFile:
    """Parse ``manifest.json`` and check every field by type and range.

    Any problem (bad JSON, a wrong type, a date outside :data:`YEARS`, a file name that is
    not ``<table>.copy.zst``, a negative count, a checksum that does not match) is a
    :class:`CorruptSnapshotError` naming the field; never another exception.
    """

    def bad(reason: str) -> CorruptSnapshotError:
        return CorruptSnapshotError(source, reason=f"manifest.json {reason}")

    if len(text) > MAX_MANIFEST_BYTES:
        raise bad(f"is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        raw = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise bad(f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:
        raise bad(f"is not valid JSON ({_short(exc)})") from None
    if not isinstance(raw, dict):
        raise bad("is not a JSON object")
    if raw.get("format") != FORMAT:
        raise bad("is not a perfkit snapshot manifest (its format field is not perfkit-snapshot)")
    version = raw.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        shown = repr(version) if isinstance(version, int) and abs(version) < 1000 else "other"
        raise CorruptSnapshotError(
            source,
            reason=f"format version {shown} is not the supported {FORMAT_VERSION} "
            "(made by another perfkit version)",
        )
    claimed = raw.pop("checksum", None)
    if claimed != _checksum(raw):
        raise bad("does not match its own checksum (edited or damaged)")
    try:
        manifest, signature = _checked(raw)
    except _Bad as exc:
        raise bad(str(exc)) from None
    return ManifestFile(manifest=manifest, signature=signature, signed_bytes=canonical(raw))


def _checked(raw: dict[str, Any]) -> tuple[Manifest, Mapping[str, str] | None]:
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _Bad(f"has an unknown field {_name(unknown[0])}")
    missing = sorted(_FIELDS - _OPTIONAL - set(raw))
    if missing:
        raise _Bad(f"is missing the field {missing[0]}")
    signature = None
    if SIGNATURE in raw:
        sig = raw[SIGNATURE]
        if (
            not isinstance(sig, dict)
            or set(sig) != {"key_id", "hmac"}
            or not _matches(_KEY_ID, sig["key_id"])
            or not _matches(_HEX64, sig["hmac"])
        ):
            raise _Bad("has a malformed signature")
        signature = types.MappingProxyType(dict(sig))
    tables = _tables(raw["tables"])
    shape = raw["shape"]
    if not isinstance(shape, dict) or len(shape) > 64:
        raise _Bad("field shape must be an object of at most 64 counts")
    for name, value in shape.items():
        if not _matches(_FIELD, name):
            raise _Bad("field shape has a malformed name")
        _count(value, f"shape.{name}", MAX_ROWS)
    manifest = Manifest(
        id=_text(raw["id"], "id", SNAPSHOT_ID),
        scale=_text(raw["scale"], "scale", SCALE_NAME),
        seed=_integer(raw["seed"], "seed", -(1 << 63), (1 << 63) - 1),
        mode=_text(raw["mode"], "mode", _TOKEN),
        generator_version=_integer(raw["generator_version"], "generator_version", 0, 1 << 31),
        anchor_date=_day(raw["anchor_date"], "anchor_date"),
        schema_fingerprint=_text(raw["schema_fingerprint"], "schema_fingerprint", _TOKEN),
        dataset_key=_text(raw["dataset_key"], "dataset_key", _TOKEN),
        server_version=_printable(raw["server_version"], "server_version"),
        perfkit_version=_printable(raw["perfkit_version"], "perfkit_version"),
        created_at=_moment(raw["created_at"], "created_at"),
        dataset_created_at=_moment(raw["dataset_created_at"], "dataset_created_at"),
        tables=tables,
        shape=types.MappingProxyType(dict(shape)),
        schema_file=_schema_file(raw["schema_file"]) if "schema_file" in raw else None,
        compression=_text(raw["compression"], "compression", _TOKEN),
        copy_format=_text(raw["copy_format"], "copy_format", _TOKEN),
    )
    if manifest.compression != COMPRESSION or manifest.copy_format != COPY_FORMAT:
        raise _Bad(f"uses {manifest.compression}/{manifest.copy_format}, not zstd/binary")
    if raw["row_counts"] != manifest.row_counts:
        raise _Bad("field row_counts does not match its tables")
    if raw["size"] != manifest.size or type(raw["size"]) is not int:
        raise _Bad("field size does not match its tables")
    return manifest, signature


def _tables(value: Any) -> tuple[TableFile, ...]:
    if not isinstance(value, list) or len(value) > MAX_TABLES:
        raise _Bad(f"field tables must be a list of at most {MAX_TABLES} entries")
    out: list[TableFile] = []
    for i, item in enumerate(value):
        where = f"tables[{i}]"
        if not isinstance(item, dict) or sorted(item) != sorted(_TABLE_FIELDS):
            raise _Bad(f"field {where} must have exactly the fields {', '.join(_TABLE_FIELDS)}")
        table = _text(item["table"], f"{where}.table", TABLE_NAME)
        if item["file"] != table + DATA_SUFFIX:
            raise _Bad(f"field {where}.file must be {table}{DATA_SUFFIX}, a plain name")
        out.append(
            TableFile(
                table=table,
                file=table + DATA_SUFFIX,
                rows=_count(item["rows"], f"{where}.rows", MAX_ROWS),
                bytes=_count(item["bytes"], f"{where}.bytes", MAX_BYTES),
                raw_bytes=_count(item["raw_bytes"], f"{where}.raw_bytes", MAX_BYTES),
                sha256=_text(item["sha256"], f"{where}.sha256", _HEX64),
            )
        )
    names = [t.table for t in out]
    if len(set(names)) != len(names):
        raise _Bad("field tables names a table twice")
    return tuple(out)


def _schema_file(value: Any) -> SchemaFile:
    if not isinstance(value, dict) or sorted(value) != ["bytes", "file", "sha256"]:
        raise _Bad("field schema_file must have exactly the fields file, bytes, sha256")
    if value["file"] != SCHEMA_NAME:
        raise _Bad(f"field schema_file.file must be {SCHEMA_NAME}")
    return SchemaFile(
        file=SCHEMA_NAME,
        bytes=_count(value["bytes"], "schema_file.bytes", MAX_MANIFEST_BYTES * 64),
        sha256=_text(value["sha256"], "schema_file.sha256", _HEX64),
    )


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _text(value: Any, name: str, pattern: re.Pattern[str]) -> str:
    if not _matches(pattern, value):
        raise _Bad(f"field {name} is not a well-formed {name.rsplit('.', 1)[-1]}")
    return str(value)


def _printable(value: Any, name: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 200 or not value.isprintable():
        raise _Bad(f"field {name} must be printable text of 1 to 200 characters")
    return value


def _integer(value: Any, name: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise _Bad(f"field {name} must be a whole number from {low} to {high}")
    return value


def _count(value: Any, name: str, high: int) -> int:
    return _integer(value, name, 0, high)


def _day(value: Any, name: str) -> date:
    if not isinstance(value, str) or len(value) != 10:
        raise _Bad(f"field {name} must be a date, YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _Bad(f"field {name} must be a date, YYYY-MM-DD") from None
    _in_years(day.year, name)
    return day


def _moment(value: Any, name: str) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise _Bad(f"field {name} must be an ISO date and time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad(f"field {name} must be an ISO date and time") from None
    _in_years(moment.year, name)
    return _aware(moment)


def _in_years(year: int, name: str) -> None:
    low, high = YEARS
    if not low <= year <= high:
        raise _Bad(f"field {name} is in year {year}, outside {low}..{high}")


def _name(value: str) -> str:
    return value if _FIELD.fullmatch(value) else "with an unusual name"


def _short(exc: BaseException) -> str:
    """The first words of Python's own message (never the manifest's content)."""
    return (str(exc).splitlines() or [type(exc).__name__])[0][:100]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("a field appears twice")
        out[key] = value
    return out


def _checksum(body: Mapping[str, Any]) -> str:
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
