"""``perfkit ab``'s refusals before anything starts, and its verdict over given pairs (no
database; tests/integration/test_ab_job.py runs whole jobs)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from perfkit.ab import MIN_ROUNDS, AbError, AbRegressionError, Side, _result, ab_job, check
from perfkit.config import load_config
from perfkit.run import Run

URL = "postgresql://perfkit@127.0.0.1:1/perfkit_test"  # nothing listens: nothing may connect


def test_too_few_rounds_are_refused_before_anything_runs(config_file: Path) -> None:
    cfg = load_config(config_file, env={})
    with pytest.raises(AbError) as info:
        asyncio.run(ab_job(Run(cfg, db=URL), base="HEAD", rounds=MIN_ROUNDS - 1))
    assert info.value.exit_code == 2 and info.value.kind == "input"


def test_a_folder_outside_git_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "scales.yaml"
    config.write_text("scales:\n  small: {offices: 1}\n", encoding="utf-8")
    with pytest.raises(AbError) as info:
        asyncio.run(ab_job(Run(load_config(config, env={}), db=URL), base="HEAD"))
    assert info.value.exit_code == 2 and "not in a git checkout" in info.value.message


def pairs(base: list[float], factor: float) -> dict[str, list[float]]:
    return {"bs": base, "cs": [b * factor for b in base], "bn": [1] * len(base),
            "cn": [1] * len(base)}  # fmt: skip


def test_the_pairs_verdict_names_time_and_keeps_statements_exact(config_file: Path) -> None:
    cfg = load_config(config_file, env={})
    base = [0.005 * (1 + 0.3 * ((i * 7) % 5 - 2) / 2) for i in range(20)]  # drifting ±30 %
    sides = (Side("base", "a" * 40, Path("/b")), Side("candidate", "b" * 40, Path("/c")))
    slower = _result(cfg, cfg.scale("small"), "deadline_alerts", sides, pairs(base, 1.5),
                     threshold=None)  # fmt: skip
    batch, statements = slower.metrics
    assert batch.verdict == "regression" and batch.rule.threshold == 0.2  # regression.threshold
    assert batch.evidence is not None and batch.evidence.paired
    assert statements.verdict == "unchanged" and not slower.ok
    assert slower.headline().endswith("20 rounds interleaved: REGRESSED batch time (median)")
    data = slower.to_dict()
    assert data["metrics"][0]["decision"] == "regression" and data["rounds"] == 20
    with pytest.raises(AbRegressionError) as info:
        check(slower)
    assert info.value.exit_code == 6
    failure = slower.failure()  # what `perfkit ab` exits with, after printing the result
    assert isinstance(failure, AbRegressionError) and failure.exit_code == 6
    assert slower.to_json() == data
    same = _result(cfg, cfg.scale("small"), "deadline_alerts", sides, pairs(base, 1.0),
                   threshold=None)  # fmt: skip
    assert same.ok and same.metrics[0].verdict == "unchanged"
    check(same)
    assert same.failure() is None
    more = pairs(base, 1.0) | {"cn": [2] * 20}  # an extra statement per run: exact
    worse = _result(cfg, cfg.scale("small"), "x", sides, more, threshold=None)
    assert [m.metric.name for m in worse.regressions] == ["statements"]
