"""SQL identifiers as perfkit writes them (no SQLAlchemy: the environment's modules use it)."""

from __future__ import annotations

#: The one-row table describing the dataset a database holds (see ``perfkit.datagen``).
DATASET_TABLE = "perfkit_dataset"


def quote_ident(name: str) -> str:
    """``name`` as a PostgreSQL identifier, always double-quoted (perfkit's one quoting rule:
    the name is kept exactly, case and all, and can never end the identifier)."""
    return '"' + name.replace('"', '""') + '"'
