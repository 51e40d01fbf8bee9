"""scales.yaml carries HTTP workloads (``app.workloads.<name>`` with ``kind: http``), the app
they need (``app.http``) and data variants (``variants``), checked when the file is loaded:
a mistake is one ConfigError naming its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from perfkit.config import Config, load_config
from perfkit.errors import ConfigError
from perfkit.httpconfig import http_app, http_workload
from perfkit.variants import configured_variants

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
    assert list(cfg.app.workloads) == ["review_reminders"]  # the callable ones
    assert list(cfg.app.http_workloads) == ["dashboard"]
    dashboard = http_workload(cfg, "dashboard")
    assert dashboard.load.users == 4 and dashboard.budgets["small"].statements_per_request == 2
    assert http_app(cfg).overrides.disable == ("homecare.api:rate_limit",)
    assert configured_variants(cfg)["empty_agency"].sql is not None


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
        (lambda r: r["variants"].update(Bad={"description": "d", "sql": "x"}), "variants"),
        (lambda r: r["app"].update(http_workloads={}), "app.http_workloads"),
    ],
)  # fmt: skip
def test_mistakes_name_their_key(tmp_path: Path, change: Any, key_path: str) -> None:
    raw = example()
    change(raw)
    error = refusal(tmp_path, raw)
    assert error.key_path == key_path and error.exit_code == 2
