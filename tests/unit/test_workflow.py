"""The GitHub Actions workflow agrees with scales.yaml: every frequency has its trigger, and
the planning step picks the right scales for each event."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfkit.config import load_config
from perfkit.errors import ConfigError
from perfkit.report import COMMENT_MARKER
from perfkit.schedule import (
    FREQUENCIES,
    cron_frequency,
    github_matrix,
    job_timeout_minutes,
    main,
    normalize_frequency,
    scales_for_event,
)


@pytest.fixture(scope="module")
def workflow(project_root: Path) -> dict[str, Any]:
    data = yaml.safe_load((project_root / ".github/workflows/perf.yml").read_text())
    assert isinstance(data, dict)
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert isinstance(on, dict)
    return on


def crons(workflow: dict[str, Any]) -> list[str]:
    return [entry["cron"] for entry in triggers(workflow).get("schedule", [])]


@pytest.mark.parametrize(
    ("cron", "frequency"),
    [("17 2 * * *", "daily"), ("43 3 * * 0", "weekly"), ("0 4 1 * *", "monthly")],
)
def test_cron_lines_are_classified(cron: str, frequency: str) -> None:
    assert cron_frequency(cron) == frequency


@pytest.mark.parametrize("cron", ["*/5 * * * *x", "0 4 1 1 *", "0 4 * * 1-5", "0 4"])
def test_unclassifiable_cron_lines_are_config_errors(cron: str) -> None:
    with pytest.raises(ConfigError):
        cron_frequency(cron)


def test_every_frequency_in_scales_yaml_has_a_trigger(
    config_file: Path, workflow: dict[str, Any]
) -> None:
    cfg = load_config(config_file, env={})
    on = triggers(workflow)
    scheduled = {cron_frequency(c) for c in crons(workflow)}
    for scale in cfg.scales.values():
        frequency = normalize_frequency(scale.frequency)
        assert frequency in FREQUENCIES, scale.name
        if frequency == "every-commit":
            assert {"push", "pull_request"} <= on.keys(), scale.name
        elif frequency == "manual":
            assert "workflow_dispatch" in on
        else:
            assert frequency in scheduled, f"{scale.name}: no {frequency} cron line"
    assert "workflow_dispatch" in on


def test_each_event_runs_the_plans_scales(config_file: Path, workflow: dict[str, Any]) -> None:
    cfg = load_config(config_file, env={})
    names = {s.name: s.frequency for s in cfg.scales.values()}
    assert names == {"small": "every-commit", "medium": "daily", "large": "weekly"}
    for event in ("push", "pull_request"):
        assert [s.name for s in scales_for_event(cfg, event=event)] == ["small"]
    by_cron = {
        cron: [s.name for s in scales_for_event(cfg, event="schedule", cron=cron)]
        for cron in crons(workflow)
    }
    assert sorted(by_cron.values()) == [["large"], ["medium"]]
    assert scales_for_event(cfg, event="workflow_dispatch") == ()
    manual = scales_for_event(cfg, event="workflow_dispatch", requested=["medium", "small"])
    assert [s.name for s in manual] == ["medium", "small"]


def test_job_timeouts_cover_the_staged_scales(config_file: Path) -> None:
    cfg = load_config(config_file, env={})
    # perf-large runs small, medium and large (the staging rule): all their timeouts, plus setup
    staged = sum(cfg.scale(n).timeout for n in ("small", "medium", "large"))
    assert job_timeout_minutes(cfg, cfg.scale("large")) == 15 + -(-staged // 60)
    small = github_matrix(cfg, event="push")[0]
    assert small.timeout_minutes == 15 + -(-cfg.scale("small").timeout // 60)


def test_unknown_frequency_names_the_scale(tmp_path: Path) -> None:
    path = tmp_path / "scales.yaml"
    path.write_text("scales:\n  small: {offices: 1, frequency: hourly}\n")
    with pytest.raises(ConfigError) as info:
        scales_for_event(load_config(path, env={}), event="push")
    assert info.value.key_path == "scales.small.frequency"


def test_the_planning_command_prints_a_matrix_for_github_output(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config_file), "--event", "pull_request"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("matrix=")
    cfg = load_config(config_file, env={})
    minutes = job_timeout_minutes(cfg, cfg.scale("small"))
    assert json.loads(line.removeprefix("matrix=")) == [
        {"scale": "small", "timeout_minutes": minutes}
    ]
    assert main(["--config", str(config_file), "--event", "workflow_dispatch",
                 "--scale", "small, medium"]) == 0  # fmt: skip
    include = json.loads(capsys.readouterr().out.strip().removeprefix("matrix="))
    assert [entry["scale"] for entry in include] == ["small", "medium"]
    assert main(["--config", str(config_file), "--event", "workflow_dispatch",
                 "--scale", "huge"]) == 2  # fmt: skip
    assert "unknown scale 'huge'" in capsys.readouterr().err


def test_the_perf_job_runs_the_session_reports_and_gates(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    assert "python -m perfkit.schedule" in " ".join(
        step.get("run", "") for step in jobs["plan"]["steps"]
    )
    perf = jobs["perf"]
    assert perf["needs"] == "plan"
    assert perf["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert perf["timeout-minutes"] == "${{ matrix.timeout_minutes }}"
    runs = [step.get("run", "") for step in perf["steps"]]
    uses = [step.get("uses", "") for step in perf["steps"]]
    assert any('nox -s "perf-${{ matrix.scale }}"' in r for r in runs)
    assert any("report --format both" in r for r in runs)
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    gate = next(s for s in perf["steps"] if "compare" in s.get("run", ""))
    assert gate["run"].strip() == '"$INVOKE" compare'
    assert perf["env"]["INVOKE"] == ".nox/perf-${{ matrix.scale }}/bin/invoke"


def test_pull_requests_run_the_ab_job_against_their_base(workflow: dict[str, Any]) -> None:
    steps = workflow["jobs"]["perf"]["steps"]
    ab = next(s for s in steps if '"$INVOKE" ab ' in s.get("run", ""))
    assert "github.event_name == 'pull_request'" in ab["if"]
    assert ab["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    assert '--base "$BASE_SHA"' in ab["run"] and "git fetch --no-tags --depth=1 origin" in ab["run"]
    # before the database is stopped
    names = [s.get("name", "") for s in steps]
    assert names.index(ab["name"]) < names.index("stop the database")


# -- the pull-request comment -------------------------------------------------------------------

FAKE_GH = """#!/usr/bin/env bash
# a stand-in for the GitHub CLI: lists the comment ids in $FAKE_EXISTING, records every call
printf '%s\\n' "$*" >> "$FAKE_LOG"
if [ "$2" = "--paginate" ]; then for id in $FAKE_EXISTING; do echo "$id"; done; exit 0; fi
for arg in "$@"; do
  case "$arg" in body=@*) cp "${arg#body=@}" "$FAKE_LOG.body" ;; esac
