"""Reading scales.yaml strictly: the file must be a readable regular file (a directory, a FIFO,
a device or a symlink loop is said to be one, and nothing blocks on it), and duplicate keys,
deep nesting and impossible values are errors with a line number, never a silent surprise or
a traceback (:mod:`perfkit.yamlparse` parses).

:func:`read_yaml` keeps what it parsed (:mod:`perfkit.parsecache`, by the text's hash), so the
next command reading the same text imports no YAML parser: PyYAML's import is about 12 ms of
the 150 that ``perfkit db-status`` may take.

Standard library and perfkit's error and text helpers only: ``noxfile.py`` imports
:mod:`perfkit.config`, which reads through this module, from its own small environment.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

from perfkit import parsecache
from perfkit.errors import ConfigFileError

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


def read_yaml(text: str, *, source: str) -> Any:
    """``text`` parsed strictly (:func:`perfkit.yamlparse.parse`; a problem is a
    :class:`ConfigFileError`), from the cache when the same text was parsed before. Each call
    returns a tree of its own: changing it changes nothing the next call returns."""
    found = parsecache.get(text)
    if found is not parsecache.MISSING:
        return found
    from perfkit.yamlparse import parse

    tree = parse(text, source=source)
    parsecache.put(text, tree)
    return tree
