"""perfkit's commands as an invoke namespace, built from the same table as the console script.

``namespace()`` gives an invoke ``Collection`` with one task per command of
:data:`perfkit.commands.COMMANDS`: the same names, the same flags (short flags included), the
same help. A task runs the command as ``perfkit <command>`` does (:func:`perfkit.console.execute`,
inside :func:`perfkit.exits.guarded`): results on stdout, one-line errors and exit statuses. A
project that wants invoke writes, in its ``tasks.py``::

    from perfkit.invoke_tasks import namespace

    ns = namespace()

``invoke <task> --help`` shows each flag's type where invoke can (``INT``); invoke calls every
other value ``STRING``, so a date, a path or a choice starts its help with its type (``DATE:``,
``PATH:``, ``{auto,template,file}:``). A value invoke would turn into a traceback (``--top abc``)
is left to perfkit, which says what is wrong in one line (exit status 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.parser.argument import Argument
from invoke.tasks import Task

from perfkit.commands import COMMANDS, Command
from perfkit.options import Option

PROGRAM = "invoke"


class TypedArgument(Argument):
    """invoke's ``Argument`` for one option: its type first in its help where invoke would
    only say ``STRING``, and a value invoke cannot cast (``--top abc`` for an ``int``) kept
    as text for perfkit to refuse in one line."""

    def __init__(self, option: Option) -> None:
        names = [option.flag.removeprefix("--")]
        if option.short:
            names.append(option.short.removeprefix("-"))
        kind: type = bool if option.kind == "flag" else int if option.kind == "int" else str
        typed = option.kind in ("date", "path", "choice", "custom")
        super().__init__(
            names=names,
            kind=kind,
            default=False if kind is bool else None,
            help=f"{option.placeholder}: {option.help_text()}" if typed else option.help_text(),
            # the keyword, when it is not the flag's name (invoke aliases it to that name)
            attr_name=option.name if option.name != names[0] else None,
        )

    def set_value(self, value: Any, cast: bool = True) -> None:
        try:
            super().set_value(value, cast=cast)
        except ValueError:
            super().set_value(value, cast=False)


class CommandTask(Task[Any]):
    """One command of the table as an invoke task."""

    def __init__(self, command: Command) -> None:
        def body(c: Context, **kwargs: Any) -> None:
            from perfkit.console import execute
            from perfkit.exits import guarded

            with guarded():
                execute(command, kwargs, program=PROGRAM)

        body.__name__ = command.name.replace("-", "_")
        body.__doc__ = command.description
        body.__module__ = __name__
        self.command = command
        super().__init__(body, name=command.name, positional=())

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        return [TypedArgument(option) for option in self.command.options]


def namespace(commands: Iterable[Command] = COMMANDS) -> Collection:
    """The invoke namespace of perfkit's commands (see the module docstring)."""
    ns = Collection()
    for command in commands:
        ns.add_task(CommandTask(command))
    return ns
