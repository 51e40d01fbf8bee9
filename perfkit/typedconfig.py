"""scales.yaml's plain YAML values into frozen msgspec structs, and msgspec's refusals into
perfkit's words.

The building blocks every section is made of live here: :class:`Section` (frozen, unknown keys
refused) and the kinds of values scales.yaml holds (:data:`Text`, :data:`PositiveInt`,
:data:`ImportPath`...), so that a section can live in its own module (:mod:`perfkit.httpconfig`,
:mod:`perfkit.loadconfig`, :mod:`perfkit.variants`, :mod:`perfkit.dataspec`) and still be part
of :class:`perfkit.config.Config`.

msgspec does the checking: types, and the constraints written on the fields
(``Annotated[int, msgspec.Meta(ge=1)]``). :func:`build` turns what it reports (``Expected `int`,
got `str` - at `$.scales[...].offices```) into one :class:`~perfkit.errors.ConfigError`:

- the key path with the user's own keys: msgspec writes a mapping's key as ``[...]``, so the
  failing entry is found again by checking that mapping entry by entry; in a union (an HTTP or
  a callable workload, a count or a distribution) the member the value meant is followed;
- what was expected, in words, from the type and its constraints, or from the constraint's
  ``Meta(extra={"expected": ..., "hint": ...})``;
- the value, quoted short (:func:`perfkit.text.quoted`), and "Did you mean ...?" (difflib) for
  an unknown key or choice;
- a rule across keys of one section (``__post_init__`` raising ``ValueError``: "give sql or
  call, not both") in its own words, at that section's key path.

A value msgspec has no type for is a class with ``from_config(raw)`` (and ``json_schema()``
for the editors' schema), e.g. :class:`perfkit.loadconfig.LoadBudgets`, whose keys are
percentiles.

Besides: overrides put into the raw document (:func:`set_path`, :func:`parse_text`) and the
checks msgspec has no words for (:func:`first_non_finite`, :func:`plain_value`). msgspec, PyYAML,
the standard library and perfkit's error and text helpers only.

Over 500 lines: every kind of value scales.yaml holds and every msgspec refusal turned into
perfkit's one-line error live together, so that a message is written once.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
from msgspec import Meta, field

from perfkit.errors import ConfigError, ConfigFileError
from perfkit.text import MAX_INT, clipped, join_key, quoted
from perfkit.urls import MAX_PORT, PORT_HINT, parse_port
from perfkit.yamlfile import read_yaml

T = TypeVar("T")


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A part of scales.yaml: frozen, and a key it does not know is an error. Mappings read
    from the file are made read-only (:class:`types.MappingProxyType`). A subclass with a
    ``__post_init__`` of its own (a rule across its keys, raising ``ValueError`` in the user's
    words) calls this one first."""

    #: Keys of the struct the file may not set, and where they come from instead.
    set_elsewhere: ClassVar[Mapping[str, str]] = types.MappingProxyType({})

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if type(value) is dict:
                msgspec.structs.force_setattr(self, name, types.MappingProxyType(value))


def to_plain(value: Any) -> Any:
    """``value`` (a section, or anything it holds) as plain JSON-ready values: read-only
    mappings as dicts, paths as text, keys left out that were never given."""
    return msgspec.to_builtins(value, enc_hook=_plain_hook)


def _plain_hook(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Path):
        return str(value)
    raise NotImplementedError(type(value))


def frozen_map(**items: Any) -> Any:
    """A field whose default is the read-only mapping ``items``."""
    return field(default_factory=functools.partial(types.MappingProxyType, items))


# -- the kinds of values scales.yaml holds (msgspec checks the constraints; ``extra`` gives the
# -- words of a message) -------------------------------------------------------------------------

