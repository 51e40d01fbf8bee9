"""THE option set: every command-line option of every command, defined once.

Both front ends build from this table: the ``perfkit`` console script
(:mod:`perfkit.console`, argparse) and the invoke namespace (:mod:`perfkit.invoke_tasks`). An
:class:`Option` is one long flag, at most one short flag, a kind (how its text is read), the
placeholder ``--help`` shows for its value (``INT``, ``DATE``, ``PATH``, ``{auto,template,file}``,
never ``STRING``), its help and default, and, where it has one, the environment variable or the
scales.yaml key it overrides. A command takes an option as it is (:data:`OPTIONS`), or with its
own help, default or requiredness (:func:`opt`): the flag, short flag and kind never change.

**One short flag, one meaning**, in every command: ``-c`` is ``--config`` everywhere, and
``--confirm-database`` has no short flag. A unit test keeps it so.

Values are read here (:func:`read_value`), before anything else runs: a bad one is a
:class:`~perfkit.errors.BadFlagError`, one line and exit status 2. Importing this module loads
nothing but :mod:`perfkit.text` and :mod:`perfkit.errors`: ``perfkit --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from perfkit.errors import BadFlagError
from perfkit.text import MAX_INT, choice, parse_day, whole_number

#: How an option's text is read: ``text`` as it is; ``int`` a whole number in its range;
#: ``date`` ``YYYY-MM-DD`` or ``today``; ``path`` a file or folder; ``choice`` one of its
#: choices; ``flag`` present or not (no value); ``custom`` through its ``parse`` function.
Kind = Literal["text", "int", "date", "path", "choice", "flag", "custom"]

#: The placeholder each kind shows in ``--help`` (a choice shows its choices).
METAVARS: Mapping[str, str] = {"int": "INT", "date": "DATE", "path": "PATH"}


@dataclass(frozen=True)
class Option:
    """One command-line option (see the module docstring)."""

    #: The keyword the command function takes (``confirm_database``).
    name: str
    #: The long flag (``--confirm-database``).
    flag: str
    #: The help line ``--help`` shows (its type and default are added by the front end).
    help: str
    kind: Kind = "text"
    #: The short flag (``-c``), if any: one meaning in every command.
    short: str | None = None
    #: The placeholder for its value in ``--help`` (default: from :data:`METAVARS`).
    metavar: str | None = None
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    #: For ``int``: the range accepted.
    minimum: int = 1
    maximum: int = MAX_INT
    #: For ``custom``: ``"module:function"`` turning the text into the value (imported only
    #: when the option is given).
    parse: str | None = None
    #: The environment variable that sets the same thing, for ``--help`` (flags beat it).
    env: str | None = None
    #: The scales.yaml key the option overrides (``database.port``): the front end loads the
    #: config with it, and the command function never sees it.
    config_key: str | None = None
    #: Read by the front end, not passed to the command function (``--config``, ``--json``,
    #: ``--as-of``: the run's day).
    front_end: bool = False

    @property
    def takes_value(self) -> bool:
        return self.kind != "flag"

    @property
    def placeholder(self) -> str:
        """What ``--help`` shows for the value: ``INT``, ``DATE``, ``PATH``, ``{a,b,c}``, or
        the option's own (``NAME``, ``ID``, ``REF``)."""
        if self.metavar:
            return self.metavar
        if self.kind == "choice":
            return "{" + ",".join(self.choices) + "}"
        return METAVARS.get(self.kind, "VALUE")

    def help_text(self) -> str:
        """The help line with its default, whether it is required and its environment
        variable, as ``--help`` shows it."""
        shown = self.help
        if self.default is not None and self.kind != "flag":
            shown += f" (default: {self.default})"
        extra = []
        if self.required:
            extra.append("required")
        if self.env:
            extra.append(f"env: ${self.env}")
        if extra:
            shown += f" [{', '.join(extra)}]"
        return shown


