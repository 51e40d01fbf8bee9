"""perfkit's invoke tasks: a thin front end over the ``perfkit`` package.

Run ``invoke --list`` for the tasks and ``invoke --help <task>`` for each one's flags.
Every task takes ``--config`` (default: ``$PERFKIT_CONFIG`` or ./scales.yaml); flags beat
environment variables, which beat scales.yaml, which beats built-in defaults.
"""

from __future__ import annotations

from typing import Any

from invoke.context import Context
from invoke.tasks import task

from perfkit import lifecycle
from perfkit.cli import console, guarded, load, print_table, run

CONFIG_HELP = "config file (default: $PERFKIT_CONFIG, else ./scales.yaml)"
BACKEND_HELP = "auto (default), native, docker or external"
PORT_HELP = "port of the dedicated database (default: database.port, $PERFKIT_PORT)"


def _db_flags(backend: str | None, port: int | None) -> dict[str, Any]:
    return {"database.backend": backend, "database.port": port}


@task(help={"config": CONFIG_HELP, "backend": BACKEND_HELP, "port": PORT_HELP})
def db_up(
    c: Context, config: str | None = None, backend: str | None = None, port: int | None = None
) -> None:
    """Start the dedicated PostgreSQL (idempotent) and create the test database."""
    with guarded():
        cfg = load(config, **_db_flags(backend, port))
        with console().status("bringing the database up ..."):
            status = run(lifecycle.db_up(cfg))
        verb = "started" if status.started else "already running"
        console().print(f"[green]database {verb}[/]: {status.backend}, {status.masked_url}")
        print_table("dedicated database", status.rows())


@task(
    help={
        "config": CONFIG_HELP,
        "backend": BACKEND_HELP,
        "port": PORT_HELP,
        "remove_data": "also delete perfkit's cluster (native) or volume (docker)",
    }
)
def db_down(
    c: Context,
    config: str | None = None,
    backend: str | None = None,
    port: int | None = None,
    remove_data: bool = False,
) -> None:
    """Stop the dedicated PostgreSQL; --remove-data deletes its data too."""
    with guarded():
        cfg = load(config, **_db_flags(backend, port))
        console().print(run(lifecycle.db_down(cfg, remove_data=remove_data)))


@task(help={"config": CONFIG_HELP, "backend": BACKEND_HELP, "port": PORT_HELP})
def db_status(
    c: Context, config: str | None = None, backend: str | None = None, port: int | None = None
) -> None:
    """Show the database's backend, version, port, data size and whether it is up."""
    with guarded():
        status = run(lifecycle.db_status(load(config, **_db_flags(backend, port))))
        print_table("dedicated database", status.rows())


@task(help={"config": CONFIG_HELP, "backend": BACKEND_HELP, "port": PORT_HELP})
def db_url(
    c: Context, config: str | None = None, backend: str | None = None, port: int | None = None
) -> None:
    """Print the test database URL with its password, for `export TEST_DATABASE_URL=...`."""
    with guarded():
        print(lifecycle.db_url(load(config, **_db_flags(backend, port))))
