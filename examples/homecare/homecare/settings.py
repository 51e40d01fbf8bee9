"""The agency application's settings, read from the environment once, at import.

As in most deployed applications, importing this module fails when a required setting is
missing: there is no sensible default for a signing secret or for the database. perfkit
imports the application with placeholders for such settings (scales.yaml's ``app.env``) and
with ``APP_DATABASE_URL`` pointing at its test database (``app.database_env``).

=====================  ==========================================================  =========
variable               what                                                         required
=====================  ==========================================================  =========
``APP_SECRET``         signs the links in reminders                                 yes
``APP_DATABASE_URL``   the database, ``postgresql+psycopg://...`` (psycopg 3)       yes
``APP_REMINDER_FROM``  the sender of reminders                                      no
=====================  ==========================================================  =========
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

#: The only driver the application runs on.
DATABASE_SCHEME = "postgresql+psycopg://"
DEFAULT_REMINDER_FROM = "reminders@homecare.example.invalid"


class SettingsError(RuntimeError):
    """A required setting is missing or unusable."""


@dataclass(frozen=True)
class Settings:
    """The application's settings."""

    secret: str
    database_url: str
    reminder_from: str

    def __repr__(self) -> str:  # never show the secret or the database password
        return f"Settings(reminder_from={self.reminder_from!r})"


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set: the application cannot start without it")
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    url = _required(env, "APP_DATABASE_URL")
    if not url.startswith(DATABASE_SCHEME):
        raise SettingsError(f"APP_DATABASE_URL must start with {DATABASE_SCHEME} (psycopg 3)")
    return Settings(
        secret=_required(env, "APP_SECRET"),
        database_url=url,
        reminder_from=env.get("APP_REMINDER_FROM") or DEFAULT_REMINDER_FROM,
    )


#: Read at import, as the application's other modules expect.
settings = load_settings()
