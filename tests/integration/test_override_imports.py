"""A data override that is code (``call: "module:function"``) lives in the team's checkout,
importable from ``app.import_root``. Commands that read the dataset as last built without
loading the application (``perfkit snapshots``, ``verify``: :func:`application_on_record`)
import it from there too, as a fresh process does: no PYTHONPATH."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest

from perfkit.commands.snapshots import snapshots
from perfkit.config import Config, SchemaSource
from perfkit.datagen import kinds
from perfkit.dataspec import parse_spec
from perfkit.prepare import create_snapshot
from perfkit.run import Run
from perfkit.testing import scratch_database, tiny_scale_config

pytestmark = pytest.mark.integration

MODULE = "perfkit_team_overrides_probe"


def team_config(cfg: Config, root: Path) -> Config:
    """One table whose ``label`` comes from a function in ``root``, the team's checkout."""
    (root / "schema.sql").write_text(
        "CREATE TABLE item (id integer PRIMARY KEY, label text NOT NULL);\n", encoding="utf-8"
    )
    (root / f"{MODULE}.py").write_text(
        "def label(row):\n    return f\"item {row['_index']}\"\n", encoding="utf-8"
    )
    tiny, _, _ = tiny_scale_config(cfg, root, offices=1)
    data = {"tables": {"item": {"rows": 3, "columns": {"label": {"call": f"{MODULE}:label"}}}}}
    app = msgspec.structs.replace(
        tiny.app,
        schema=SchemaSource(sql=root / "schema.sql"),
        recipe=None,
        import_root=root,
        data=parse_spec(data, source="scales.yaml", key="app.data"),
    )
    return msgspec.structs.replace(tiny, app=app, state_dir=root / "state")


async def test_snapshots_imports_the_teams_overrides_from_the_import_root(
    pg_url: str, pg_config: Config, tmp_path: Path
) -> None:
    cfg = team_config(pg_config, tmp_path)
    async with scratch_database(pg_url, "perfkit_override_imports_test", perfkit_made=True) as url:
        made = await create_snapshot(Run(cfg, db=str(url)), cfg.scale("tiny"))
        assert made.seeded and made.snapshot.manifest.scale == "tiny"
        # a new process: the checkout is not on sys.path, the module not imported
        sys.path.remove(str(tmp_path))
        sys.modules.pop(MODULE)
        kinds._PLANNED.clear()  # nor its plans
        try:
            record = Run(cfg, db=str(url)).on_record
            assert record.inferred is not None and "item" in record.inferred.tables
            listed = await snapshots(Run(cfg, db=str(url)), scale="tiny")
            assert [row.config_problem for row in listed.rows] == [None]  # the data it wants
            assert MODULE in sys.modules
        finally:
            sys.modules.pop(MODULE, None)
            if str(tmp_path) in sys.path:
                sys.path.remove(str(tmp_path))