def read_value(option: Option, raw: Any) -> Any:
    """The value of ``option`` given as ``raw`` (text from the command line, ``None`` when
    not given): checked and converted, or a :class:`BadFlagError` naming the flag."""
    if option.kind == "flag":
        return bool(raw)
    if raw is None:
        return option.default
    text = str(raw)
    if option.kind == "int":
        return whole_number(text, flag=option.flag, minimum=option.minimum, maximum=option.maximum)
    if option.kind == "date":
        return parse_day(text, flag=option.flag)
    if option.kind == "path":
        if not text.strip():
            raise BadFlagError(option.flag, "expected a path, got nothing", value="")
        return Path(text).expanduser()
    if option.kind == "choice":
        if option.config_key is not None:  # scales.yaml's own check says it, with a suggestion
            return text
        return choice(text, flag=option.flag, choices=option.choices)
    if option.kind == "custom" and option.parse is not None:
        module, _, function = option.parse.partition(":")
        parse: Callable[[str], Any] = getattr(importlib.import_module(module), function)
        return parse(text)
    return text


def missing(option: Option, *, command: str, program: str) -> BadFlagError:
    """The error for a required ``option`` not given to ``program command`` (exit 2)."""
    return BadFlagError(
        option.flag,
        f"this flag is required by `{program} {command}`",
        value="",
        hint=f"`{program} {command} --help` lists its flags",
    )


def _o(name: str, help: str, **kw: Any) -> Option:
    flag = "--" + name.replace("_", "-")
    return Option(name=name, flag=kw.pop("flag", flag), help=help, **kw)


