"""The snapshot commands as a user meets them: exit statuses, one-line errors, no passwords,
results on stdout and ``--json`` (in process: :func:`perfkit.testing.run_perfkit`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from perfkit.testing import PrivateServer, one_error_line, run_perfkit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(pg: PrivateServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The CLI pointed at the session's private server, with a snapshot folder of its own."""
    return {
        "PERFKIT_STATE_DIR": str(pg.cfg.state_dir),
        "PERFKIT_PORT": str(pg.cfg.database.port),
        "PERFKIT_BACKEND": "native",
        "PERFKIT_DATABASE": "perfkit_cli_snap_test",
        "PERFKIT_SNAPSHOT_DIR": str(tmp_path_factory.mktemp("cli-snapshots")),
    }


def test_restore_without_snapshots_says_how_to_make_one(
    project_root: Path, env: dict[str, str]
) -> None:
    done = run_perfkit("restore", "--scale", "small", cwd=project_root, env=env)
    assert done.returncode == 1
    assert "perfkit snapshot --scale small" in one_error_line(done.stderr)
    bad_date = run_perfkit(
        "restore", "--scale", "small", "--as-of", "soon", cwd=project_root, env=env
    )
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in one_error_line(bad_date.stderr)


def test_snapshot_list_restore_verify_prune_prepare(
    project_root: Path, env: dict[str, str], pg: PrivateServer
) -> None:
    password = pg.url.split(":")[2].split("@")[0]
    made = run_perfkit("snapshot", "--scale", "small", cwd=project_root, env=env)
    assert made.returncode == 0, made.stderr
    assert "snapshot small/" in made.stdout and "seeded first" in made.stdout

    listed = run_perfkit("snapshots", cwd=project_root, env=env)
    assert listed.returncode == 0 and "fits" in listed.stdout and "latest" in listed.stdout
    (row,) = json.loads(run_perfkit("snapshots", "--json", cwd=project_root, env=env).stdout)[
        "snapshots"
    ]
    assert row["scale"] == "small" and row["latest"] and row["trusted"] and row["fits_schema"]
    assert row["rows"] > 0 and row["config_problem"] is None

    restored = run_perfkit(
        "restore", "--scale", "small", "--as-of", "2030-01-01", cwd=project_root, env=env
    )
    assert restored.returncode == 0, restored.stderr
    assert "restored small/" in restored.stdout and "2030-01-01" in restored.stdout
    again = json.loads(
        run_perfkit("restore", "-s", "small", "--json", cwd=project_root, env=env).stdout
    )
    assert again["scale"] == "small" and again["method"] == "template"
    assert again["anchor_date"] == dt.date.today().isoformat() and again["shifted_days"] == 0

    unsafe = run_perfkit(
        "restore", "--scale", "small", cwd=project_root, env={**env, "PERFKIT_DATABASE": "keikakun"}
    )
    assert unsafe.returncode == 4
    assert "--confirm-database keikakun" in one_error_line(unsafe.stderr)

    assert run_perfkit("verify", cwd=project_root, env=env).returncode == 0
    verified = json.loads(run_perfkit("verify", "--json", cwd=project_root, env=env).stdout)
    assert verified["ok"] and [v["ok"] for v in verified["snapshots"]] == [True]
    dry = run_perfkit("prune", "--dry-run", "--keep", "1", cwd=project_root, env=env)
    assert dry.returncode == 0 and "kept per scale: small: 1" in dry.stdout

    prepared = run_perfkit("prepare", "--scale", "small", "--json", cwd=project_root, env=env)
    assert prepared.returncode == 0, prepared.stderr
    report = json.loads(prepared.stdout)
    assert report["how"] in ("kept", "template") and report["scale"] == "small"
    assert not (Path(env["PERFKIT_STATE_DIR"]) / "prepare").exists()  # no handover file

    for done in (made, listed, restored, unsafe, dry, prepared):
        assert password not in done.stdout + done.stderr

    data = next(Path(env["PERFKIT_SNAPSHOT_DIR"]).glob("small/*/staffs.copy.zst"))
    data.write_bytes(data.read_bytes()[:-7])
    refused = run_perfkit("restore", "--scale", "small", cwd=project_root, env=env)
    assert refused.returncode == 1
    line = one_error_line(refused.stderr)
    assert "truncated" in line and "nothing was restored" in line and "hint:" in line
    checked = run_perfkit("verify", cwd=project_root, env=env)
    assert checked.returncode == 1 and "failed verification" in checked.stderr
    assert "truncated" in checked.stdout  # the table first, on stdout; then the one line
    failed = run_perfkit("verify", "--json", cwd=project_root, env=env)
    assert failed.returncode == 1 and "failed verification" in one_error_line(failed.stderr)
    assert not json.loads(failed.stdout)["ok"]
