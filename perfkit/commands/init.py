"""``perfkit init``: a first perf/scales.yaml from the application's schema
(:mod:`perfkit.init`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perfkit.init import InitReport
    from perfkit.run import Run


async def init(
    run: Run | None,
    *,
    output: Path,
    sql: Path | None = None,
    metadata: str | None = None,
    migrations: str | None = None,
    force: bool = False,
    name: str | None = None,
    locale: str = "en_US",
) -> InitReport:
    """Write a first scales.yaml (every table, inferred data) from the schema the flags name,
    else the project's ``app.schema``; ``run`` is None when no scales.yaml exists yet."""
    from perfkit.init import init_from_flags

    return init_from_flags(
        run, output=Path(output), sql=sql, metadata=metadata, migrations=migrations,
        force=force, name=name, locale=locale,
    )  # fmt: skip
