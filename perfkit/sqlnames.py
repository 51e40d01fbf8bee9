"""SQL identifiers as perfkit writes them (no SQLAlchemy: the environment's modules use it)."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """``name`` as a PostgreSQL identifier, always double-quoted (perfkit's one quoting rule:
    the name is kept exactly, case and all, and can never end the identifier)."""
    return '"' + name.replace('"', '""') + '"'
