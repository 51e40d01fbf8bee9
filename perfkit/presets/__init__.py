"""Presets: named, reusable fragments of scales.yaml's ``app.data``, written in the cardinality
language itself (one YAML file per preset in this folder, shipped with the package).

``app.data: {preset: welfare, tables: {...}}`` puts the section's own keys over the preset's
(:func:`with_preset`): top-level keys one by one; a table's cardinality (``rows``, ``per``,
``via``, ``count``, ``csv``) as a whole when the section gives any of it; its columns one by
one. Standard library, PyYAML and perfkit's YAML reader only: the configuration imports this
module.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

from perfkit.errors import ConfigError
from perfkit.yamlfile import read_yaml

#: A table's keys that say how many rows it gets: given by the team, they replace the
#: preset's together (``rows`` and ``per`` cannot both hold).
CARDINALITY = ("rows", "per", "via", "count", "csv")


def names() -> list[str]:
    """The presets perfkit ships, by name."""
    folder = resources.files(__name__)
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def read_preset(name: str, *, source: str, key_path: str) -> dict[str, Any]:
    """The preset ``name`` as plain values; :class:`ConfigError` at ``key_path`` for a name
    perfkit does not ship."""
    known = names()
    if name not in known:
        raise ConfigError(
            f"unknown preset {name!r}; presets: {', '.join(known)}",
            source=source,
            key_path=key_path,
        )
    path = resources.files(__name__).joinpath(f"{name}.yaml")
    raw = read_yaml(path.read_text(encoding="utf-8"), source=f"perfkit/presets/{name}.yaml")
    if not isinstance(raw, dict):
        raise ConfigError(
            "a preset is a mapping", source=f"perfkit/presets/{name}.yaml", key_path=""
        )
    return raw


def with_preset(raw: Mapping[str, Any], *, source: str, key_path: str) -> dict[str, Any]:
    """``raw`` (an ``app.data`` section's plain values) over the preset it names, if any (see
    the module docstring); ``raw`` itself otherwise."""
    name = raw.get("preset")
    if not isinstance(name, str):
        return dict(raw)  # no preset (a wrong type is msgspec's to name)
    preset = read_preset(name, source=source, key_path=f"{key_path}.preset")
    merged: dict[str, Any] = {**preset, **raw}
    tables = raw.get("tables")
    if isinstance(tables, Mapping) and isinstance(preset.get("tables"), Mapping):
        merged["tables"] = _merge_tables(preset["tables"], tables)
    else:
        merged["tables"] = tables if isinstance(tables, Mapping) else preset.get("tables", {})
    return merged


def _merge_tables(preset: Mapping[str, Any], team: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(preset)
    for name, mine in team.items():
        theirs = preset.get(name)
        if not isinstance(mine, Mapping) or not isinstance(theirs, Mapping):
            out[name] = mine
            continue
        table = dict(theirs)
        if any(k in mine for k in CARDINALITY):
            for k in CARDINALITY:
                table.pop(k, None)
        table.update({k: v for k, v in mine.items() if k != "columns"})
        columns = mine.get("columns")
        if isinstance(columns, Mapping) and isinstance(theirs.get("columns"), Mapping):
            table["columns"] = {**theirs["columns"], **columns}
        elif columns is not None:
            table["columns"] = columns
        out[name] = table
    return out
