"""Build perf/schema.sql from a `pg_dump --schema-only` of keikakun's production database.

The parent repository (nto300002/keikakun_app) keeps such dumps. This takes the newest
production ("main") one, after the July 2026 index migration, stamped with its alembic
revision, and writes it as perf/schema.sql with two edits only:

- the `SET transaction_timeout = 0;` line is dropped: pg_dump 17 writes it, and a PostgreSQL
  older than 17 (perfkit's server is 15) does not know the parameter;
- nothing else. The `\\restrict` psql meta-commands stay (perfkit skips psql meta-commands);
  every table, type, function, index, constraint and trigger is kept as the dump has it.

    python perf/build_schema.py ../keikakun_app            # the parent repository's checkout
    python perf/build_schema.py path/to/main_schema.sql    # or a dump file

It prints the source, its SHA-256 and what it wrote. Run from the root of keikakun_back.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

DUMP = (
    "docs_specs/task/done/maintainability/alembic/schema_snapshots/20260701_after_index/"
    "main_schema_20260701_after_index_and_stamp.sql"
)
DROPPED = ("SET transaction_timeout",)


def read_dump(source: Path) -> tuple[str, str]:
    """The dump's text and where it came from: a file, or DUMP at HEAD of a git repository."""
    if source.is_dir():
        text = subprocess.run(
            ["git", "-C", str(source), "show", f"HEAD:{DUMP}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return text, f"{source}:HEAD:{DUMP}"
    return source.read_text(encoding="utf-8"), str(source)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    text, origin = read_dump(Path(argv[0]))
    kept = [line for line in text.splitlines() if not line.startswith(DROPPED)]
    out = Path(__file__).with_name("schema.sql")
    out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    digest = hashlib.sha256(text.encode()).hexdigest()
    dropped = len(text.splitlines()) - len(kept)
    print(f"{origin}\n  sha256 {digest}\n  -> {out} ({len(kept)} lines, {dropped} dropped)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
