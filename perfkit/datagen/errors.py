"""Errors of seeding: each one line with a hint, through :class:`~perfkit.errors.PerfkitError`."""

from __future__ import annotations

from perfkit.errors import PerfkitError
from perfkit.urls import mask_text


class DatasetConflictError(PerfkitError):
    """The database already holds data that seeding without ``--reset`` would replace."""

    exit_code = 1


class SeedFailedError(PerfkitError):
    """The load failed or was interrupted; the database still holds what it held before."""

    exit_code = 1

    @classmethod
    def of(cls, exc: BaseException, *, hint: str) -> SeedFailedError:
        """``seeding failed: <driver error>: <its first line>`` (masked), for what
        :func:`perfkit.db.statement_failures` names."""
        text = str(exc).strip()
        detail = mask_text(text.splitlines()[0] if text else "")
        return cls(f"seeding failed: {type(exc).__name__}: {detail}", hint=hint)
