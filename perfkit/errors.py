"""Exceptions that carry what went wrong as fields, so front ends print one line, not a traceback.

Every error perfkit raises on purpose is a :class:`PerfkitError`. Its ``exit_code`` is what the
command-line front ends exit with; ``hint`` tells the user what to do next. Messages never hold
a password: anything that formats a URL goes through :func:`perfkit.urls.mask_url`.
"""

from __future__ import annotations

from collections.abc import Sequence


class PerfkitError(Exception):
    """Base class: a message, an optional hint, and the exit status for front ends."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint as one line, for a terminal."""
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class ConfigError(PerfkitError):
    """scales.yaml (or an override) is invalid. ``key_path`` names the failing key."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        source: str,
        key_path: str,
        hint: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        prefix = f"{source}: {key_path}: " if key_path else f"{source}: "
        super().__init__(prefix + message, hint=hint)
        self.source = source
        self.key_path = key_path
        self.suggestion = suggestion


class UnknownScaleError(PerfkitError):
    """A scale name that scales.yaml does not define."""

    exit_code = 2

    def __init__(self, name: str, valid: Sequence[str]) -> None:
        super().__init__(
            f"unknown scale {name!r}; valid scales: {', '.join(valid)}",
            hint="add it under `scales:` in scales.yaml or pick one of those",
        )
        self.name = name
        self.valid = tuple(valid)


class DatabaseEnvError(PerfkitError):
    """The database environment could not be brought up, reached or stopped."""

    exit_code = 3


class PortInUseError(DatabaseEnvError):
    """The configured port is taken by a process that is not perfkit's server."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} is already in use by another process",
            hint=f"choose another port: PERFKIT_PORT={port + 1} invoke db-up "
            f"(or `--port {port + 1}`, or database.port in scales.yaml)",
        )
        self.host = host
        self.port = port


class CommandFailed(DatabaseEnvError):
    """An external command (initdb, pg_ctl, docker ...) exited non-zero."""

    def __init__(
        self, argv: Sequence[str], returncode: int, output: str, *, hint: str | None = None
    ) -> None:
        tail = " | ".join(line for line in output.strip().splitlines()[-3:] if line.strip())
        name = argv[0].rsplit("/", 1)[-1] if argv else "command"
        super().__init__(
            f"{name} failed with exit status {returncode}" + (f": {tail}" if tail else ""),
            hint=hint,
        )
        self.argv = tuple(argv)
        self.returncode = returncode
        self.output = output


class UnsafeTargetError(PerfkitError):
    """A destructive operation was pointed at a database that is not clearly a test database."""

    exit_code = 4

    def __init__(self, database: str, *, reason: str) -> None:
        super().__init__(
            f"refusing to modify database {database!r}: {reason}",
            hint=f"if you are sure, repeat its name: --confirm-database {database}",
        )
        self.database = database
