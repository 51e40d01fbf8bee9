"""The deadline-alert batch at each scale of scales.yaml, staged by PERF_TEST_SCALE.

Run by ``nox -s perf-<scale>`` (database up and data prepared first). Each scale: data ready
(switching datasets when needed) -> the batch, dry run, warm-up then timed repeats -> budgets
from scales.yaml -> a run record in results.jsonl. The summary at the end shows elapsed time,
e-mails, time per office, statements and memory per scale.
"""

from __future__ import annotations

import os

import pytest

from perfkit.config import Config
from perfkit.errors import PerfkitError
from perfkit.lifecycle import db_url
from perfkit.pipeline import ScaleRun, run_scale
from perfkit.staging import target_scale
from perfkit.urls import mask_url

pytestmark = pytest.mark.performance


async def test_deadline_alert_batch(
    perf_scale: str, perf_config: Config, run_id: str, perf_runs: list[ScaleRun]
) -> None:
    cfg = perf_config
    error: str | None = None
    try:
        run = await run_scale(
            cfg,
            cfg.scale(perf_scale),
            url=db_url(cfg),
            run_id=run_id,
            # nox -s perf-<target> ran `invoke prepare --scale <target>` just before
            after_prepare_task=perf_scale == target_scale(os.environ),
        )
    except PerfkitError as exc:  # one line, as the front ends print it
        error = mask_url(exc.one_line())
    if error is not None:
        pytest.fail(f"{perf_scale}: {error}", pytrace=False)
    perf_runs.append(run)
    assert run.passed, f"{perf_scale}: " + "; ".join(run.failures)