#: Text with something besides spaces in it (every free-text key).
Text = Annotated[str, Meta(pattern=r"\S")]
#: Integers: none is negative, and none goes past :data:`MAX_INT` unless its key says so.
Count = Annotated[int, Meta(ge=0, le=MAX_INT)]
PositiveInt = Annotated[int, Meta(ge=1, le=MAX_INT)]
PositiveFloat = Annotated[float, Meta(gt=0)]
NonNegativeFloat = Annotated[float, Meta(ge=0)]
Fraction = Annotated[float, Meta(ge=0, le=1)]
#: A TCP port (from the environment or a flag: plain decimal only, see :func:`parse_text`).
Port = Annotated[
    int,
    Meta(
        ge=1,
        le=MAX_PORT,
        extra={"expected": f"a port number from 1 to {MAX_PORT}", "hint": PORT_HINT},
    ),
]
#: ``module:attribute`` (the attribute may be dotted), what perfkit imports.
ImportPath = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        extra={"expected": "'module:attribute'", "hint": "for example 'myapp.tasks.nightly:run'"},
    ),
]

#: msgspec's "... - at `$.a[...].b`" (or "- at `key` in `$.a`" when a key is wrong).
_WHERE = re.compile(r" - at (?P<key>`key` in )?`(?P<path>\$[^`]*)`$")
_STEP = re.compile(r"\.(?P<field>\w+)|\[(?P<index>\d+)\]|\[\.\.\.\]")
#: How msgspec's own reports begin; anything else is a section's rule in its own words.
_MSGSPEC_WORDS = (
    "Expected ",
    "Object missing required field",
    "Object contains unknown field",
    "Invalid enum value",
    "Invalid value",
)


def build(cls: type[T], raw: Any, *, source: str, key_path: str = "") -> T:
    """``cls`` from the plain values ``raw`` (strictly: no text read as a number); what
    msgspec refuses is a :class:`ConfigError` naming ``source`` and the key path (below
    ``key_path``, where ``raw`` sits in the file)."""
    return typing.cast(T, build_value(cls, raw, source=source, key_path=key_path))


def build_value(tp: Any, raw: Any, *, source: str, key_path: str = "") -> Any:
    """:func:`build` for any type msgspec converts to (``Mapping[str, Section]``...)."""
    try:
        return msgspec.convert(raw, tp, strict=True, dec_hook=_decode)
    except msgspec.ValidationError as exc:
        raise _explain(str(exc), raw, tp, source=source, key_path=key_path) from None


def _decode(tp: type[Any], value: Any) -> Any:
    """What msgspec cannot make itself: a ``Path`` from non-blank text (``~`` expanded), and a
    class of perfkit's own from its ``from_config`` (which raises ``ValueError`` in the user's
    words)."""
    if tp is Path and isinstance(value, str) and value.strip():
        try:
            return Path(value).expanduser()
        except RuntimeError:  # ~nosuchuser
            raise ValueError("no such user's home folder") from None
    if tp is Path:
        raise ValueError("expected a path")
    from_config = getattr(tp, "from_config", None)
    if from_config is not None:
        return from_config(value)
    raise NotImplementedError(tp)  # a type scales.yaml's schema does not use: a bug


def refuse_set_elsewhere(raw: Mapping[Any, Any], cls: type[Any], *, path: str, source: str) -> None:
    """Refuse the keys of ``raw`` that ``cls.set_elsewhere`` says come from elsewhere."""
    for key, hint in getattr(cls, "set_elsewhere", {}).items():
        if key in raw:
            raise ConfigError(
                "cannot be set in the config file",
                source=source,
                key_path=join_key(path, key),
                hint=hint,
            )


# --------------------------------------------------------------------------------------------
# msgspec's report in perfkit's words


class _Spot(typing.NamedTuple):
    """Where msgspec stopped: the user's value there, its declared type, its key path."""

    value: Any
    tp: Any
    key_path: str


