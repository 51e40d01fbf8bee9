"""scales.yaml's text parsed strictly: duplicate keys, deep nesting and impossible values are
errors with a line number, never a silent surprise or a traceback.

The structure is checked on the parser's events (:func:`check_structure`), before any node is
built, so no depth of nesting makes anything recurse; the document is then built by PyYAML's
safe constructor on its libyaml parser when PyYAML has one (about 20 times faster than the
pure-Python parser, which is the fallback).

Only :func:`perfkit.yamlfile.read_yaml` calls :func:`parse`, when its cache
(:mod:`perfkit.parsecache`) does not hold the text: a command whose scales.yaml has not
changed never imports PyYAML. Standard library, PyYAML and perfkit's error and text helpers
only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    MappingStartEvent,
    ScalarEvent,
)
from yaml.nodes import Node

from perfkit.errors import ConfigFileError
from perfkit.text import clipped, join_key, quoted

#: Deeper than any key of scales.yaml goes (``regression.metrics.<metric>.<rule>`` is 4).
MAX_YAML_DEPTH = 32

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping of the file gives the same key twice (``key_path`` names the second)."""

    def __init__(self, *, key_path: str, key: str, mark: Any) -> None:
        super().__init__(problem=f"the key {quoted(key)} is given twice", problem_mark=mark)
        self.key_path = key_path


class _TooDeepError(yaml.MarkedYAMLError):
    """The file nests deeper than :data:`MAX_YAML_DEPTH`."""

    def __init__(self, *, key_path: str, mark: Any) -> None:
        super().__init__(
            problem=f"nested more than {MAX_YAML_DEPTH} levels deep", problem_mark=mark
        )
        self.key_path = key_path


@dataclass
class _Collection:
    """A mapping or sequence the parser is inside: its key path and what comes next."""

    path: str
    mapping: bool
    seen: set[str] = field(default_factory=set)
    expect_key: bool = True
    key: str | None = None
    index: int = 0

    def place(self, event: Event) -> str:
        """The key path of the node ``event`` starts, checking a mapping's keys on the way."""
        if not self.mapping:
            self.index += 1
            return f"{self.path}[{self.index - 1}]"
        if not self.expect_key:
            self.expect_key = True
            return join_key(self.path, clipped(self.key)) if self.key is not None else self.path
        self.expect_key = False
        self.key = None
        if isinstance(event, ScalarEvent) and not _is_merge_key(event):
            if event.value in self.seen:
                raise _DuplicateKeyError(
                    key_path=join_key(self.path, clipped(event.value)),
                    key=event.value,
                    mark=event.start_mark,
                )
            self.seen.add(event.value)
            self.key = event.value
        return self.path  # a key: a complex key's insides are named by its mapping


def _is_merge_key(event: ScalarEvent) -> bool:
    plain = event.tag is None and event.implicit[0] and event.value == "<<"
    return plain or event.tag in (_MERGE_TAG, "!!merge")


def check_structure(events: Iterable[Event]) -> None:
    """Refuse a key given twice in one mapping (PyYAML keeps the last, so a second ``small:``
    would silently replace the first) and nesting deeper than :data:`MAX_YAML_DEPTH`, from the
    parser's events: no recursion, however deep the text nests. A merge key (``<<``) and an
    alias are one node each; keys are compared as written."""
    inside: list[_Collection] = []
    for event in events:
        if isinstance(event, ScalarEvent | AliasEvent | CollectionStartEvent):
            path = inside[-1].place(event) if inside else ""
            if isinstance(event, CollectionStartEvent):
                if len(inside) >= MAX_YAML_DEPTH:
                    raise _TooDeepError(key_path=clipped(path), mark=event.start_mark)
                inside.append(_Collection(path, mapping=isinstance(event, MappingStartEvent)))
        elif isinstance(event, CollectionEndEvent):
            inside.pop()


class _ValuesAsErrors:
    """A value the constructor cannot make (an integer of 5,000 digits) is a YAML error at its
    line, not a ``ValueError``."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)  # type: ignore[misc]
        except (ValueError, OverflowError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(
                problem=f"cannot read this value ({clipped(str(exc))})",
                problem_mark=node.start_mark,
            ) from None


class ConfigLoader(_ValuesAsErrors, yaml.SafeLoader):
    """PyYAML's safe loader (tags such as ``!!python/object`` stay refused), stricter still: a
    value the constructor cannot make (``2026-13-45``, an integer of 5,000 digits) is a YAML
    error at its line, not a ``ValueError``.

    Aliases stay allowed: PyYAML shares the aliased object instead of copying it, and every
    message quotes values through :func:`perfkit.text.quoted`, so even a "billion laughs"
    document costs little. Duplicate keys and depth are checked first, by
    :func:`check_structure`.
    """


class FastConfigLoader(_ValuesAsErrors, yaml.CSafeLoader):
    """:class:`ConfigLoader` on libyaml's parser."""


#: The loader :func:`read_yaml` uses: libyaml's when PyYAML was built with it.
LOADER: type[Any] = FastConfigLoader if yaml.__with_libyaml__ else ConfigLoader


def _load(text: str) -> Any:
    try:
        check_structure(yaml.parse(text, Loader=LOADER))
    except yaml.MarkedYAMLError as exc:
        if LOADER is ConfigLoader or "maximum nesting depth" not in str(exc.problem):
            raise
        # libyaml stops at 1,000 levels, looking ahead, before any event says where: the
        # Python parser goes on, to the limit of ours, which names the key
        check_structure(yaml.parse(text, Loader=ConfigLoader))
        raise
    return yaml.load(text, Loader=LOADER)  # noqa: S506 - a SafeLoader subclass


def parse(text: str, *, source: str) -> Any:
    """``text`` parsed strictly (:func:`check_structure`, :class:`ConfigLoader`); a problem is
    a :class:`ConfigFileError`."""
    try:
        return _load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = clipped(str(getattr(exc, "problem", None) or "invalid YAML"), limit=200)
        reason = (
            "duplicate_key"
            if isinstance(exc, _DuplicateKeyError)
            else "too_deep"
            if isinstance(exc, _TooDeepError)
            else "syntax"
        )
        raise ConfigFileError(
            f"not valid YAML{where}: {problem}",
            source=source,
            reason=reason,
            line=mark.line + 1 if mark else None,
            key_path=getattr(exc, "key_path", ""),
            hint="give each key once; a scale's settings go under its one name"
            if reason == "duplicate_key"
            else None,
        ) from None
    except RecursionError:  # a backstop: the depth limit above stops it first
        raise ConfigFileError(
            "not valid YAML: nested too deeply", source=source, reason="too_deep"
        ) from None
