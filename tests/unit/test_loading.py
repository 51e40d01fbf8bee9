"""Loading the application (:mod:`perfkit.loading`).

The import guard: an application is never imported while one of its database variables names
a database that is not clearly a test database, whatever the spelling (issue 18: a URL with a
``?dbname=`` override, a libpq keyword/value string). No server: the guard refuses before
anything connects or is imported.

Warnings raised while importing the application never fail a command, whatever the process's
filters (this suite runs with ``filterwarnings = error``); a workload that fails to load says
why every time it is asked for (issue 19)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import msgspec
import pytest

from perfkit.config import Config, WorkloadConfig, load_config
from perfkit.errors import ConfigError, UnsafeTargetError
from perfkit.loading import load_application
from perfkit.run import Run

SECRET = "Sup3rSecretPw"
PROBE = "perfkit_guard_probe"


@pytest.fixture
def cfg(config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """The project's config, with a state folder of its own and an application whose models
    module records that it was imported (in ``imported``)."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # app.import_root goes first on it
    (tmp_path / f"{PROBE}.py").write_text(
        "from pathlib import Path\n"
        "Path(__file__).with_name('imported').touch()\n"
        "from perfkit.apps.welfare.models import Base as Base\n",
        encoding="utf-8",
    )
    base = load_config(config_file, env={}, overrides={"state_dir": str(tmp_path / "state")})
    schema = msgspec.structs.replace(base.app.schema, metadata=f"{PROBE}:Base")
    app = msgspec.structs.replace(
        base.app,
        import_root=tmp_path,
        schema=schema,
        env=types.MappingProxyType({"APP_DSN": "placeholder"}),
    )
    return msgspec.structs.replace(base, app=app)


def refused(cfg: Config, value: str, monkeypatch: pytest.MonkeyPatch) -> UnsafeTargetError:
    """The guard's refusal of ``APP_DSN=value`` (already set, so ``app.env`` keeps it),
    checked to come before the import and to hold no password."""
    monkeypatch.setenv("APP_DSN", value)
    monkeypatch.delitem(sys.modules, PROBE, raising=False)
    with pytest.raises(UnsafeTargetError) as info:
        load_application(Run(cfg))
    err = info.value
    assert err.exit_code == 4
    assert "APP_DSN" in err.one_line()
    assert SECRET not in err.one_line() and SECRET not in str(err.hint)
    assert cfg.app.import_root is not None
    assert not (cfg.app.import_root / "imported").exists()
    assert PROBE not in sys.modules
    return err


@pytest.mark.parametrize(
    ("value", "database"),
    [
        (f"dbname=shop_prod host=db.example user=app password={SECRET}", "shop_prod"),
        (f"host=db.example dbname = 'shop' password='{SECRET}'", "shop"),
        (f"postgresql://app:{SECRET}@db.example/shop", "shop"),
    ],
)
def test_a_variable_naming_another_database_is_refused_before_import(
    cfg: Config, monkeypatch: pytest.MonkeyPatch, value: str, database: str
) -> None:
    err = refused(cfg, value, monkeypatch)
    assert err.database == database and err.rule == "name"


@pytest.mark.parametrize(
    "value",
    [
        # read as perfkit_test by perfkit's path reading, as shop_prod by libpq / SQLAlchemy
        f"postgresql://app:{SECRET}@db.example/perfkit_test?dbname=shop_prod",
        f"postgresql+asyncpg://app:{SECRET}@db.example/perfkit_test?database=shop_prod",
        # no dbname: libpq would take PGDATABASE or the user's name
        f"host=db.example user=shop_prod password={SECRET}",
        # the database is in a service file
        "service=shop dbname=perfkit_test",
    ],
)
def test_a_variable_that_reads_as_more_than_one_database_is_refused_before_import(
    cfg: Config, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    err = refused(cfg, value, monkeypatch)
    assert err.rule == "ambiguous"


@pytest.mark.parametrize(
    "value",
    [
        "placeholder",
        "debug=1",  # a setting, not a connection string: no key libpq knows
        f"dbname=perfkit_test host=127.0.0.1 password={SECRET}",
        f"postgresql://app:{SECRET}@127.0.0.1/perfkit_test?sslmode=disable",
    ],
)
def test_ordinary_settings_and_test_databases_pass(
    cfg: Config, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("APP_DSN", value)
    monkeypatch.delitem(sys.modules, PROBE, raising=False)
    load_application(Run(cfg))
    assert cfg.app.import_root is not None
    assert (cfg.app.import_root / "imported").exists()


def test_a_warning_at_import_is_reported_once_and_never_fails_the_load(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keikakun_back's models import ``crypt`` (a DeprecationWarning), and perfkit's own
    ``filterwarnings = error`` (in force here) made every command fail on it."""
    (tmp_path / f"{PROBE}.py").write_text(
        "import warnings\n"
        "warnings.warn(\"'crypt' is deprecated and slated for removal\", DeprecationWarning)\n"
        "warnings.warn(\"'crypt' is deprecated and slated for removal\", DeprecationWarning)\n"
        "from perfkit.apps.welfare.models import Base as Base\n",
        encoding="utf-8",
    )
    monkeypatch.delitem(sys.modules, PROBE, raising=False)
    said: list[str] = []
    app = load_application(Run(cfg, note=said.append))
    assert app.tables  # loaded
    assert said == [
        f"warning: importing {PROBE}: DeprecationWarning: 'crypt' is deprecated and slated for "
        f"removal ({PROBE}.py:2); it did not stop the command"
    ]


def test_a_workload_that_fails_to_load_says_why_every_time(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader was popped before it ran: the first failure erased it, and the next request
    said "unknown workload 'deadline_alerts'; known workloads: none"."""
    (tmp_path / "broken_jobs.py").write_text("raise RuntimeError('SECRET_KEY is not set')\n")
    monkeypatch.delitem(sys.modules, "broken_jobs", raising=False)
    workloads = {"nightly": WorkloadConfig(call="broken_jobs:run")}
    broken = msgspec.structs.replace(
        cfg,
        app=msgspec.structs.replace(
            cfg.app, workloads=types.MappingProxyType(workloads), default_workload="nightly"
        ),
    )
    app = load_application(Run(broken))
    for _ in range(2):
        with pytest.raises(ConfigError) as info:
            app.workload("nightly")
        assert info.value.key_path == "app.workloads.nightly.call"
        assert "RuntimeError" in info.value.message and "SECRET_KEY" in info.value.message
