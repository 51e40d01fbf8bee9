"""The ``perfkit`` console script (and ``python -m perfkit``): argparse over the command table.

``perfkit --help`` lists the commands (:data:`perfkit.commands.COMMANDS`), one line each;
``perfkit <command> --help`` explains every flag with its type (:mod:`perfkit.options`). A
command runs as :func:`execute` does it, for both front ends (the invoke tasks of
:mod:`perfkit.invoke_tasks` call it too):

1. the flags are read and checked (a bad or missing one: one line, exit status 2);
2. the config is loaded once, the flags that override it on top (``--backend``, ``--port``,
   ``--seed``, ``--mode``);
3. one :class:`~perfkit.run.Run` is made (``--as-of`` is its day; progress goes to a status line
   on stderr when stderr is a terminal; notes and warnings always go to stderr);
4. the command function runs (:func:`perfkit.exits.run`: Ctrl-C and SIGTERM stop it cleanly);
5. its report is printed on **stdout**: its text, or ``--json``; a report that says the
   command failed (a regression, a snapshot that failed verification) then exits with that
   failure's status.

Errors are one line on stderr and an exit status (:func:`perfkit.exits.guarded`). Importing this
module, and ``perfkit --help``, load neither SQLAlchemy, asyncpg, rich, invoke, numpy, pydantic
nor the application; each command imports what it uses when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import perfkit
from perfkit.commands import BY_NAME, COMMANDS, Command, failure_of
from perfkit.errors import BadFlagError
from perfkit.exits import guarded, leave, run
from perfkit.options import config_overrides, missing, read_value
from perfkit.text import clipped, quoted

PROGRAM = "perfkit"

DESCRIPTION = (
    "Cheap, daily performance tests for PostgreSQL-backed async Python applications. "
    "Results go to stdout, progress and diagnostics to stderr; errors are one line and an "
    "exit status (2 bad input, 3 environment, 4 unsafe target, 5 busy, 6 regression)."
)
EPILOG = "`perfkit <command> --help` explains a command and every flag it takes."


class StatusLine:
    """Progress on stderr: one line, rewritten in place, when stderr is a terminal (nothing
    otherwise); notes and warnings are printed as lines of their own either way."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._shown = False

    def update(self, message: str) -> None:
        """Show ``message`` as the current status (on a terminal)."""
        if not self.live:
            return
        width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
        text = " ".join(message.split())
        if len(text) > width:
            text = text[: width - 1] + "…"
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._shown = True

    def note(self, message: str) -> None:
        """Print ``message`` as a line of its own (the status line is cleared first)."""
        self.clear()
        print(message, file=self.stream, flush=True)

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _formatter(prog: str) -> argparse.HelpFormatter:
    """Help at least 120 columns wide: each command's line fits on one line."""
    width = max(shutil.get_terminal_size((120, 20)).columns, 120)
    return argparse.RawDescriptionHelpFormatter(prog, width=width, max_help_position=28)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as perfkit's: one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix(PROGRAM).strip()
        what = "command" if message.startswith("argument <command>") else "arguments"
        raise BadFlagError(what, message, value="", hint=_help_hint(command))


def _help_hint(command: str | None) -> str:
    where = f"`{PROGRAM} {command} --help`" if command else f"`{PROGRAM} --help`"
    return f"{where} lists what it takes"


