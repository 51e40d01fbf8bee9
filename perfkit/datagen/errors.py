"""Errors of seeding: each one line with a hint, through :class:`~perfkit.errors.PerfkitError`."""

from __future__ import annotations

from perfkit.errors import PerfkitError


class DatasetConflictError(PerfkitError):
    """The database already holds data that seeding without ``--reset`` would replace."""

    exit_code = 1


class SeedFailedError(PerfkitError):
    """The load failed or was interrupted; the database still holds what it held before."""

    exit_code = 1