def _explain(report: str, raw: Any, tp: Any, *, source: str, key_path: str = "") -> ConfigError:
    where = _WHERE.search(report)
    detail = report[: where.start()] if where else report
    try:
        spot = _find(raw, tp, where.group("path") if where else "$", key_path)
        if where and where.group("key"):
            return _bad_key(spot, source=source)
        if detail.startswith("Object contains unknown field"):
            return _unknown_key(spot, source=source)
        if detail.startswith("Object missing required field"):
            return _missing_key(spot, source=source)
        if not detail.startswith(_MSGSPEC_WORDS):  # a section's rule, in its own words
            return ConfigError(clipped(detail, limit=300), source=source, key_path=spot.key_path)
        return _bad_value(spot, source=source)
    except (LookupError, StopIteration, TypeError, ValueError):  # a report not understood
        return ConfigError(clipped(detail, limit=200), source=source, key_path=key_path)


def _find(raw: Any, tp: Any, path: str, key_path: str = "") -> _Spot:
    """Walk msgspec's ``path`` (``$.a[0][...].b``) through ``raw`` and the types of ``tp``."""
    spot = _Spot(raw, tp, key_path)
    for step in _STEP.finditer(path):
        value, tp, key_path = spot
        base, _ = _resolve(tp, value)
        if step.group("field"):
            name = step.group("field")
            spot = _Spot(value[name], _field_type(base, name), join_key(key_path, name))
        elif step.group("index"):
            i = int(step.group("index"))
            spot = _Spot(value[i], typing.get_args(base)[0], f"{key_path}[{i}]")
        else:  # a mapping's value: the first entry msgspec refuses is the one it reported
            item_tp = typing.get_args(base)[1]
            key = next(k for k, v in value.items() if not _fits(v, item_tp))
            spot = _Spot(value[key], item_tp, join_key(key_path, _shown(key)))
    return spot


def _field_type(base: Any, name: str) -> Any:
    """The type of ``base``'s key ``name``: a field's, or, for the tag of a tagged struct (or
    of a union of them: ``kind``), the tags it takes."""
    tags = _tags(base)
    if tags and name == tags[0]:
        return Literal[tags[1]]
    return _field_types(base)[name]


def _tags(tp: Any) -> tuple[str, tuple[str, ...]] | None:
    """(tag field, its values) of a tagged struct, or of a union of tagged structs."""
    members = typing.get_args(tp) if _is_union(tp) else (tp,)
    structs = [m for m in members if _is_struct(m) and m.__struct_config__.tag_field]
    if not structs:
        return None
    return structs[0].__struct_config__.tag_field, tuple(
        str(m.__struct_config__.tag) for m in structs
    )


def _bad_key(spot: _Spot, *, source: str) -> ConfigError:
    """A key of the mapping at ``spot`` is refused (not text, or not of the keys' kind)."""
    value, tp, key_path = spot
    base, _ = _resolve(tp, value)
    if _is_struct(base):
        key = next(k for k in value if not isinstance(k, str))
        return _unknown_key(spot, source=source, key=key)
    key_tp = typing.get_args(base)[0]
    key = next(k for k in value if not _fits(k, key_tp))
    if not isinstance(key, str):
        return ConfigError(
            f"expected string keys, got {quoted(key)}", source=source, key_path=key_path
        )
    expected, hint = _expected(key_tp, key)
    return ConfigError(
        f"expected {expected}, got {quoted(key)}",
        source=source,
        key_path=join_key(key_path, clipped(key)),
        hint=hint,
    )


def _unknown_key(spot: _Spot, *, source: str, key: Any = None) -> ConfigError:
    value, tp, key_path = spot
    base, _ = _resolve(tp, value)
    hidden = getattr(base, "set_elsewhere", {})
    known = [f.encode_name for f in msgspec.structs.fields(base)]
    offered = [name for name in known if name not in hidden]
    tag_field = base.__struct_config__.tag_field
    if key is None:
        key = next(k for k in value if k not in known and k != tag_field)
    shown = clipped(key) if isinstance(key, str) else quoted(key)
    close = difflib.get_close_matches(shown, offered, n=1, cutoff=0.6)
    return ConfigError(
        f"unknown key {quoted(key)}."
        + (f" Did you mean {close[0]!r}?" if close else f" Valid keys: {', '.join(offered)}"),
        source=source,
        key_path=join_key(key_path, shown),
        suggestion=close[0] if close else None,
    )


