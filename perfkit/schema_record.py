"""What the state folder remembers of the application's models, read without importing them.

A restore from a template or a spare needs only the schema's fingerprint and table names: the
data is already built. Importing SQLAlchemy models to learn them costs more than the restore
itself (SQLAlchemy alone is ~0.2 s), so each time perfkit imports the models
(:func:`perfkit.loading.load_application`) it remembers, in ``<state dir>/schema-models.json``:

- the digest of the DDL perfkit runs for them (:attr:`perfkit.schema.Schema.digest`, the key
  of the fingerprint memo, ``schema-fingerprints.json``), their tables and ENUM types;
- a *stamp* of every source file that went into them: the file of each module the import of
  ``app.schema.metadata`` loaded (the application's modules and what they import), of that
  module and its packages, of :mod:`perfkit.schema` and of SQLAlchemy, each with its
  modification time (nanoseconds) and size, as Python's own bytecode cache checks a source;
- filed under the settings that decide the import: the import path, the tables, the
  import root, ``app.env`` (the values in force, hashed), the interpreter and its prefix.

:func:`models_on_record` gives them back only when every file still has its time and size, and
the fingerprint of that digest is remembered: otherwise None, and the caller imports the
models as before. A stamp is never written when the models' module was imported before
perfkit looked (its dependencies cannot be known then). Settings read at import time from
other environment variables are not part of the stamp: a schema that depends on them is
imported whenever it is asked for by a command that loads the application, and that
command's record replaces this one.

This module imports neither SQLAlchemy nor the application.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfkit.sqlnames import DATASET_TABLE, quote_ident

if TYPE_CHECKING:
    from perfkit.config import Config
    from perfkit.schema import Schema

#: The file, in the state folder, that remembers the fingerprints of models' DDL.
MEMO_FILE = "schema-fingerprints.json"
#: The file, in the state folder, that remembers the models' stamps.
MODELS_FILE = "schema-models.json"
HEX16 = re.compile(r"[0-9a-f]{16}")
#: Modules whose files are always part of a stamp: perfkit's DDL and SQLAlchemy's version.
_ALWAYS = ("perfkit.sqlnames", "perfkit.schema", "sqlalchemy")


@dataclass(frozen=True)
class RecordedModels:
    """The models as last imported: their fingerprint, tables (parents first), ENUM types."""

    fingerprint: str
    tables: tuple[str, ...]
    enum_types: tuple[str, ...]

    @property
    def all_tables(self) -> tuple[str, ...]:
        """The tables a dataset of this schema holds: the application's and perfkit's own."""
        return (*self.tables, DATASET_TABLE)

    def drop_tables_sql(self, schema: str = "public") -> list[str]:
        """What :meth:`perfkit.schema.Schema.drop_tables_sql` gives for these models."""
        return drop_tables_sql(schema, self.all_tables, self.enum_types)


def drop_tables_sql(schema: str, tables: tuple[str, ...], enum_types: tuple[str, ...]) -> list[str]:
    """One ``DROP TABLE IF EXISTS ... CASCADE`` of ``tables`` (in reverse) in ``schema``, then
    one ``DROP TYPE`` of ``enum_types`` when there are any."""
    qualified = ", ".join(f"{quote_ident(schema)}.{quote_ident(n)}" for n in reversed(tables))
    out = [f"DROP TABLE IF EXISTS {qualified} CASCADE"]
    if enum_types:
        types = ", ".join(f"{quote_ident(schema)}.{quote_ident(n)}" for n in enum_types)
        out.append(f"DROP TYPE IF EXISTS {types} CASCADE")
    return out


def read_memo(cfg: Config) -> dict[str, str]:
    """The fingerprint memo: DDL digest -> fingerprint (empty when unreadable)."""
    raw = _read_json(cfg.state_dir / MEMO_FILE)
    if not isinstance(raw, dict):
        return {}
    return {
        k: v
        for k, v in raw.items()
        if isinstance(k, str) and isinstance(v, str) and HEX16.fullmatch(k) and HEX16.fullmatch(v)
    }


def write_json(path: Path, value: object) -> None:
    """Write ``value`` to ``path`` whole or not at all; a memo only, so a failure is ignored
    (without it the next command rebuilds)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(value, sort_keys=True, indent=0) + "\n", encoding="utf-8")
        partial.replace(path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _settings_key(cfg: Config) -> str:
    """The settings that decide what importing ``app.schema.metadata`` gives (module
    docstring), as one digest."""
    app = cfg.app
    env = {
        name: hashlib.sha256(os.environ.get(name, value).encode()).hexdigest()
        for name, value in sorted(app.env.items())
    }
    parts = [
        app.schema.metadata_path,
        None if app.schema.tables is None else list(app.schema.tables),
        None if app.import_root is None else str(app.import_root),
        env,
        sys.version,
        sys.prefix,
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _stamp(path: str) -> list[Any] | None:
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return [path, st.st_mtime_ns, st.st_size]


def record_models(cfg: Config, schema: Schema, *, module: str, loaded: set[str]) -> None:
    """Remember ``schema`` (the models ``app.schema.metadata`` names, from module ``module``)
    and the stamp of the files that made it; ``loaded``: the modules its import loaded.
    Nothing is written when ``module`` was imported before (``loaded`` lacks it)."""
    if module not in loaded:
        return
    parents = [module.rsplit(".", n)[0] for n in range(module.count(".") + 1)]
    files = set()
    for name in {*loaded, *parents, *_ALWAYS}:
        path = getattr(sys.modules.get(name), "__file__", None)
        if isinstance(path, str) and Path(path).is_file():
            files.add(path)
    stamps = [s for s in (_stamp(p) for p in sorted(files)) if s is not None]
    entry = {
        "digest": schema.digest,
        "tables": list(schema.tables),
        "enum_types": [name for name, _labels in schema.enum_types],
        "files": stamps,
    }
    path = cfg.state_dir / MODELS_FILE
    raw = _read_json(path)
    memo = raw if isinstance(raw, dict) else {}
    key = _settings_key(cfg)
    if memo.get(key) == entry:
        return
    memo[key] = entry
    write_json(path, memo)


def models_on_record(cfg: Config) -> RecordedModels | None:
    """The models as last imported, when nothing that made them changed since (module
    docstring) and their fingerprint is remembered; None otherwise (import them)."""
    if cfg.app.schema.kind != "metadata":
        return None
    raw = _read_json(cfg.state_dir / MODELS_FILE)
    entry = raw.get(_settings_key(cfg)) if isinstance(raw, dict) else None
    if not isinstance(entry, dict):
        return None
    try:
        digest, files = str(entry["digest"]), list(entry["files"])
        tables = tuple(str(t) for t in entry["tables"])
        enum_types = tuple(str(t) for t in entry["enum_types"])
        if not files or not tables:
            return None
        for path, mtime_ns, size in files:
            if _stamp(str(path)) != [path, mtime_ns, size]:
                return None
    except (KeyError, TypeError, ValueError):
        return None
    fingerprint = read_memo(cfg).get(digest)
    if fingerprint is None:
        return None
    return RecordedModels(fingerprint=fingerprint, tables=tables, enum_types=enum_types)
