"""Seeding's progress as a run's messages: phases and rows as progress (a status line on a
terminal), notes -- such as waiting for another command's lock -- always shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from perfkit.datagen.load import SeedProgress

if TYPE_CHECKING:
    from perfkit.run import Run


class RunSeedProgress(SeedProgress):
    """:class:`SeedProgress` reporting to ``run`` (:meth:`~perfkit.run.Run.say` and
    :meth:`~perfkit.run.Run.note`)."""

    def __init__(self, run: Run) -> None:
        self._run = run

    def phase(self, name: str) -> None:
        self._run.say(f"seeding: {name}")

    def rows(self, table: str, done: int, total: int) -> None:
        self._run.say(f"seeding: {table} {done:,} of {total:,} rows")

    def note(self, message: str) -> None:
        self._run.note(message)
