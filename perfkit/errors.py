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
            hint=f"choose another port: PERFKIT_PORT={port + 1} perfkit db-up "
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
    """A destructive operation was pointed at a database that is not clearly a test database.

    ``rule`` names the part of the safety rule that refused it (:mod:`perfkit.safety`):
    ``name`` (no part of the name says test), ``production`` (a part says production),
    ``not_created`` (it would be replaced and perfkit did not create it), ``confirmation``
    (the override named another database), ``identity`` (a connection arrived in another
    database or on another server than the one checked: :mod:`perfkit.db`) or ``ambiguous``
    (an application's database variable that can be read as more than one database).
    """

    exit_code = 4

    def __init__(
        self, database: str, *, reason: str, rule: str = "name", hint: str | None = None
    ) -> None:
        super().__init__(
            f"refusing to modify database {database!r}: {reason}",
            hint=hint or f"if you are sure, repeat its name: --confirm-database {database}",
        )
        self.database = database
        self.rule = rule


class ProjectCopiedError(DatabaseEnvError):
    """This project's native state was made for another folder: it was copied or moved.

    ``state_dir`` is this project's state folder, ``original_state_dir`` the folder the state
    was made for, ``cluster`` the cluster it points at (the original's), ``moved`` whether the
    original's state is gone (a move) rather than still in use there (a copy).
    """

    def __init__(
        self,
        *,
        state_dir: str,
        original_state_dir: str,
        cluster: str,
        moved: bool,
        hint: str,
    ) -> None:
        how = "moved" if moved else "copied"
        owner = "was made for the old place" if moved else "belongs to the original"
        super().__init__(
            f"this project ({state_dir}) was {how} from {original_state_dir}: the server at "
            f"{cluster} {owner}, so nothing was done",
            hint=hint,
        )
        self.state_dir = state_dir
        self.original_state_dir = original_state_dir
        self.cluster = cluster
        self.moved = moved


class ClusterOwnershipError(DatabaseEnvError):
    """A cluster cannot be proven to belong to this project, so perfkit leaves it alone.

    ``owner`` is the state folder the cluster's marker names, when it has one.
    """

    def __init__(
        self, *, state_dir: str, cluster: str, owner: str | None, reason: str, hint: str
    ) -> None:
        super().__init__(
            f"the cluster at {cluster} is not proven to belong to this project ({state_dir}): "
            f"{reason}; nothing was done",
            hint=hint,
        )
        self.state_dir = state_dir
        self.cluster = cluster
        self.owner = owner
        self.reason = reason


class PerfkitServerOnPortError(PortInUseError):
    """The port is held by a perfkit server: an orphan, or another project's.

    ``orphan`` is true when no project's state points at that server any more (for example
    its ``.perfkit`` folder was deleted while it ran); ``owner_state_dir`` is the project it
    belongs to otherwise; ``data_deleted`` tells that its data folder no longer exists.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        pid: int,
        data_dir: str,
        orphan: bool,
        owner_state_dir: str | None,
        data_deleted: bool,
        hint: str,
    ) -> None:
        gone = " (deleted)" if data_deleted else ""
        if orphan:
            what = f"an orphaned perfkit server (pid {pid}, data {data_dir}{gone})"
        else:
            what = f"perfkit's server of another project ({owner_state_dir}, pid {pid})"
        DatabaseEnvError.__init__(
            self, f"port {port} on {host} is already in use by {what}", hint=hint
        )
        self.host = host
        self.port = port
        self.pid = pid
        self.data_dir = data_dir
        self.orphan = orphan
        self.owner_state_dir = owner_state_dir
        self.data_deleted = data_deleted


class NotSetUpError(DatabaseEnvError):
    """The database has not been set up here yet (or its state is incomplete).

    ``missing`` is the file that is missing, e.g. the password file.
    """

    def __init__(self, message: str, *, missing: str, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.missing = missing


class UrlError(ConfigError):
    """A database URL that cannot be read one way only (or names an impossible port or name).

    ``reason`` says which rule it broke, for tests and tools: ``whitespace``, ``scheme``,
    ``fragment``, ``character``, ``percent``, ``at_sign``, ``host``, ``port``, ``path``,
    ``query``, ``query_target``, ``no_database``, ``service``, ``password_twice``,
    ``database_name`` or ``empty``. The message names where the
    URL came from but never holds the URL, nor any part of it: the part it would show might
    be a piece of the password.
    """

    def __init__(self, message: str, *, source: str, reason: str, hint: str | None = None) -> None:
        super().__init__(message, source=source, key_path="", hint=hint)
        self.reason = reason
        #: What is wrong, without the source (never any part of the URL).
        self.problem = message


class SnapshotDirectoryError(PerfkitError):
    """The snapshot folder is not provably perfkit's, so perfkit neither writes nor deletes there.

    A folder is perfkit's when it carries perfkit's marker file (``.perfkit-snapshots``),
    written when perfkit first used the folder while it was new or empty. ``directory`` is
    the folder, ``reason`` why it is refused (for tests and tools).
    """

    exit_code = 2

    def __init__(self, directory: str, *, reason: str) -> None:
        super().__init__(
            f"snapshot folder {directory} is not perfkit's: {reason}; nothing was read, "
            "written or deleted there",
            hint="choose a new or empty folder (snapshots.directory in scales.yaml, or "
            "PERFKIT_SNAPSHOT_DIR) or the default .perfkit/snapshots; if it holds nothing but "
            "perfkit snapshots (copied in, or from an older perfkit), `perfkit trust --scale "
            "NAME --snapshot ID` checks one and adopts the folder",
        )
        self.directory = directory
        self.reason = reason


class SnapshotKeyError(PerfkitError):
    """The key that signs this project's snapshots cannot be used safely.

    ``path`` is the key file, ``reason`` what is wrong with it (for tests and tools).
    """

    exit_code = 2

    def __init__(self, path: str, *, reason: str, hint: str) -> None:
        super().__init__(f"snapshot key {path} cannot be used: {reason}", hint=hint)
        self.path = path
        self.reason = reason


class ConfigFileError(ConfigError):
    """The config file (or a value given as YAML text) is not YAML that perfkit accepts.

    ``reason`` says which rule it broke, for tests and tools: ``syntax`` (not YAML, a value
    YAML cannot make, or a tag such as ``!!python/object``), ``duplicate_key`` (a mapping gives
    a key twice; ``key_path`` names it), ``too_deep`` (nested deeper than any config is),
    ``unreadable`` (not a readable UTF-8 file), or what the config path is instead of a
    readable regular file: ``not_found``, ``directory``, ``not_regular`` (a FIFO, device or
    socket), ``symlink_loop``, ``permission`` or ``too_large``. ``line`` is the 1-based line,
    when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str,
        reason: str,
        line: int | None = None,
        key_path: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, source=source, key_path=key_path, hint=hint)
        self.reason = reason
        self.line = line