done
"""


def comment_job(workflow: dict[str, Any]) -> dict[str, Any]:
    job = workflow["jobs"]["comment"]
    assert isinstance(job, dict)
    return job


def run_comment_step(
    workflow: dict[str, Any], tmp_path: Path, *, existing: str, parts: dict[str, str]
) -> tuple[list[str], str]:
    """The comment job's script, run as GitHub runs it (bash -e -o pipefail), with a fake
    ``gh``: the calls it made and the body it sent."""
    (step,) = [s for s in comment_job(workflow)["steps"] if "run" in s]
    for scale, text in parts.items():
        folder = tmp_path / "reports" / f"perf-report-{scale}"
        folder.mkdir(parents=True)
        (folder / "comment.md").write_text(text, encoding="utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH, encoding="utf-8")
    (bin_dir / "gh").chmod(0o755)
    log = tmp_path / "gh.log"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(log),
        "FAKE_EXISTING": existing, "REPO": "team/app", "PR": "7", "GH_TOKEN": "x",
    }  # fmt: skip
    subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    body = (tmp_path / "gh.log.body").read_text(encoding="utf-8")
    return log.read_text(encoding="utf-8").splitlines(), body


def test_the_comment_job_posts_one_comment_then_updates_it(
    workflow: dict[str, Any], tmp_path: Path
) -> None:
    job = comment_job(workflow)
    assert job["needs"] == "perf" and job["permissions"]["pull-requests"] == "write"
    assert "github.event_name == 'pull_request'" in job["if"]
    small = f"{COMMENT_MARKER}\n### perfkit (small): passed\n\n✅ **small: passed**\n"
    medium = f"{COMMENT_MARKER}\n### perfkit (medium): passed\n"
    calls, body = run_comment_step(
        workflow, tmp_path / "first", existing="", parts={"small": small, "medium": medium}
    )
    assert calls[0].startswith("api --paginate repos/team/app/issues/7/comments --jq")
    assert calls[1] == "api --method POST repos/team/app/issues/7/comments -F body=@body.md"
    assert body.startswith(COMMENT_MARKER + "\n") and body.count(COMMENT_MARKER) == 1
    assert "### perfkit (small): passed" in body and "### perfkit (medium): passed" in body
    calls, _ = run_comment_step(
        workflow, tmp_path / "again", existing="42 43", parts={"small": small}
    )
    assert calls[1] == "api --method PATCH repos/team/app/issues/comments/42 -F body=@body.md"
    assert len(calls) == 2  # no new comment


def test_each_scale_writes_the_comments_markdown_before_the_upload(
    workflow: dict[str, Any],
) -> None:
    steps = workflow["jobs"]["perf"]["steps"]
    names = [s.get("name", s.get("uses", "")) for s in steps]
    write = next(s for s in steps if "--format comment" in s.get("run", ""))
    assert "--output perf-report/comment.md" in write["run"]
    assert "github.event_name == 'pull_request'" in write["if"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert names.index(write["name"]) < names.index(upload["name"])
    assert upload["with"]["name"] == "perf-report-${{ matrix.scale }}"
