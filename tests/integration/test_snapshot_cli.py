"""The snapshot commands as a user meets them: exit statuses, one-line errors, no passwords."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfkit.testing import PrivateServer, one_error_line, run_invoke

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
    done = run_invoke("restore", "--scale", "small", root=project_root, env=env)
    assert done.returncode == 1
    assert "invoke snapshot --scale small" in one_error_line(done.stderr)
    bad_date = run_invoke(
        "restore", "--scale", "small", "--as-of", "soon", root=project_root, env=env
    )
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in one_error_line(bad_date.stderr)


def test_snapshot_list_restore_verify_prune_prepare(
    project_root: Path, env: dict[str, str], pg: PrivateServer
) -> None:
    password = pg.url.split(":")[2].split("@")[0]
    made = run_invoke("snapshot", "--scale", "small", root=project_root, env=env)
    assert made.returncode == 0, made.stderr
    assert "snapshot small/" in made.stderr and "seeded first" in made.stderr

    listed = run_invoke("snapshots", root=project_root, env=env)
    assert listed.returncode == 0 and "fits" in listed.stderr and "latest" in listed.stderr

    restored = run_invoke(
        "restore", "--scale", "small", "--as-of", "2030-01-01", root=project_root, env=env
    )
    assert restored.returncode == 0, restored.stderr
    assert "restored small/" in restored.stderr and "2030-01-01" in restored.stderr

    unsafe = run_invoke(
        "restore", "--scale", "small", root=project_root,
        env={**env, "PERFKIT_DATABASE": "keikakun"},
    )  # fmt: skip
    assert unsafe.returncode == 4
    assert "--confirm-database keikakun" in one_error_line(unsafe.stderr)

    assert run_invoke("verify", root=project_root, env=env).returncode == 0
    dry = run_invoke("prune", "--dry-run", "--keep", "1", root=project_root, env=env)
    assert dry.returncode == 0 and "kept per scale: small: 1" in dry.stderr

    prepared = run_invoke("prepare", "--scale", "small", root=project_root, env=env)
    assert prepared.returncode == 0, prepared.stderr
    report = json.loads((Path(env["PERFKIT_STATE_DIR"]) / "prepare" / "small.json").read_text())
    assert report["how"] in ("kept", "template") and report["scale"] == "small"

    for done in (made, listed, restored, unsafe, dry, prepared):
        assert password not in done.stdout + done.stderr

    data = next(Path(env["PERFKIT_SNAPSHOT_DIR"]).glob("small/*/staffs.copy.zst"))
    data.write_bytes(data.read_bytes()[:-7])
    refused = run_invoke("restore", "--scale", "small", root=project_root, env=env)
    assert refused.returncode == 1
    line = one_error_line(refused.stderr)
    assert "truncated" in line and "nothing was restored" in line and "hint:" in line
    checked = run_invoke("verify", root=project_root, env=env)
    assert checked.returncode == 1 and "failed verification" in checked.stderr