class BadFlagError(ConfigError):
    """A command-line flag's value that perfkit cannot use (exit status 2, like every bad input).

    ``key_path`` and ``flag`` name the flag (``--keep``); ``value`` is what was given (as the
    message quotes it: never more than a line).
    """

    def __init__(self, flag: str, message: str, *, value: str, hint: str | None = None) -> None:
        super().__init__(message, source="command line", key_path=flag, hint=hint)
        self.flag = flag
        self.value = value


class NothingMatchedError(PerfkitError):
    """What the user asked for (a snapshot id, a scale) matched nothing, so the command did
    nothing: said so, with exit status 2, instead of an empty table and success.

    ``what`` is the kind of thing (``snapshot``, ``scale``), ``name`` the name given.
    """

    exit_code = 2

    def __init__(self, message: str, *, what: str, name: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.what = what
        self.name = name


class DatasetTooLargeError(PerfkitError):
    """A dataset bigger than ``limits.max_rows``: refused before anything is written.

    ``rows`` and ``size`` are the estimate (rows of all tables, bytes on disk), ``limit`` the
    limit in force.
    """

    exit_code = 2

    def __init__(self, message: str, *, rows: int, size: int, limit: int, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.rows = rows
        self.size = size
        self.limit = limit


class RecipeError(PerfkitError):
    """An application's data recipe does not fit the tables it fills, found before any row is
    written (:mod:`perfkit.datagen.validate`); the database is left as it was.

    ``recipe`` is the recipe's import path (scales.yaml's ``app.recipe``); ``table`` and
    ``column`` say where the first problem is (``column`` is empty for a whole-table problem);
    ``problem`` names the rule it broke, for tests and tools: ``unknown_column``,
    ``not_filled``, ``generated_column``, ``null``, ``wrong_type``, ``out_of_range``,
    ``too_long``, ``not_in_enum``, ``bad_json``, ``bad_text``, ``unknown_field``,
    ``row_width``, ``generation_failed``, ``missing_table`` or ``dated_column``; ``source`` is
    where the recipe takes that column's values from (an entity field, ``Const(...)``,
    ``Computed(fn)`` or ``rows=fn``), when known. ``problems`` lists every problem found as
    ``(table, column, problem)``, the first one included.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        recipe: str,
        table: str,
        column: str,
        problem: str,
        source: str | None = None,
        problems: Sequence[tuple[str, str, str]] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.recipe = recipe
        self.table = table
        self.column = column
        self.problem = problem
        self.source = source
        self.problems = tuple(problems) or ((table, column, problem),)
