"""``invoke init`` (:mod:`perfkit.init`): a scales.yaml written from the application's schema
that loads and seeds as it is.

The schema is the vendored Pagila plus tests/schemas/extras.sql, one SQL file. The file
``init`` writes lists every table with its starting cardinality and, as comments, the
foreign-key graph and each column's generator; the one column under a CHECK perfkit cannot
read (``org_unit.zip``'s regular expression; nullable) gets ``const: null`` with the reason.
Then the file is loaded and seeded with no edit, and every table holds the rows it says.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfkit.commands.data import seed
from perfkit.commands.init import init
from perfkit.config import load_config
from perfkit.datagen.metadata import read_dataset_info
from perfkit.db import connection
from perfkit.init import ConfigExistsError, InitReport
from perfkit.run import Run
from perfkit.testing import PrivateServer, scratch_database

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


@pytest.fixture
async def project(
    pg: PrivateServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Path, str]]:
    """A new project folder with the schema in one SQL file and no scales.yaml yet, as the
    current folder; perfkit's server given by the environment (a perfkit-made database)."""
    for name in list(os.environ):
        if name.startswith("PERFKIT_") or name in ("TEST_DATABASE_URL", "PERF_TEST_SCALE"):
            monkeypatch.delenv(name)
    parts = [(SCHEMAS / n).read_text(encoding="utf-8") for n in ("pagila-schema.sql", "extras.sql")]
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "schema.sql").write_text("\n".join(parts), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    async with scratch_database(pg.url, "perfkit_init_test", perfkit_made=True) as url:
        monkeypatch.setenv("PERFORMANCE_TEST_DATABASE_URL", url)
        yield tmp_path, url


async def test_init_writes_a_file_that_seeds_as_it_is(project: tuple[Path, str]) -> None:
    root, url = project
    report = await _init(output="perf/scales.yaml", sql="db/schema.sql", locale="ja_JP")
    path = root / "perf" / "scales.yaml"
    assert report.path == path and report.todo == () and report.fixed == ("org_unit.zip",)
    text = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    tables = raw["app"]["data"]["tables"]
    assert raw["app"]["recipe"] is None and raw["app"]["schema"] == {"sql": "../db/schema.sql"}
    assert raw["app"]["data"]["locale"] == "ja_JP"
    # every table, parents first in the graph; partitions under their table, not as tables
    assert {"film", "film_actor", "payment", "audit_event", "team_member"} <= set(tables)
    assert "payment_p2022_01" not in tables and "payment_p2022_01" in text
    graph = [line for line in text.splitlines() if line.startswith("#   ")]
    order = [re.split(r"\s+->\s+", line[4:])[0].strip() for line in graph if "(" not in line[:6]]
    assert order.index("language") < order.index("film") < order.index("film_actor")
    assert tables["film_actor"]["per"] in ("film", "actor") and tables["film_actor"]["count"] == 3
    assert tables["language"] == {"rows": 100}
    assert tables["org_unit"]["columns"] == {"zip": {"const": None}}
    assert re.search(r"#\s+email\s+text: drawn, e\.g\. '", text)  # a column's generator
    # the file loads and seeds as it is
    cfg = load_config(path)
    outcome = await seed(Run(cfg), scale="small")
    async with connection(url) as conn:
        info = await read_dataset_info(conn)
        counts = {
            t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"'))  # noqa: S608
            for t in tables
        }
    assert outcome.report.created and info is not None
    assert counts == dict(info.row_counts) and all(n > 0 for n in counts.values()), counts
    roots = [t for t, body in tables.items() if "rows" in body]
    assert roots and all(counts[t] == 100 for t in roots)
    for table, body in tables.items():
        if "per" in body:
            assert 0 < counts[table] <= 3 * counts[body["per"]], table
    assert sum(counts.values()) == report.rows


async def test_init_never_replaces_a_file_without_force(project: tuple[Path, str]) -> None:
    root, _ = project
    path = root / "perf" / "scales.yaml"
    path.parent.mkdir()
    path.write_text("# the team's own\n", encoding="utf-8")
    with pytest.raises(ConfigExistsError) as caught:
        await _init(output="perf/scales.yaml", sql="db/schema.sql")
    assert caught.value.path == path and caught.value.exit_code == 1
    assert path.read_text(encoding="utf-8") == "# the team's own\n"
    await _init(output="perf/scales.yaml", sql="db/schema.sql", force=True)
    assert "recipe: null" in path.read_text(encoding="utf-8")


#: A small schema with a TO DO (a NOT NULL column under a CHECK perfkit cannot read) and a
#: child with a unique foreign key (one profile per account).
TODO_SCHEMA = """
CREATE TABLE account (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE profile (id int PRIMARY KEY, account_id int NOT NULL UNIQUE REFERENCES account);
CREATE TABLE post (id int PRIMARY KEY, account_id int NOT NULL REFERENCES account,
  slug text NOT NULL CHECK (slug ~ '^[a-z]+$'));
CREATE TABLE comment (id int PRIMARY KEY, post_id int NOT NULL REFERENCES post,
  account_id int NOT NULL REFERENCES account);
"""


async def test_init_plans_what_it_can_around_a_to_do(project: tuple[Path, str]) -> None:
    """A TO DO (post.slug) leaves the rest planned: the graph is drawn, the child with a
    unique key gets one row per parent, and the tables under the TO DO follow their keys."""
    root, _ = project
    (root / "db" / "todo.sql").write_text(TODO_SCHEMA, encoding="utf-8")
    report = await _init(output="perf/scales.yaml", sql="db/todo.sql")
    text = (root / "perf" / "scales.yaml").read_text(encoding="utf-8")
    tables = yaml.safe_load(text)["app"]["data"]["tables"]
    assert len(report.todo) == 1 and "slug" in report.todo[0]
    assert tables["account"] == {"rows": 100}
    assert tables["profile"] == {"per": "account", "via": "account_id", "count": 1}
    assert tables["post"] == {"per": "account", "via": "account_id", "count": 3}
    assert tables["comment"]["per"] in ("post", "account") and tables["comment"]["count"] == 3
    graph = [line for line in text.splitlines() if line.startswith("#   ")]
    assert "#   profile -> account" in graph and "#   post -> account" in graph
    assert report.rows == 100 + 100  # account and profile planned; post and comment wait


async def _init(*, output: str, **flags: Any) -> InitReport:
    """``perfkit init`` with ``flags``, as the front end calls it where no scales.yaml exists
    yet (no run)."""
    return await init(None, output=Path(output), **flags)