#: Every option, by name. Commands use them through :func:`opt`.
OPTIONS: Mapping[str, Option] = {
    o.name: o
    for o in (
        # -- what every command reads ------------------------------------------------------
        _o(
            "config",
            "the config file (default: $PERFKIT_CONFIG, else [tool.perfkit] config in the "
            "nearest pyproject.toml, else ./scales.yaml)",
            kind="path",
            short="-c",
            env="PERFKIT_CONFIG",
            front_end=True,
        ),
        _o(
            "json",
            "print the result as JSON on stdout (stable keys: docs/commands.md)",
            kind="flag",
            short="-j",
            front_end=True,
        ),
        # -- the database ----------------------------------------------------------------------
        _o(
            "backend",
            "where the dedicated PostgreSQL runs (default: database.backend in scales.yaml; "
            "auto picks one)",
            kind="choice",
            short="-b",
            choices=("auto", "native", "docker", "external"),
            env="PERFKIT_BACKEND",
            config_key="database.backend",
        ),
        _o(
            "port",
            "port of the dedicated database (default: database.port in scales.yaml)",
            kind="int",
            short="-p",
            maximum=65535,
            env="PERFKIT_PORT",
            config_key="database.port",
        ),
        _o(
            "confirm_database",
            "repeat the target database's name to allow one that is not clearly a test database",
            metavar="NAME",
        ),
        _o("remove_data", "also delete perfkit's cluster (native) or volume (docker)", kind="flag"),
        # -- scales, snapshots and data --------------------------------------------------------
        _o(
            "scale",
            "a scale of scales.yaml (small, medium, large, ...)",
            short="-s",
            metavar="NAME",
        ),
        _o("scales", "comma-separated scales", metavar="NAMES"),
        _o("snapshot", "a snapshot id (`perfkit snapshots` lists them)", short="-n", metavar="ID"),
        _o(
            "as_of",
            "date the data for this day, YYYY-MM-DD or today (default: app.run_day)",
            kind="date",
            short="-a",
            front_end=True,
        ),
        _o(
            "method",
            "auto (the template when it holds the snapshot, else the files), template or file",
            kind="choice",
            short="-m",
            choices=("auto", "template", "file"),
            default="auto",
        ),
        _o("no_prune", "do not prune old snapshots afterwards", kind="flag"),
        _o(
            "keep",
            "snapshots kept per scale, 1 or more (default: snapshots.keep)",
            kind="int",
            short="-k",
        ),
        _o("dry_run", "show what would be removed, remove nothing", kind="flag", short="-d"),
        _o(
            "seed",
            "random seed (default: data.seed in scales.yaml)",
            kind="int",
            short="-e",
            minimum=0,
            config_key="data.seed",
        ),
        _o(
            "mode",
            "realistic or plan (default: data.mode in scales.yaml)",
            kind="choice",
            choices=("realistic", "plan"),
            env="PERFKIT_DATA_MODE",
            config_key="data.mode",
        ),
        _o(
            "anchor",
            "the date generated dates are relative to, YYYY-MM-DD or today (default: today)",
            kind="date",
        ),
        _o("reset", "replace whatever the database holds (test databases only)", kind="flag"),
        _o("force", "seed even a dataset bigger than limits.max_rows in scales.yaml", kind="flag"),
        # -- results ---------------------------------------------------------------------------
        _o(
            "format",
            "md (printed, or written with --output), html, both, or comment (the pull-request "
            "comment's Markdown)",
            kind="choice",
            short="-f",
            choices=("md", "html", "both", "comment"),
            default="md",
        ),
        _o(
            "charts",
            "inline (uPlot embedded: the page opens offline) or cdn (a smaller page that loads "
            "uPlot from jsDelivr)",
            kind="choice",
            choices=("inline", "cdn"),
            default="inline",
        ),
        _o(
            "output",
            "a folder (report.md / report.html inside) or one .md/.html file "
            "(default for html/both: <results dir>/report/)",
            kind="path",
            short="-o",
        ),
        _o(
            "last",
            "runs per scale in the history tables and charts, 1 or more",
            kind="int",
            short="-l",
            default=20,
        ),
        _o(
            "baseline",
            "median:N (last N earlier runs), git:REF (runs of that commit) or run:ID "
            "(default: regression.baseline in scales.yaml)",
            metavar="SPEC",
        ),
        _o(
            "threshold",
            "fraction worse that fails, e.g. 0.3 (default: regression.threshold in scales.yaml)",
            kind="custom",
            short="-t",
            metavar="FRACTION",
            parse="perfkit.compare:parse_threshold",
        ),
        _o(
            "run_id",
            "compare this run (an id, or a unique prefix) instead of the newest",
            metavar="ID",
        ),
        _o(
            "history",
            "list the steps (change points) in every metric's history instead: the commits "
            "around each, the values before and after, and the size",
            kind="flag",
            short="-i",
        ),
        # -- workloads -------------------------------------------------------------------------
        _o(
            "workload",
            "a workload of the application (default: its default workload)",
            short="-w",
            metavar="NAME",
        ),
        _o("top", "statements to explain, 1 or more", kind="int", default=5),
        _o("base", "the git ref to measure against (a branch, tag, commit, HEAD~1)", metavar="REF"),
        _o(
            "rounds",
            "rounds of one base and one candidate run each, 10 or more (default: the "
            "scale's repeat)",
            kind="int",
            maximum=10_000,
        ),
        # -- init: a first scales.yaml -----------------------------------------------------------
        _o("sql", "the schema's SQL file (e.g. pg_dump --schema-only output)", kind="path"),
        _o(
            "metadata",
            "module:attribute of the SQLAlchemy MetaData (or declarative base)",
            metavar="MODULE:ATTR",
        ),
        _o(
            "migrations",
            "the command that builds the schema, e.g. 'alembic upgrade head'",
            metavar="COMMAND",
        ),
        _o("name", "the application's name (default: the current folder's)", metavar="NAME"),
        _o(
            "locale",
            "locale of names, e-mails, phones, addresses (Faker's, e.g. ja_JP)",
            metavar="LOCALE",
            default="en_US",
        ),
        # -- benchmarks ------------------------------------------------------------------------
        _o(
            "repeat",
            "runs of each method; medians are reported",
            kind="int",
            default=3,
            maximum=100,
        ),
        _o("repeats", "runs per case; times are medians", kind="int", default=3, maximum=100),
        _o(
            "quick",
            "skip the slow cases (the plan's method at medium, 5,000 offices)",
            kind="flag",
            short="-q",
        ),
    )
}


def opt(name: str, **changes: Any) -> Option:
    """Option ``name`` as one command takes it: its ``help``, ``default`` or ``required``
    may change, never its flags or kind."""
    allowed = {"help", "default", "required"}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"opt({name!r}) may change only {sorted(allowed)}, not {sorted(unknown)}")
    return dataclasses.replace(OPTIONS[name], **changes)


def config_overrides(options: Mapping[str, Option], values: Mapping[str, Any]) -> dict[str, Any]:
    """The scales.yaml overrides given on the command line (``{"database.port": 5434}``)."""
    return {
        option.config_key: values[name]
        for name, option in options.items()
        if option.config_key is not None and values.get(name) is not None
    }