def _missing_key(spot: _Spot, *, source: str) -> ConfigError:
    value, tp, key_path = spot
    base, _ = _resolve(tp, value)
    missing = next(
        f for f in msgspec.structs.fields(base) if f.required and f.encode_name not in value
    )
    expected, hint = _expected(missing.type, None)
    return ConfigError(
        f"missing: expected {expected}",
        source=source,
        key_path=join_key(key_path, missing.encode_name),
        hint=hint,
    )


def _bad_value(spot: _Spot, *, source: str) -> ConfigError:
    value, tp, key_path = spot
    expected, hint = _expected(tp, value)
    base, _ = _resolve(tp, value)
    close: list[str] = []
    if typing.get_origin(base) is Literal and isinstance(value, str):
        close = difflib.get_close_matches(clipped(value), [str(a) for a in typing.get_args(base)])
    return ConfigError(
        f"expected {expected}, got {quoted(value)}"
        + (f". Did you mean {close[0]!r}?" if close else ""),
        source=source,
        key_path=key_path,
        hint=hint,
        suggestion=close[0] if close else None,
    )


def _expected(tp: Any, value: Any) -> tuple[str, str | None]:
    """What a value of ``tp`` looks like, in words (given that ``value`` was refused), and
    the constraint's hint if it has one."""
    base, meta = _resolve(tp, value)
    extra = meta.get("extra") or {}
    return extra.get("expected") or _words(base, meta, value), extra.get("hint")


def _words(base: Any, meta: Mapping[str, Any], value: Any) -> str:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    origin = typing.get_origin(base)
    if _is_union(base):
        words = [_expected(m, _NOTHING)[0] for m in typing.get_args(base) if m is not type(None)]
        return " or ".join(dict.fromkeys(words))
    short = meta.get("min_length") and isinstance(value, list | dict) and len(value) < 1
    if base is bool:
        return "true or false"
    if base is int:
        if is_int and meta.get("le") is not None and value > meta["le"]:
            return f"an integer of at most {meta['le']:,}"
        if meta.get("ge") == 1:
            return "a positive integer"
        return "a non-negative integer" if meta.get("ge") == 0 else "an integer"
    if base is float:
        if isinstance(value, float) and not math.isfinite(value):
            return "a finite number"
        if meta.get("gt") == 0:
            return "a positive number"
        if (meta.get("ge"), meta.get("le")) == (0, 1):
            return "a fraction between 0 and 1"
        return "a number of 0 or more" if meta.get("ge") == 0 else "a number"
    if base is str:
        return "a non-empty string"
    if base is Path:
        return "a path"
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(base))
    if origin in (tuple, list):
        return "a non-empty list" if short else "a list"
    return "a non-empty mapping" if short else "a mapping"  # mappings and sections


_NOTHING: Any = object()


def _resolve(tp: Any, value: Any = _NOTHING) -> tuple[Any, dict[str, Any]]:
    """``tp`` without ``Annotated`` and ``| None``, and its constraints merged. Of a union of
    several types, the one ``value`` is meant for (:func:`_member`); a tagged union whose tag
    ``value`` does not name stays the union."""
    meta: dict[str, Any] = {}
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            for m in tp.__metadata__:
                if isinstance(m, msgspec.Meta):
                    for name in ("ge", "gt", "le", "lt", "min_length"):
                        if getattr(m, name) is not None:
                            meta[name] = getattr(m, name)
                    meta["extra"] = {**meta.get("extra", {}), **(m.extra or {})}
            tp = tp.__origin__
        elif _is_union(tp):
            member = _member(tp, value)
            if member is tp:
                return tp, meta
            tp = member
        else:
            return tp, meta


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _member(tp: Any, value: Any) -> Any:
    """The member of the union ``tp`` that ``value`` is meant for: a tagged struct by its tag,
    else the first of the value's kind (a mapping: a struct or mapping; a list: a sequence;
    a scalar: a scalar), else the first that is not ``None``."""
    members = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(members) == 1:
        return members[0]
    tags = _tags(tp)
    if tags is not None and isinstance(value, Mapping):
        tag = value.get(tags[0])
        named = [m for m in members if _is_struct(m) and m.__struct_config__.tag == tag]
        return named[0] if named else tp
    for member in members:
        base, _ = _resolve(member)
        origin = typing.get_origin(base) or base
        if isinstance(value, Mapping) and (
            _is_struct(base) or hasattr(base, "from_config") or origin in (dict, Mapping)
        ):
            return member
        if isinstance(value, list) and origin in (tuple, list):
            return member
        if (
            value is not _NOTHING
            and not isinstance(value, Mapping | list)
            and not (_is_struct(base) or origin in (tuple, list, dict, Mapping))
        ):
            return member
    return members[0]


