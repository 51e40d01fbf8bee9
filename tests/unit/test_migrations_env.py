"""The environment migrations run in: what is kept, what is pointed at the scratch database,
what is refused (no server: the environment is data)."""

from __future__ import annotations

import os

import pytest

from perfkit.migrations_env import MigrationsEnvError, connection_kind, migrations_environment
from perfkit.urls import parse_url

SCRATCH = "postgresql://shop_test__pksch_0a1b2c:s3cret@127.0.0.1:5433/shop_test__pksch_0a1b2c"
CALLER = {
    "PATH": "/usr/bin",
    "HOME": "/home/me",
    "LC_ALL": "C.UTF-8",
    "AWS_SECRET_ACCESS_KEY": "not for migrations",
    "DATABASE_URL": "postgresql+psycopg2://app:pw@prod.example:5432/shop",
    "PGHOST": "prod.example",
    "PGDATABASE": "shop",
    "PGSERVICE": "prod",
    "PGSSLMODE": "require",
}


def environment(caller: dict[str, str], app_env: dict[str, str] | None = None) -> dict[str, str]:
    return migrations_environment(
        caller=caller,
        app_env=app_env or {},
        database_env=("APP_DB_URL",),
        url=SCRATCH,
        driver="psycopg",
        source="scales.yaml",
    )


def test_only_what_tools_need_is_inherited_and_every_database_variable_names_the_scratch() -> None:
    env = environment(CALLER)
    assert {k: env[k] for k in ("PATH", "HOME", "LC_ALL", "PGSSLMODE")} == {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LC_ALL": "C.UTF-8",
        "PGSSLMODE": "require",
    }
    assert "AWS_SECRET_ACCESS_KEY" not in env and "PGSERVICE" not in env
    scratch = SCRATCH.removeprefix("postgresql://")
    assert env["APP_DB_URL"] == "postgresql+psycopg://" + scratch
    assert env["DATABASE_URL"] == "postgresql+psycopg2://" + scratch  # the caller's scheme kept
    assert env["TEST_DATABASE_URL"] == env["PERFORMANCE_TEST_DATABASE_URL"] == env["APP_DB_URL"]
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"]) == (
        "127.0.0.1",
        "5433",
        "shop_test__pksch_0a1b2c",
    )
    assert env["PGUSER"] == "shop_test__pksch_0a1b2c" and env["PGPASSWORD"] == "s3cret"
    assert env["PGPASSFILE"] == env["PGSERVICEFILE"] == os.devnull


def test_app_env_connections_are_pointed_at_the_scratch_in_their_own_form() -> None:
    env = environment(
        {"PATH": "/usr/bin", "REPORTING_URL": "postgres://r:pw@replica/shop"},
        {
            "REPORTING_URL": "postgresql://placeholder/x",  # the caller's value wins, repointed
            "LEGACY_DSN": "host=prod.example dbname='shop prod' user=app",
            "PGSERVICE": "prod",  # chooses a server even from app.env: left out
            "SECRET_KEY": "placeholder",
        },
    )
    assert env["REPORTING_URL"] == "postgres://" + SCRATCH.removeprefix("postgresql://")
    assert env["LEGACY_DSN"] == (
        "host=127.0.0.1 port=5433 dbname=shop_test__pksch_0a1b2c "
        "user=shop_test__pksch_0a1b2c password=s3cret"
    )
    assert "PGSERVICE" not in env and env["SECRET_KEY"] == "placeholder"


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://app:p@ss/word@db.example/shop",  # read two ways
        '{"url": "postgresql://app:pw@db.example/shop"}',  # a URL inside other text
    ],
)
def test_a_connection_perfkit_cannot_repoint_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(MigrationsEnvError) as caught:
        environment({}, {"SETTINGS": value})
    assert caught.value.variable == "SETTINGS"
    assert caught.value.key_path == "app.env.SETTINGS"
    assert "pw" not in caught.value.one_line() and "p@ss" not in caught.value.one_line()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("postgresql+asyncpg://u@h/db", "url"),
        ("  POSTGRES://h/db", "url"),
        ("host=db dbname=shop", "keywords"),
        ("dbname = 'my shop'  sslmode=require", "keywords"),
        ("sslmode=require", None),  # chooses no server
        ("rs=0:di=01;34", None),  # LS_COLORS: not libpq's keywords
        ("host=db --verbose", None),  # not all pairs: libpq would refuse it too
        ("plain text", None),
        ("", None),
    ],
)
def test_what_reads_as_a_connection(value: str, kind: str | None) -> None:
    assert connection_kind(value) == kind


def test_a_password_with_quotes_survives_the_keyword_form() -> None:
    url = "postgresql://u:it%27s%20a%5Cpw@127.0.0.1:5433/db"
    env = migrations_environment(
        caller={},
        app_env={"DSN": "host=x"},
        database_env=(),
        url=url,
        driver="asyncpg",
        source="scales.yaml",
    )
    assert env["DSN"] == "host=127.0.0.1 port=5433 dbname=db user=u password='it\\'s a\\\\pw'"
    assert parse_url(url).password == "it's a\\pw"
