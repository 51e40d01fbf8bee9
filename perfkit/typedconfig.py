"""Building scales.yaml's frozen dataclasses from plain YAML values, driven by type hints.

:func:`build` walks a dataclass's fields and :func:`coerce` checks each value against its type
hint and its field's metadata (``positive``, ``fraction``, ``port``, ``host``, ``maximum``,
...): every problem is a :class:`~perfkit.errors.ConfigError` naming the key path. Standard
library, PyYAML and perfkit's error, text and URL helpers only (``noxfile.py`` imports
:mod:`perfkit.config`, which uses this).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from perfkit.errors import ConfigError, ConfigFileError
from perfkit.text import clipped, quoted
from perfkit.urls import (
    DATABASE_NAME_HINT,
    MAX_PORT,
    PORT_HINT,
    database_name_problem,
    host_problem,
    parse_port,
)
from perfkit.yamlfile import join_key, read_yaml

#: The largest integer any key takes unless its field says otherwise (PostgreSQL's ``integer``):
#: a count, a number of seconds or a pool size past it is a typo, not a wish.
MAX_INT = 2**31 - 1


def build(
    cls: type[Any],
    raw: Any,
    *,
    path: str,
    source: str,
    fixed: Mapping[str, Any] | None = None,
    also_valid: tuple[str, ...] = (),
) -> Any:
    """``cls`` from the mapping ``raw``. ``fixed`` fields are not read from ``raw``;
    ``also_valid`` names keys the caller took out of ``raw`` already (offered in messages)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping, got {kind_of(raw)}", source=source, key_path=path)
    fixed = fixed or {}
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: f
        for f in dataclasses.fields(cls)
        if f.name not in fixed and not f.metadata.get("not_in_file")
    }
    offered = [*also_valid, *fields]
    for key in raw:
        elsewhere = next(
            (f.metadata.get("not_in_file") for f in dataclasses.fields(cls) if f.name == key),
            None,
        )
        if isinstance(elsewhere, str):
            raise ConfigError(
                "cannot be set in the config file",
                source=source,
                key_path=join_key(path, key),
                hint=elsewhere,
            )
        if key not in fields:
            key_str = clipped(str(key)) if isinstance(key, str) else quoted(key)
            close = difflib.get_close_matches(key_str, offered, n=1, cutoff=0.6)
            raise ConfigError(
                f"unknown key {quoted(key)}."
                + (f" Did you mean {close[0]!r}?" if close else "")
                + ("" if close else f" Valid keys: {', '.join(offered)}"),
                source=source,
                key_path=join_key(path, key_str),
                suggestion=close[0] if close else None,
            )
    values: dict[str, Any] = dict(fixed)
    for name, f in fields.items():
        key_path = join_key(path, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError("missing required key", source=source, key_path=key_path)
            continue
        values[name] = coerce(hints[name], raw[name], f, path=key_path, source=source)
    return cls(**values)


def coerce(tp: Any, value: Any, f: dataclasses.Field[Any] | None, *, path: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    meta = f.metadata if f is not None else {}

    def fail(expected: str) -> typing.NoReturn:
        raise ConfigError(f"expected {expected}, got {quoted(value)}", source=source, key_path=path)

    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(inner[0], value, f, path=path, source=source)
    if origin is Literal:
        if not isinstance(value, str) or value not in args:
            given = clipped(value) if isinstance(value, str) else ""
            close = difflib.get_close_matches(given, [str(a) for a in args], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"expected one of {', '.join(map(str, args))}, got {quoted(value)}.{hint}",
                source=source,
                key_path=path,
                suggestion=close[0] if close else None,
            )
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return build(tp, value, path=path, source=source)
    if tp is bool:
        if not isinstance(value, bool):
            fail("true or false")
        return value
    if tp is int:
        if meta.get("port") and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_PORT
        ):
            raise ConfigError(
                f"expected a port number from 1 to {MAX_PORT}, got {quoted(value)}",
                source=source,
                key_path=path,
                hint=PORT_HINT,
            )
        if isinstance(value, bool) or not isinstance(value, int):
            fail("a positive integer" if meta.get("positive") else "an integer")
        if meta.get("positive") and value <= 0:
            fail("a positive integer")
        if value < 0:
            fail("a non-negative integer")
        maximum = meta.get("maximum", MAX_INT)
        if value > maximum:
            fail(f"an integer of at most {maximum:,}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail("a positive number" if meta.get("positive") else "a number")
        if not math.isfinite(value):  # .nan compares false with everything, .inf is no limit
            fail("a finite number")
        if meta.get("positive") and value <= 0:
            fail("a positive number")
        if meta.get("fraction") and not 0 <= value <= 1:
            fail("a fraction between 0 and 1")
        return float(value)
    if tp is str:
        if not isinstance(value, str) or not value.strip():
            fail("a non-empty string")
        if meta.get("host") and (problem := host_problem(value)):
            raise ConfigError(f"{problem}, got {quoted(value)}", source=source, key_path=path)
        if meta.get("database_name") and (problem := database_name_problem(value)):
            raise ConfigError(problem, source=source, key_path=path, hint=DATABASE_NAME_HINT)
        return value
    if tp is Path:
        if not isinstance(value, str) or not value.strip():
            fail("a path")
        return Path(value).expanduser()
    if origin is tuple:
        if not isinstance(value, list):
            fail("a list")
        return tuple(
            coerce(args[0], v, None, path=f"{path}[{i}]", source=source)
            for i, v in enumerate(value)
        )
    if origin is Mapping or origin is dict:
        if not isinstance(value, dict):
            fail("a mapping")
        _key_tp, val_tp = args
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(
                    f"expected string keys, got {quoted(k)}", source=source, key_path=path
                )
            sub = join_key(path, clipped(k))
            if val_tp is str:
                if isinstance(v, bool) or not isinstance(v, str | int | float):
                    raise ConfigError(
                        f"expected a scalar setting, got {quoted(v)}", source=source, key_path=sub
                    )
                out[k] = str(v)
            else:
                out[k] = coerce(val_tp, v, None, path=sub, source=source)
        return types.MappingProxyType(out)
    if tp is Any:  # a workload's keyword argument: plain YAML values only
        return plain_value(value, path=path, source=source)
    raise TypeError(f"perfkit.config cannot validate type {tp!r}")  # a bug, not user input


def plain_value(value: Any, *, path: str, source: str) -> Any:
    """``value`` when it is built of null, booleans, finite numbers, strings, lists and
    string-keyed mappings (what a workload's keyword arguments may be)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ConfigError(
                f"expected an integer of at most {MAX_INT:,}", source=source, key_path=path
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError("expected a finite number", source=source, key_path=path)
        return value
    if isinstance(value, list):
        return [plain_value(v, path=f"{path}[{i}]", source=source) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {
            k: plain_value(v, path=join_key(path, clipped(k)), source=source)
            for k, v in value.items()
        }
    raise ConfigError(
        "expected plain values (null, true/false, numbers, text, lists, mappings), "
        f"got {quoted(value)}",
        source=source,
        key_path=path,
    )


def set_path(raw: dict[str, Any], key_path: str, value: Any, *, label: str, source: str) -> None:
    node = raw
    parts = key_path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(
                f"expected a mapping, got {kind_of(child)}", source=source, key_path=part
            )
        node = child
    node[parts[-1]] = value


def parse_text(text: str, *, key_path: str, source: str) -> Any:
    """A value given as text (environment variable, flag): a port strictly, the rest as YAML."""
    if key_path.endswith(".port"):
        return parse_port(text, source=source, key_path=key_path)
    return parse_scalar(text)


def parse_scalar(text: str) -> Any:
    """``text`` read as YAML by :class:`ConfigLoader` (``5``, ``true``, ``null``), or as the
    text itself when it is not YAML."""
    try:
        return read_yaml(text, source="")
    except ConfigFileError:
        return text


def kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {quoted(value)}"
    return "nothing" if value is None else quoted(value)
