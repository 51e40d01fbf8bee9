"""A request script bound to the data: which request iteration ``i`` sends.

:func:`load_rows` runs the script's ``rows`` source once against the prepared data (before any
timing); :func:`bind_script` checks that every ``{column}`` placeholder of the script has a
column in those rows (a missing one is a :class:`~perfkit.errors.ConfigError` naming the key
path, before a request is sent); :meth:`BoundScript.calls` renders iteration ``i`` with row
``i % len(rows)``. Values are rendered as JSON would carry them: a UUID or a date as its text,
a number as a number (:func:`jsonable`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import inspect
import string
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfkit.errors import ConfigError
from perfkit.httpconfig import RequestSpec, RowsSource
from perfkit.loadgen import exception_line
from perfkit.loading import import_object
from perfkit.text import join_key, quoted

Row = Mapping[str, Any]
_FORMATTER = string.Formatter()


def jsonable(value: Any) -> Any:
    """``value`` as JSON carries it: UUIDs, dates, times and decimals as text; containers
    element by element; anything else as it is."""
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def placeholders(template: str) -> list[str]:
    """The ``{column}`` names in ``template`` (``{{`` is a brace). A placeholder with an
    attribute, an index, a format or a conversion is refused (``ValueError``)."""
    names = []
    for _literal, field, spec, conversion in _FORMATTER.parse(template):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"a placeholder is a column name in braces, got {{{field}}}")
        names.append(field)
    return names


def render(template: str, row: Row) -> str:
    """``template`` with each ``{column}`` replaced by the row's value as text."""
    parts = []
    for literal, field, _spec, _conv in _FORMATTER.parse(template):
        parts.append(literal)
        if field is not None:
            parts.append(str(jsonable(row[field])))
    return "".join(parts)


def _render_json(value: Any, row: Row) -> Any:
    if isinstance(value, str):
        names = placeholders(value)
        if len(names) == 1 and value == "{" + names[0] + "}":
            return jsonable(row[names[0]])  # the value itself: a number stays a number
        return render(value, row)
    if isinstance(value, Mapping):
        return {k: _render_json(v, row) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render_json(v, row) for v in value]
    return value


def _templates(spec: RequestSpec, key: str) -> dict[str, str]:
    """Every text of ``spec`` that may hold placeholders, by its key path below ``key``."""
    found = {join_key(key, "path"): spec.path}
    found |= {join_key(join_key(key, "query"), k): str(v) for k, v in spec.query.items()}
    found |= {join_key(join_key(key, "headers"), k): v for k, v in spec.headers.items()}
    if spec.user is not None:
        found[join_key(key, "user")] = spec.user

    def walk(value: Any, at: str) -> None:
        if isinstance(value, str):
            found[at] = value
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, join_key(at, str(k)))
        elif isinstance(value, list | tuple):
            for n, v in enumerate(value):
                walk(v, join_key(at, str(n)))

    walk(spec.json_body, join_key(key, "json"))
    return found


@dataclass(frozen=True)
class Call:
    """One rendered request."""

    spec: RequestSpec
    path: str
    params: Mapping[str, str]
    json: Any
    headers: Mapping[str, str]
    #: The current user's key, for the override (``None``: the first user).
    user: str | None


@dataclass(frozen=True)
class BoundScript:
    """A script and the rows its iterations take, in order (one empty row when it has no
    ``rows`` source)."""

    requests: tuple[RequestSpec, ...]
    rows: tuple[Row, ...]

    def calls(self, i: int) -> list[Call]:
        """Iteration ``i``'s requests, rendered with row ``i % len(rows)``."""
        row = self.rows[i % len(self.rows)]
        return [
            Call(
                spec=spec,
                path=render(spec.path, row),
                params={k: render(str(v), row) for k, v in spec.query.items()},
                json=_render_json(spec.json_body, row),
                headers={k: render(v, row) for k, v in spec.headers.items()},
                user=render(spec.user, row) if spec.user is not None else None,
            )
            for spec in self.requests
        ]


def bind_script(
    requests: Sequence[RequestSpec], rows: Sequence[Row], *, source: str, key_path: str
) -> BoundScript:
    """``requests`` bound to ``rows``; a placeholder with no column in the rows is a
    :class:`ConfigError` at its key path (``key_path`` is the workload's)."""
    bound = tuple(dict(r) for r in rows) or ({},)
    columns = set(bound[0])
    for n, spec in enumerate(requests):
        at = join_key(join_key(key_path, "requests"), str(n))
        for key, template in _templates(spec, at).items():
            try:
                missing = [name for name in placeholders(template) if name not in columns]
            except ValueError as exc:
                raise ConfigError(str(exc), source=source, key_path=key) from None
            if missing:
                raise ConfigError(
                    f"{{{missing[0]}}} is not a column of the script's rows "
                    f"({', '.join(sorted(columns)) or 'no rows source'})",
                    source=source,
                    key_path=key,
                )
    return BoundScript(requests=tuple(requests), rows=bound)


async def load_rows(
    rows: RowsSource,
    session_factory: async_sessionmaker[AsyncSession],
    *,
    source: str,
    key_path: str,
) -> tuple[Row, ...]:
    """The rows of ``rows`` (its SQL, or its callable's result) on the prepared data. No row
    is a :class:`ConfigError`: a script with nothing to send measures nothing."""
    async with session_factory() as session:
        try:
            if rows.sql is not None:
                try:
                    result = await session.execute(text(rows.sql))
                except sa_exc.DBAPIError as exc:
                    raise ConfigError(
                        f"the query failed: {exception_line(exc.orig or exc)}",
                        source=source,
                        key_path=join_key(key_path, "sql"),
                    ) from None
                found: tuple[Row, ...] = tuple(dict(r._mapping) for r in result)
            else:
                fn = import_object(rows.call or "", key=join_key(key_path, "call"), source=source)
                if not inspect.iscoroutinefunction(fn):
                    raise ConfigError(
                        f"{quoted(rows.call)} is not an async function",
                        source=source,
                        key_path=join_key(key_path, "call"),
                    )
                found = tuple(dict(r) for r in await fn(session))
        finally:
            await session.rollback()
    if not found:
        raise ConfigError(
            "returned no row: the script has nothing to send",
            source=source,
            key_path=join_key(key_path, "sql" if rows.sql is not None else "call"),
            hint="check the query against the prepared data (`perfkit db-url` and psql)",
        )
    return found
