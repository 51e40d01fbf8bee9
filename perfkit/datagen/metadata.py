"""The ``perfkit_dataset`` table: one row telling what a database's data was made for.

Seeding writes it in the same transaction that puts the data in place, so the row and the data
always agree. It holds the scale, seed, mode, generator version, anchor date (every generated
date is relative to it), the schema fingerprint, the row counts and the generator's parameters;
snapshots carry it along, and tests and later tools read it back with :func:`read_dataset_info`.
Its columns are fixed (snapshots restore its rows into :func:`create_dataset_table_sql`); the
table's *comment* holds the statistics recorded right after the load
(:mod:`perfkit.datagen.changes`), which tell whether the data was changed since.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from perfkit.sqlnames import DATASET_TABLE, quote_ident


@dataclass(frozen=True)
class DatasetInfo:
    """What a seeded database holds (the ``perfkit_dataset`` row)."""

    scale: str
    seed: int
    mode: str
    generator_version: int
    anchor_date: dt.date
    schema_fingerprint: str
    row_counts: Mapping[str, int]
    created_at: dt.datetime
    #: The inputs that shaped the rows besides seed and mode: the scale's per-office counts and,
    #: in realistic mode, the ``data.realistic`` proportions. Equal parameters, seed, mode and
    #: generator version mean equal rows (for the same anchor date).
    parameters: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())

    def key(self) -> str:
        """The dataset's identity: a short hash of everything that decides its rows except the
        anchor date (scale, seed, mode, generator version, schema, row counts, parameters).
        Generation is deterministic, so equal keys mean equal rows, dates aside; snapshots and
        templates are filed under it. This is perfkit's one definition of "the same dataset"."""
        spec = {
            "scale": self.scale,
            "seed": self.seed,
            "mode": self.mode,
            "generator_version": self.generator_version,
            "schema": self.schema_fingerprint,
            "rows": _plain(self.row_counts),
            "parameters": _plain(self.parameters),
        }
        blob = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def same_data(self, other: DatasetInfo, *, compare_anchor: bool = True) -> bool:
        """Whether ``other`` describes the same rows (``created_at`` aside): equal keys, and
        with ``compare_anchor`` the same anchor date."""
        return self.key() == other.key() and (
            not compare_anchor or self.anchor_date == other.anchor_date
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings); :meth:`from_dict` reads it back."""
        return {
            "scale": self.scale,
            "seed": self.seed,
            "mode": self.mode,
            "generator_version": self.generator_version,
            "anchor_date": self.anchor_date.isoformat(),
            "schema_fingerprint": self.schema_fingerprint,
            "row_counts": dict(self.row_counts),
            "created_at": self.created_at.isoformat(),
            "parameters": _plain(self.parameters),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DatasetInfo:
        """The inverse of :meth:`to_dict`; ``ValueError`` on anything malformed."""
        try:
            counts = raw["row_counts"]
            params = raw.get("parameters", {})
            if not isinstance(counts, Mapping) or not isinstance(params, Mapping):
                raise TypeError("row_counts and parameters must be objects")
            return cls(
                scale=str(raw["scale"]),
                seed=int(raw["seed"]),
                mode=str(raw["mode"]),
                generator_version=int(raw["generator_version"]),
                anchor_date=dt.date.fromisoformat(str(raw["anchor_date"])),
                schema_fingerprint=str(raw["schema_fingerprint"]),
                row_counts=types.MappingProxyType({str(k): int(v) for k, v in counts.items()}),
                created_at=dt.datetime.fromisoformat(str(raw["created_at"])),
                parameters=types.MappingProxyType(dict(params)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a dataset description: {exc}") from None

    def describe(self) -> str:
        """One line for messages: ``scale medium, seed 42, realistic, anchor 2026-02-09, ...``."""
        return (
            f"scale {self.scale}, seed {self.seed}, {self.mode} mode, "
            f"anchor {self.anchor_date.isoformat()}, generator v{self.generator_version}, "
            f"{self.total_rows:,} rows"
        )


def _plain(value: Any) -> Any:
    """Mappings and sequences as plain JSON-comparable values."""
    return json.loads(json.dumps(value, default=_json_default, sort_keys=True))


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def create_dataset_table_sql(schema: str = "public") -> str:
    """``CREATE TABLE`` of the one-row metadata table in ``schema``."""
    return f"""CREATE TABLE {quote_ident(schema)}.{DATASET_TABLE} (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    scale text NOT NULL,
    seed bigint NOT NULL,
    mode text NOT NULL,
    generator_version integer NOT NULL,
    anchor_date date NOT NULL,
    schema_fingerprint text NOT NULL,
    row_counts jsonb NOT NULL,
    parameters jsonb NOT NULL,
    created_at timestamptz NOT NULL
)"""


_COLUMNS = (
    "scale, seed, mode, generator_version, anchor_date, schema_fingerprint, row_counts, "
    "parameters, created_at"
)


async def write_dataset_info(
    conn: asyncpg.Connection, info: DatasetInfo, *, schema: str = "public"
) -> None:
    """Insert ``info`` as the metadata row of ``schema``'s (empty) metadata table."""
    await conn.execute(
        f"INSERT INTO {quote_ident(schema)}.{DATASET_TABLE} ({_COLUMNS}) "  # noqa: S608
        "VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8::text::jsonb, $9)",
        info.scale,
        info.seed,
        info.mode,
        info.generator_version,
        info.anchor_date,
        info.schema_fingerprint,
        json.dumps(_plain(info.row_counts)),
        json.dumps(_plain(info.parameters), sort_keys=True),
        info.created_at,
    )


async def read_dataset_info(
    conn: asyncpg.Connection, *, schema: str = "public", order: Sequence[str] = ()
) -> DatasetInfo | None:
    """The dataset ``conn``'s database holds, or None when it has no metadata table or row.
    ``row_counts`` lists the tables named in ``order`` first, in that order (jsonb forgets the
    order they were written in), the others by name."""
    table = f"{quote_ident(schema)}.{DATASET_TABLE}"
    if await conn.fetchval("SELECT to_regclass($1)", table) is None:
        return None
    row = await conn.fetchrow(
        f"SELECT scale, seed, mode, generator_version, anchor_date, schema_fingerprint, "  # noqa: S608
        f"row_counts::text AS row_counts, parameters::text AS parameters, created_at "
        f"FROM {table} LIMIT 1"
    )
    if row is None:
        return None
    counts = json.loads(row["row_counts"])
    rank = {name: i for i, name in enumerate(order)}
    counts = dict(sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
    return DatasetInfo(
        scale=row["scale"],
        seed=int(row["seed"]),
        mode=row["mode"],
        generator_version=int(row["generator_version"]),
        anchor_date=row["anchor_date"],
        schema_fingerprint=row["schema_fingerprint"],
        row_counts=types.MappingProxyType({str(k): int(v) for k, v in counts.items()}),
        created_at=row["created_at"],
        parameters=types.MappingProxyType(json.loads(row["parameters"])),
    )


async def table_checksums(
    conn: asyncpg.Connection, tables: Sequence[str], *, schema: str = "public"
) -> dict[str, str]:
    """An md5 of each table's whole contents, rows in id order: equal checksums mean equal
    data, ids included (timestamps render in the session's time zone)."""
    out: dict[str, str] = {}
    for table in tables:
        qualified = f"{quote_ident(schema)}.{quote_ident(table)}"
        out[table] = str(
            await conn.fetchval(
                f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) "  # noqa: S608
                f"FROM {qualified} AS t"
            )
        )
    return out
