"""Records of HTTP workloads (latency percentiles, no ``batch_seconds``) beside a batch's in one
history: the gate compares each workload with its own runs, and the report renders both
kinds without mistaking one for the other (test_report.py checks their percentiles' table and
plot)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from perfkit.compare import compare_history, rules_from_config
from perfkit.config import RegressionConfig
from perfkit.history import History
from perfkit.report import build_report, render_html, render_markdown
from perfkit.results import RunRecord, read_records
from perfkit.testing import run_record


def load_record(n: int, p50: float) -> RunRecord:
    base = run_record(n, workload="dashboard")
    return dataclasses.replace(
        base,
        metrics={"latency_p50_seconds": p50, "latency_p99_seconds": p50 * 3, "throughput": 90.0,
                 "requests": 300, "errors": 0, "error_rate": 0.0, "statements_per_request": 2.0,
                 "users": 4, "prepare_seconds": 1.0},
        samples={"latency_ladder_seconds": [p50 / 2, p50, p50 * 3]},
        budgets={"p95": 0.5, "errors": 0},
    )  # fmt: skip


def test_a_history_of_batch_and_load_records_compares_and_renders() -> None:
    records = [run_record(0), load_record(1, 0.01), run_record(2), load_record(3, 0.011)]
    history = History.of(records)
    comparisons = compare_history(
        history, baseline="median:5", rules=rules_from_config(RegressionConfig()), scales=("small",)
    )
    data = build_report(history, scale_order=("small",), comparisons=comparisons)
    md, page = render_markdown(data), render_html(data)
    assert "batch" in md and "<html" in page.lower()
    # the batch's figures come from the batch's runs, not the newer load run
    assert data.summaries[0].cells["batch_seconds"].value == 0.05


def test_a_load_record_round_trips_through_results_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    base = load_record(0, 0.01)
    record = dataclasses.replace(base, dataset={**base.dataset, "variant": "empty_agency"})
    path.write_text(record.to_json() + "\n", encoding="utf-8")
    (back,) = read_records(path)
    assert back == record and back.dataset["variant"] == "empty_agency"
