"""The models on record (perfkit.schema_record): given back only while nothing that made them
changed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import msgspec
import pytest

from perfkit.apps.welfare import application
from perfkit.config import Config, load_config
from perfkit.schema_record import MEMO_FILE, models_on_record, record_models, write_json

MODELS = "perfkit.apps.welfare.models"


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return msgspec.structs.replace(load_config(None), state_dir=tmp_path / "state")


def _helper_module(tmp_path: Path) -> str:
    """A module of the application's, imported from a file of the test's own."""
    source = tmp_path / "perfkit_record_helper.py"
    source.write_text("VALUE = 1\n")
    spec = importlib.util.spec_from_file_location("perfkit_record_helper", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["perfkit_record_helper"] = module
    spec.loader.exec_module(module)
    return "perfkit_record_helper"


def test_the_models_on_record_hold_until_a_file_that_made_them_changes(
    cfg: Config, tmp_path: Path
) -> None:
    schema = application().schema
    helper = _helper_module(tmp_path)
    try:
        record_models(cfg, schema, module=MODELS, loaded={MODELS, helper})
        assert models_on_record(cfg) is None  # no fingerprint remembered for that DDL yet
        write_json(cfg.state_dir / MEMO_FILE, {schema.digest: "0123456789abcdef"})
        found = models_on_record(cfg)
        assert found is not None
        assert (found.fingerprint, found.tables) == ("0123456789abcdef", schema.tables)
        assert found.drop_tables_sql() == schema.drop_tables_sql()
        (tmp_path / "perfkit_record_helper.py").write_text("VALUE = 22\n")  # edited
        assert models_on_record(cfg) is None
    finally:
        sys.modules.pop(helper, None)


def test_no_record_when_the_models_were_imported_before_perfkit_looked(cfg: Config) -> None:
    record_models(cfg, application().schema, module=MODELS, loaded=set())
    assert not (cfg.state_dir / "schema-models.json").exists()


def test_other_settings_find_no_record(cfg: Config) -> None:
    schema = application().schema
    record_models(cfg, schema, module=MODELS, loaded={MODELS})
    write_json(cfg.state_dir / MEMO_FILE, {schema.digest: "0123456789abcdef"})
    assert models_on_record(cfg) is not None
    other_tables = msgspec.structs.replace(cfg.app.schema, tables=tuple(reversed(schema.tables)))
    other = msgspec.structs.replace(cfg, app=msgspec.structs.replace(cfg.app, schema=other_tables))
    assert models_on_record(other) is None
