"""The schema verbatim: what PostgreSQL's catalogue says about a schema, and the DDL that
rebuilds it exactly.

:mod:`perfkit.ddl.capture` reads a schema (or some of its tables) into the frozen dataclasses
of :mod:`perfkit.ddl.model`; :mod:`perfkit.ddl.emit` turns a capture into the statements a bulk
load needs: bare tables first, then everything else replayed from the definitions the
catalogue printed (``pg_get_indexdef``, ``pg_get_constraintdef``, ``pg_get_triggerdef``, ...).
"""

from __future__ import annotations

from perfkit.ddl.capture import capture_schema
from perfkit.ddl.emit import PostLoad, bare_sql, post_load
from perfkit.ddl.model import Capture, UncarriedError

__all__ = ["Capture", "PostLoad", "UncarriedError", "bare_sql", "capture_schema", "post_load"]