def add_command(subparsers: Any, command: Command) -> argparse.ArgumentParser:
    """The subparser of one command: its description and every flag, typed."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        command.name,
        help=command.summary,
        description=command.description,
        formatter_class=_formatter,
        allow_abbrev=False,
    )
    for option in command.options:
        flags = [f for f in (option.short, option.flag) if f]
        if option.takes_value:
            parser.add_argument(
                *flags, dest=option.name, metavar=option.placeholder, default=None,
                help=option.help_text(),
            )  # fmt: skip
        else:
            parser.add_argument(
                *flags, dest=option.name, action="store_true", help=option.help_text()
            )
    return parser


def _parsed_commands(args: Sequence[str]) -> Sequence[Command]:
    """The commands the parser needs for ``args``: the one named (a parser of each of the 20
    costs ~5 ms, a tenth of ``perfkit --help``), or all of them (``perfkit --help``, an
    unknown command: the error lists them)."""
    named = BY_NAME.get(next((a for a in args if not a.startswith("-")), ""))
    return (named,) if named is not None else COMMANDS


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """The ``perfkit`` parser: one subcommand per entry of the command table."""
    parser = _Parser(
        prog=PROGRAM,
        description=DESCRIPTION,
        epilog=EPILOG,
        allow_abbrev=False,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"perfkit {perfkit.__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="<command>", title="commands", parser_class=_Parser
    )
    for command in commands:
        add_command(subparsers, command)
    return parser


def execute(
    command: Command,
    raw: Mapping[str, Any],
    *,
    program: str = PROGRAM,
    stdout: Any = None,
    status: StatusLine | None = None,
    passthrough: Sequence[str] = (),
) -> None:
    """Run ``command`` with the flags' ``raw`` values (text as given, None when not given;
    flags True or False) and print its report on ``stdout`` (see the module docstring).
    ``passthrough`` (what followed ``--``) goes to the command's ``passthrough`` keyword.
    Raises what the command raised, or its report's failure, for :func:`guarded`."""
    import inspect

    from perfkit.run import Run

    out = stdout if stdout is not None else sys.stdout
    for option in command.options:
        if option.required and raw.get(option.name) in (None, ""):
            raise missing(option, command=command.name, program=program)
    values = {o.name: read_value(o, raw.get(o.name)) for o in command.options}
    shown = status if status is not None else StatusLine()
    cfg = None
    if command.needs != "nothing":
        from perfkit.config import ConfigNotFoundError, load_config

        try:
            cfg = load_config(
                values.get("config"), overrides=config_overrides(command.by_name, values)
            )
        except ConfigNotFoundError:
            if command.needs != "config?":
                raise
    kwargs = {
        name: value
        for name, value in values.items()
        if not command.by_name[name].front_end and command.by_name[name].config_key is None
    }
    if command.passthrough is not None:
        kwargs[command.passthrough] = tuple(passthrough)
    fn = command.function()
    # a synchronous command (`perfkit perf`: pytest owns the main thread) runs as it is
    call = run if inspect.iscoroutinefunction(fn) else (lambda result: result)
    try:
        if cfg is None:  # a command that needs no config (or found none) gets no run
            report = call(fn(None, **kwargs))
        else:
            the_run = Run(
                cfg,
                today=values.get("as_of"),
                progress=shown.update,
                note=shown.note,
                allow_app=command.needs == "app",
            )
            report = call(fn(the_run, **kwargs))
    finally:
        shown.clear()
    render(report, as_json=bool(values.get("json")), stream=out)
    failure = failure_of(report)
    if failure is not None:
        raise failure


def render(report: Any, *, as_json: bool, stream: Any) -> None:
    """A command's report on ``stream``: ``to_json()`` as JSON, else ``lines()``. A reader
    that stops early (``perfkit snapshots | head -3``) ends the output quietly."""
    try:
        if as_json:
            stream.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False, default=str))
            stream.write("\n")
        else:
            for line in report.lines():
                stream.write(f"{line}\n")
        stream.flush()
    except BrokenPipeError:
        _drop_stdout(stream)


def _drop_stdout(stream: Any) -> None:
    """The reader of ``stream`` went away: point it at /dev/null, so that nothing more (not
    even Python's flush at exit) fails on it."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def script() -> NoReturn:
    """The ``perfkit`` console script and ``python -m perfkit``: :func:`main` on the command
    line, then :func:`perfkit.exits.leave` with its status (at once, when only installed code
    ran)."""
    leave(main())


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: parse ``argv`` (default: the command line), run the command,
    return its exit status (0 when it succeeded)."""
    args = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in args:  # what follows goes to the command (`perfkit perf`: to pytest)
        cut = args.index("--")
        args, passthrough = args[:cut], args[cut + 1 :]
    try:
        with guarded():
            parser = build_parser(_parsed_commands(args))
            ns, extra = parser.parse_known_args(args)
            if ns.command is None and not extra:
                parser.print_help()
                return 0
            if ns.command is None:
                raise BadFlagError(
                    extra[0],
                    f"`{PROGRAM}` takes no {quoted(extra[0])}",
                    value=clipped(extra[0]),
                    hint=_help_hint(None),
                )
            if passthrough and BY_NAME[ns.command].passthrough is None:
                extra = ["--", *extra]
            if extra:
                raise BadFlagError(
                    extra[0],
                    f"`{PROGRAM} {ns.command}` takes no {quoted(extra[0])}",
                    value=clipped(extra[0]),
                    hint=_help_hint(ns.command),
                )
            command = BY_NAME[ns.command]
            execute(
                command,
                {o.name: getattr(ns, o.name) for o in command.options},
                passthrough=passthrough,
            )
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
