"""Reading scales.yaml strictly: the file must be a readable regular file (a directory, a FIFO,
a device or a symlink loop is said to be one, and nothing blocks on it), and duplicate keys,
deep nesting and impossible values are errors with a line number, never a silent surprise or
a traceback.

The structure is checked on the parser's events (:func:`check_structure`), before any node is
built, so no depth of nesting makes anything recurse; the document is then built by PyYAML's
safe constructor on its libyaml parser when PyYAML has one (about 20 times faster than the
pure-Python parser, which is the fallback).

Standard library, PyYAML and perfkit's error and text helpers only: ``noxfile.py`` imports
:mod:`perfkit.config`, which reads through this module, from its own small environment.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
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
from perfkit.text import clipped, quoted

#: Deeper than any key of scales.yaml goes (``regression.metrics.<metric>.<rule>`` is 4).
MAX_YAML_DEPTH = 32
#: Far larger than any scales.yaml: a bigger file is not one (a log, a dump); it is not read.
MAX_CONFIG_BYTES = 1 << 20


def file_problem(path: Path) -> tuple[str, str] | None:
    """Why ``path`` cannot be read as a config file, as ``(reason, what it is)`` -- reason
    as :class:`~perfkit.errors.ConfigFileError` names it (``not_found``, ``directory``,
    ``not_regular``, ``symlink_loop``, ``permission``, ``too_large``, ``unreadable``) -- or
    None for a regular file of a config's size. Looks at the file's type and size only
    (``stat``): nothing is opened."""
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink_loop", "is a symlink loop"
        if exc.errno == errno.EACCES:
            return "permission", "cannot be read: permission denied"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            if path.is_symlink():
                return "not_found", "is a symbolic link to a file that does not exist"
            return "not_found", "config file not found"
        return "unreadable", f"cannot be read: {exc.strerror or type(exc).__name__}"
    mode = info.st_mode
    if stat.S_ISREG(mode):
        if info.st_size > MAX_CONFIG_BYTES:
            return "too_large", f"is larger than {MAX_CONFIG_BYTES} bytes: not a config"
        return None
    if stat.S_ISDIR(mode):
        return "directory", "is a directory, not a config file"
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return "not_regular", f"is {kind}, not a regular file"


def read_config_text(path: Path, *, source: str) -> str:
    """The text of the config file ``path``: a regular UTF-8 file of at most
    :data:`MAX_CONFIG_BYTES`, opened without blocking (a FIFO put there after
    :func:`file_problem` looked is refused, never waited on). Anything else is a
    :class:`ConfigFileError` saying what the path is."""

    def refuse(reason: str, what: str) -> ConfigFileError:
        return ConfigFileError(what, source=source, reason=reason, hint=_FILE_HINT)

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        found = file_problem(path)
        if found is not None:
            raise refuse(*found) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise refuse("permission", "cannot be read: permission denied") from None
        raise refuse("unreadable", f"cannot be read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise refuse("not_regular", "is not a regular file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise refuse("too_large", f"is larger than {MAX_CONFIG_BYTES} bytes: not a config")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise refuse("unreadable", f"cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise refuse("too_large", f"is larger than {MAX_CONFIG_BYTES} bytes: not a config")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse("unreadable", f"cannot be read: not UTF-8 text ({exc.reason})") from None


_FILE_HINT = (
    "pass the path of the scales.yaml file itself (--config PATH or PERFKIT_CONFIG), or run "
    "from the project folder"
)

_MERGE_TAG = "tag:yaml.org,2002:merge"


def join_key(path: str, key: str) -> str:
    shown = key if key.isprintable() and key.strip() == key and key else quoted(key)
    return f"{path}.{shown}" if path else shown


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


def read_yaml(text: str, *, source: str) -> Any:
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