def _field_types(cls: type[Any]) -> dict[str, Any]:
    return {f.encode_name: f.type for f in msgspec.structs.fields(cls)}


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _fits(value: Any, tp: Any) -> bool:
    try:
        msgspec.convert(value, tp, strict=True, dec_hook=_decode)
    except msgspec.ValidationError:
        return False
    return True


def _shown(key: Any) -> str:
    return clipped(key) if isinstance(key, str) else quoted(key)


# --------------------------------------------------------------------------------------------
# checks msgspec has no words for


def first_non_finite(value: Any, path: str = "", seen: set[int] | None = None) -> tuple[str, Any]:
    """The key path and value of the first ``nan`` or ``inf`` in ``value`` (structs, mappings
    and sequences, each shared one looked at once), or ``("", None)`` when there is none."""
    seen = set() if seen is None else seen
    if isinstance(value, float):
        return (path, value) if not math.isfinite(value) else ("", None)
    if isinstance(value, msgspec.Struct | Mapping | list | tuple):
        if id(value) in seen:
            return ("", None)
        seen.add(id(value))
    if isinstance(value, msgspec.Struct):
        items: Any = ((name, getattr(value, name)) for name in value.__struct_fields__)
    elif isinstance(value, Mapping):
        items = ((_shown(k), v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        return ("", None)
    for name, child in items:
        sub = f"{path}{name}" if name.startswith("[") else join_key(path, name)
        found = first_non_finite(child, sub, seen)
        if found[0]:
            return found
    return ("", None)


def plain_value(value: Any, *, path: str, source: str, seen: set[int] | None = None) -> None:
    """Refuse ``value`` unless it is built of null, booleans, finite numbers, integers up to
    :data:`MAX_INT`, strings, lists and string-keyed mappings (what a workload's keyword
    arguments may be). A list or mapping shared by YAML aliases is looked at once."""
    seen = set() if seen is None else seen
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ConfigError(
                f"expected an integer of at most {MAX_INT:,}", source=source, key_path=path
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError("expected a finite number", source=source, key_path=path)
        return
    if isinstance(value, list | Mapping) and id(value) in seen:
        return
    if isinstance(value, list):
        seen.add(id(value))
        for i, item in enumerate(value):
            plain_value(item, path=f"{path}[{i}]", source=source, seen=seen)
        return
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        seen.add(id(value))
        for k, item in value.items():
            plain_value(item, path=join_key(path, clipped(k)), source=source, seen=seen)
        return
    raise ConfigError(
        "expected plain values (null, true/false, numbers, text, lists, mappings), "
        f"got {quoted(value)}",
        source=source,
        key_path=path,
    )


# --------------------------------------------------------------------------------------------
# overrides (environment variables, flags) put into the raw document


def set_path(raw: dict[str, Any], key_path: str, value: Any, *, label: str, source: str) -> None:
    """Set ``key_path`` (``database.port``) of ``raw`` to ``value``, making mappings on the way."""
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
    """``text`` read as YAML by perfkit's strict loader (``5``, ``true``, ``null``), or as the
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
