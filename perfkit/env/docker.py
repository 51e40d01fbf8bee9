"""The docker backend: ``docker-compose.test.yml`` for users who have a Docker engine.

Chosen automatically only when an engine answers (``docker info`` succeeds), not merely when
the CLI is installed. The password is passed through the environment, never argv. The server
settings are the compose file's ``-c`` options (a unit test keeps them equal to scales.yaml's);
``up`` reports any that the running server does not have. The test database is created by
``up`` (marked as perfkit's), not by the image's entrypoint.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

from perfkit.config import Config
from perfkit.db import wait_until_ready
from perfkit.env.base import (
    ServerStatus,
    ensure_database,
    read_or_create_password,
    read_password,
    server_facts,
)
from perfkit.env.settings import report_running
from perfkit.errors import CommandFailed, DatabaseEnvError, NotSetUpError, PerfkitError
from perfkit.urls import make_url, with_database

COMPOSE_FILE = "docker-compose.test.yml"
PROJECT = "perfkit"


def compose_file(root: Path) -> Path:
    """The compose file: the project's own ``docker-compose.test.yml`` beside its config when
    it has one, else the one shipped with perfkit (its settings equal scales.yaml's defaults)."""
    own = root / COMPOSE_FILE
    return own if own.exists() else Path(__file__).with_name(COMPOSE_FILE)


def engine_available(timeout: float = 5.0) -> bool:
    """True when a Docker engine answers (the CLI alone is not enough)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        done = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def compose_settings_args(settings: dict[str, str]) -> list[str]:
    """The ``-c key=value`` arguments for ``postgres`` that scales.yaml's settings mean."""
    out: list[str] = []
    for key, value in settings.items():
        out += ["-c", f"{key}={value}"]
    return out


class DockerEnvironment:
    """PostgreSQL in Docker Compose, on the configured host port."""

    backend = "docker"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.db = cfg.database
        self.compose_file = compose_file(cfg.root)
        self._password_file = cfg.state_dir / "password"

    def url(self) -> str:
        """The database's URL; never creates the password (only ``up`` does)."""
        password = read_password(self._password_file)
        if password is None:
            raise NotSetUpError(
                "the docker database is not set up here: no password file",
                missing=str(self._password_file),
                hint="run `perfkit db-up` first",
            )
        return make_url(
            user=self.db.user, password=password,
            host="127.0.0.1", port=self.db.port, database=self.db.name,
        )  # fmt: skip

    def _compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        docker = shutil.which("docker")
        if docker is None or not self.compose_file.exists():
            raise DatabaseEnvError(
                "the docker backend needs the docker CLI and " + COMPOSE_FILE,
                hint="use --backend native, or install Docker",
            )
        env = {
            **os.environ,
            "PERFKIT_PORT": str(self.db.port),
            # The image's entrypoint would create database.name unmarked (POSTGRES_DB); naming
            # the maintenance database instead leaves it to `up`, which creates it the way the
            # native backend does: marked as perfkit's (the safety rule trusts that mark).
            "PERFKIT_DB_NAME": "postgres",
            "PERFKIT_DB_USER": self.db.user,
            "PERFKIT_DB_PASSWORD": read_or_create_password(self._password_file),
        }
        argv = [docker, "compose", "-f", str(self.compose_file), "-p", PROJECT, *args]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if check and done.returncode != 0:
            raise CommandFailed(
                argv,
                done.returncode,
                done.stdout + done.stderr,
                hint="is the Docker engine running? `docker info` tells",
            )
        return done

    async def up(self) -> ServerStatus:
        await asyncio.to_thread(self._compose, "up", "-d", "--wait")
        await wait_until_ready(with_database(self.url(), "postgres"), deadline_s=60)
        await ensure_database(self.url())
        # The settings reach the container through docker-compose.test.yml's `-c` options, not
        # from scales.yaml: say where they differ (an unknown name is a config error).
        notes = await report_running(
            self.url(), self.db.settings, source=self.cfg.source.name, strict=True
        )
        if notes:
            notes.append(("settings", f"set them in {COMPOSE_FILE}, then db-down and db-up"))
        status = await self.status()
        details = (*status.details, *notes)
        return ServerStatus(**{**status.__dict__, "started": True, "details": details})

    async def down(self, *, remove_data: bool = False) -> str:
        await asyncio.to_thread(self._compose, "down", *(["-v"] if remove_data else []))
        return "stopped the docker service" + (" and removed its volume" if remove_data else "")

    async def status(self) -> ServerStatus:
        try:
            version, size = await server_facts(self.url())
        except PerfkitError as exc:
            return ServerStatus(
                backend=self.backend,
                running=False,
                url=self.url(),
                details=(("error", exc.message),),
            )
        return ServerStatus(
            backend=self.backend,
            running=True,
            url=self.url(),
            version=version,
            data_bytes=size,
            details=(("compose file", str(self.compose_file)),),
        )
