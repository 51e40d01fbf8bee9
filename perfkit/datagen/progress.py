"""Seeding's progress without a display: only the notes (the bars are :mod:`perfkit.views`)."""

from __future__ import annotations

from collections.abc import Callable

from perfkit.datagen.load import SeedProgress


class PlainSeedProgress(SeedProgress):
    """No bars (for logs and pipes), but notes -- such as waiting for a lock -- still show."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say

    def note(self, message: str) -> None:
        self._say(message)
