"""scales.yaml carries HTTP workloads (``app.workloads.<name>`` with ``kind: http``), the app
they need (``app.http``) and data variants (``variants``), msgspec structs of the config itself,
checked when the file is loaded: a mistake is one ConfigError naming its key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfkit.config import Config, load_config
from perfkit.config_schema import config_schema
from perfkit.errors import ConfigError
from perfkit.httpconfig import HttpApp, HttpWorkload, http_app, http_workload
from perfkit.variants import VariantConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "homecare" / "scales.yaml"


def example() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return raw


def load(tmp_path: Path, raw: dict[str, Any]) -> Config:
    path = tmp_path / "scales.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_config(path, env={})


def test_the_example_declares_an_http_workload_its_app_and_a_variant(tmp_path: Path) -> None:
    cfg = load(tmp_path, example())
    assert list(cfg.app.call_workloads) == ["review_reminders"]  # kind: call, the default
    assert list(cfg.app.http_workloads) == ["dashboard"]
    dashboard = http_workload(cfg, "dashboard")
    assert isinstance(cfg.app.workloads["dashboard"], HttpWorkload)
    assert dashboard.load.users == 4 and dashboard.budgets["small"].statements_per_request == 2
    assert isinstance(cfg.app.http, HttpApp) and http_app(cfg) is cfg.app.http
    assert cfg.app.http.overrides.disable == ("homecare.api:rate_limit",)
    assert isinstance(cfg.variants["empty_agency"], VariantConfig)
    assert cfg.variants["empty_agency"].statements


def test_an_http_workload_can_be_the_default(tmp_path: Path) -> None:
    raw = example()
    raw["app"]["default_workload"] = "dashboard"
    assert load(tmp_path, raw).app.default_workload == "dashboard"


def refusal(tmp_path: Path, raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, raw)
    return caught.value


def test_an_http_workload_without_the_app_is_refused(tmp_path: Path) -> None:
    raw = example()
    del raw["app"]["http"]
    assert refusal(tmp_path, raw).key_path == "app.http"


@pytest.mark.parametrize(
    ("change", "key_path"),
    [
        (lambda r: r["app"]["workloads"]["dashboard"].update(load={"users": 1}),
         "app.workloads.dashboard.load"),
        (lambda r: r["app"]["workloads"]["dashboard"].update(budgets={"small": {"p95": "x"}}),
         "app.workloads.dashboard.budgets.small"),
        (lambda r: r["app"]["http"].update(app="nope"), "app.http.app"),
        (lambda r: r["app"]["http"]["overrides"].update(disable="x"),
         "app.http.overrides.disable"),
        (lambda r: r["variants"]["empty_agency"].update(scales=["huge"]),
         "variants.empty_agency.scales"),
        (lambda r: r["variants"].update(Bad={"description": "d", "sql": "x"}), "variants.Bad"),
        (lambda r: r["app"].update(http_workloads={}), "app.http_workloads"),
        (lambda r: r["app"]["workloads"]["dashboard"].update(kind="grpc"),
         "app.workloads.dashboard.kind"),
        (lambda r: r["app"]["workloads"]["dashboard"].update(requests=[{"path": "x"}]),
         "app.workloads.dashboard.requests[0].path"),
        (lambda r: r["app"]["workloads"]["review_reminders"].update(requests=[]),
         "app.workloads.review_reminders.requests"),
        (lambda r: r["app"]["workloads"]["dashboard"].update(rows={"sql": "x", "call": "a:b"}),
         "app.workloads.dashboard.rows"),
        (lambda r: r["app"]["http"]["overrides"].update(set={"a:flag": 1}),
         "app.http.overrides.set.a:flag"),
        (lambda r: r["app"].update(data={"tables": {"t": {"count": {"unifrom": [1, 2]}}}}),
         "app.data.tables.t.count.unifrom"),
    ],
)  # fmt: skip
def test_mistakes_name_their_key(tmp_path: Path, change: Any, key_path: str) -> None:
    raw = example()
    change(raw)
    error = refusal(tmp_path, raw)
    assert error.key_path == key_path and error.exit_code == 2
    assert "\n" not in error.one_line()


def test_a_workload_without_kind_is_called_and_one_with_kind_http_is_a_script(
    tmp_path: Path,
) -> None:
    raw = example()
    raw["app"]["workloads"]["review_reminders"]["kind"] = "call"
    assert load(tmp_path, raw).app.workloads == load(tmp_path, example()).app.workloads
    del raw["app"]["workloads"]["dashboard"]["kind"]  # then it is read as a call: refused
    assert refusal(tmp_path, raw).key_path.startswith("app.workloads.dashboard")


def test_the_editor_schema_covers_the_sections_with_no_stopgap() -> None:
    defs = config_schema()["$defs"]
    for section in ("HttpApp", "HttpWorkload", "VariantConfig", "GenerationSpec", "LoadSettings"):
        assert defs[section]["additionalProperties"] is False
    workload = defs["AppConfig"]["properties"]["workloads"]["additionalProperties"]
    assert {r["$ref"] for r in workload["anyOf"]} == {
        "#/$defs/WorkloadConfig", "#/$defs/HttpWorkload"
    }  # fmt: skip
    assert "kind" not in defs["WorkloadConfig"].get("required", [])
    assert "kind" in defs["HttpWorkload"]["required"]


def test_the_sections_are_checked_where_pydantic_is_not_installed(tmp_path: Path) -> None:
    """nox's own interpreter has msgspec and PyYAML only: the HTTP, variant and data sections
    are still checked there (they used to be skipped when pydantic could not be imported)."""
    raw = example()
    raw["app"]["http"]["app"] = "not an import path"
    path = tmp_path / "scales.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    script = (
        "import sys\n"
        "sys.modules['pydantic'] = None  # as if it were not installed\n"
        "from perfkit.config import load_config\n"
        "from perfkit.errors import ConfigError\n"
        "try:\n"
        f"    load_config({str(path)!r}, env={{}})\n"
        "except ConfigError as exc:\n"
        "    print(exc.key_path)\n"
        "else:\n"
        "    print('accepted')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "app.http.app"
