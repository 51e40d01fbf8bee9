"""docker-compose.test.yml is valid and agrees with scales.yaml (the plan's file was neither)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfkit.config import load_config
from perfkit.env.docker import compose_settings_args, engine_available


@pytest.fixture(scope="module")
def compose(project_root: Path) -> dict[str, Any]:
    data = yaml.safe_load(
        (project_root / "perfkit" / "env" / "docker-compose.test.yml").read_text()
    )
    assert isinstance(data, dict)
    return data


def test_command_is_a_list_of_single_strings(compose: dict[str, Any]) -> None:
    command = compose["services"]["postgres"]["command"]
    assert isinstance(command, list)
    assert all(isinstance(item, str) and " " not in item for item in command)
    assert command[0] == "postgres"


def test_server_settings_equal_scales_yaml(compose: dict[str, Any], config_file: Path) -> None:
    cfg = load_config(config_file, env={})
    command = compose["services"]["postgres"]["command"]
    assert command[1:] == compose_settings_args(dict(cfg.database.settings))


def test_port_database_and_user_defaults_equal_scales_yaml(
    compose: dict[str, Any], config_file: Path
) -> None:
    cfg = load_config(config_file, env={})
    service = compose["services"]["postgres"]
    (port_spec,) = service["ports"]
    match = re.fullmatch(r"127\.0\.0\.1:\$\{PERFKIT_PORT:-(\d+)\}:5432", port_spec)
    assert match, "the port must be published on loopback only"
    assert int(match.group(1)) == cfg.database.port
    env = service["environment"]
    assert env["POSTGRES_DB"] == f"${{PERFKIT_DB_NAME:-{cfg.database.name}}}"
    assert env["POSTGRES_USER"] == f"${{PERFKIT_DB_USER:-{cfg.database.user}}}"
    assert env["POSTGRES_PASSWORD"].startswith("${PERFKIT_DB_PASSWORD:?")


def test_plan_requirements_healthcheck_volume_limits(compose: dict[str, Any]) -> None:
    service = compose["services"]["postgres"]
    assert service["image"].startswith("postgres:15")
    assert service["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "pg_isready" in service["healthcheck"]["test"][1]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in service["volumes"])
    assert any(v.endswith(":/snapshots:ro") for v in service["volumes"])
    limits = service["deploy"]["resources"]["limits"]
    assert (limits["cpus"], limits["memory"]) == ("2", "4g")
    assert "perfkit-pgdata" in compose["volumes"]


def test_no_docker_cli_means_no_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no `docker` to be found
    assert engine_available() is False


def test_docker_backend_needs_an_engine_not_just_the_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The real docker CLI, pointed at an engine that is not there: auto-selection must not pick
    # docker on a machine that has only the CLI.
    if shutil.which("docker") is None:
        pytest.skip("needs the docker CLI (the engine need not run)")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    assert engine_available() is False
