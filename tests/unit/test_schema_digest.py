"""The DDL digest keys the remembered fingerprints: it must be the same in every process.

Constraints without names (an application with no naming convention, like keikakun_back) are
kept by SQLAlchemy in sets, whose order follows string hashing and so changes from one process
to the next. A digest that followed that order would miss the memo and rebuild the schema on
every command.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, MetaData, String, Table
from sqlalchemy import UniqueConstraint
from perfkit.schema import Schema

md = MetaData()
Table("parents", md, Column("id", Integer, primary_key=True))
Table(
    "children", md,
    Column("id", Integer, primary_key=True),
    Column("a", ForeignKey("parents.id")), Column("b", ForeignKey("parents.id")),
    Column("c", String(10), unique=True), Column("d", String(10), unique=True),
    UniqueConstraint("a", "b"), CheckConstraint("a <> b"), CheckConstraint("c <> d"),
)
schema = Schema(md)
print(schema.digest, len(schema.post_load_sql()))
"""


def digest_with_hash_seed(seed: int) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_the_digest_does_not_follow_set_order() -> None:
    digests = {digest_with_hash_seed(seed) for seed in range(8)}
    assert len(digests) == 1, digests
    (only,) = digests
    assert only.split()[1] == "9"  # 3 unique, 2 checks, 2 foreign keys (unnamed), 2 setval
