"""A terminal display of seeding progress: one rich progress bar per table."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from perfkit.datagen.load import SeedProgress


class RichSeedProgress(SeedProgress):
    """Shows the current phase and rows per table; use as a context manager."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress = Progress(
            TextColumn("{task.description:<26}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._phase: TaskID | None = None

    def __enter__(self) -> RichSeedProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def phase(self, name: str) -> None:
        if self._phase is None:
            self._phase = self._progress.add_task(name, total=None)
        self._progress.update(self._phase, description=f"[bold]{name}[/]")

    def rows(self, table: str, done: int, total: int) -> None:
        task = self._tasks.get(table)
        if task is None:
            task = self._tasks[table] = self._progress.add_task(table, total=total)
        self._progress.update(task, completed=done)

    def note(self, message: str) -> None:
        self._progress.console.print(f"[yellow]{message}[/]")


class PlainSeedProgress(SeedProgress):
    """No bars (for logs and pipes), but notes -- such as waiting for a lock -- still show."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def note(self, message: str) -> None:
        self._console.print(message)
