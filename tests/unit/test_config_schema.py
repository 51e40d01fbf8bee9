"""docs/scales.schema.json: current, a valid JSON Schema, and in agreement with the loader on
every committed scales.yaml and on the mistakes it refuses."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from perfkit import config_schema
from perfkit.config import load_config
from perfkit.errors import ConfigError
from perfkit.yamlfile import read_yaml

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / config_schema.SCHEMA_FILE
MODELINE = "# yaml-language-server: $schema="
#: Folders that hold no committed scales.yaml.
NOT_COMMITTED = {".venv", ".nox", ".perfkit", ".git", "node_modules", ".mypy_cache"}


def committed_configs() -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in NOT_COMMITTED]
        found += [Path(folder) / f for f in files if f == "scales.yaml"]
    return sorted(found)


CONFIGS = committed_configs()


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(COMMITTED.read_text(encoding="utf-8")))


def test_the_committed_schema_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == config_schema.render(
        config_schema.config_schema()
    ), "stale: run `python -m perfkit.config_schema docs/scales.schema.json`"


def test_the_module_writes_the_file_or_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert config_schema.main([str(tmp_path / "s.json")]) == 0
    assert (tmp_path / "s.json").read_text(encoding="utf-8") == COMMITTED.read_text("utf-8")
    assert config_schema.main([]) == 0
    assert capsys.readouterr().out == COMMITTED.read_text("utf-8")
    assert config_schema.main(["--help"]) == 2


def test_it_is_a_draft_2020_12_schema_an_editor_can_use() -> None:
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert all(d["additionalProperties"] is False for d in schema["$defs"].values())
    # the keys the file may not set are not offered
    assert {"source", "external_url"}.isdisjoint(schema["properties"])
    assert "name" not in schema["$defs"]["Scale"]["properties"]
    # descriptions: a section's docstring, a key's #: comment; defaults, paths included
    scale = schema["$defs"]["Scale"]
    assert scale["description"].startswith("One scale tier")
    assert "pytest timeout" in scale["properties"]["timeout"]["description"]
    assert schema["properties"]["state_dir"]["default"] == ".perfkit"
    workloads = schema["$defs"]["AppConfig"]["properties"]["workloads"]
    assert "deadline_alerts" in workloads["default"]


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(ROOT)) for p in CONFIGS])
def test_every_committed_scales_yaml_fits_the_schema_and_names_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith(MODELINE), f"{path}: first line should be {MODELINE}..."
    assert (path.parent / first.removeprefix(MODELINE)).resolve() == COMMITTED
    errors = [
        f"{e.json_path}: {e.message}" for e in validator().iter_errors(read_yaml(text, source=""))
    ]
    assert errors == []
    load_config(path, env={})


def test_the_committed_configs_were_found() -> None:
    names = {str(p.relative_to(ROOT)) for p in CONFIGS}
    assert {"scales.yaml", "examples/homecare/scales.yaml"} <= names


BAD: dict[str, dict[str, Any]] = {
    "unknown key": {"scales": {"small": {"ofices": 1}}},
    "scale name": {"scales": {"Small": {"offices": 1}}},
    "not positive": {"scales": {"small": {"offices": 0}}},
    "no scales": {"scales": {}},
    "choice": {"scales": {"s": {"offices": 1}}, "database": {"backend": "dockr"}},
    "port": {"scales": {"s": {"offices": 1}}, "database": {"port": 70000}},
    "set elsewhere": {"scales": {"s": {"offices": 1}}, "external_url": "postgresql://h/db"},
    "scale's name": {"scales": {"s": {"offices": 1, "name": "s"}}},
    "import path": {"scales": {"s": {"offices": 1}}, "app": {"recipe": "no_colon"}},
    "metric": {"scales": {"s": {"offices": 1}}, "regression": {"metrics": {"batch_second": {}}}},
    "setting": {"scales": {"s": {"offices": 1}}, "database": {"settings": {"work_mem": [1]}}},
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_what_the_loader_refuses_the_schema_refuses(tmp_path: Path, case: str) -> None:
    doc = BAD[case]
    assert list(validator().iter_errors(doc))
    path = tmp_path / "scales.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    with pytest.raises(ConfigError):
        load_config(path, env={})
