"""The application's dependencies overridden for a run (``app.http.overrides``).

:func:`overridden` installs, on a FastAPI (or Starlette-with-``dependency_overrides``) app,
for as long as the ``with`` block lasts:

- ``db_session``: the application's session dependency (``get_db``) yields a session of
  perfkit's session factory instead: on the prepared data, read-only on the shared data;
- ``current_user``: the current-user dependency returns a user picked from the data
  (:class:`Users`, :class:`~perfkit.httpconfig.UserPick`). It takes the request's own
  session (``Depends`` on the overridden ``db_session``, cached per request as FastAPI does),
  and the key the script's ``user`` put in the :data:`USER_HEADER` header;
- ``disable``: each dependency named returns ``None`` and does nothing (rate limiters);
- ``set``: ``module:object.attribute`` set to a value (a limiter's ``enabled`` flag).

On exit, the app's overrides and every attribute are as they were. The same function serves the
in-process client and the uvicorn process (:mod:`perfkit.http.serve`), which is why the user's
key travels in a header: it reaches the app either way.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfkit.errors import ConfigError
from perfkit.http.script import load_rows
from perfkit.httpconfig import Overrides, RowsSource, UserPick
from perfkit.loading import import_object
from perfkit.text import join_key, quoted

#: The request header carrying the script's ``user`` to the current-user override.
USER_HEADER = "x-perfkit-user"
KEY = "app.http.overrides"


class UnknownUserError(LookupError):
    """A request named a user the ``current_user`` rows do not hold (it fails, as a request
    with an unknown token would)."""


@dataclass(frozen=True)
class Users:
    """Who the current-user override returns: see :class:`~perfkit.httpconfig.UserPick`."""

    #: ``sql``'s rows (column -> value) by the text of their first column, in the query's
    #: order.
    rows: Mapping[str, Mapping[str, Any]]
    #: ``model``: the class loaded by key in the request's session.
    model: type[Any] | None = None
    #: ``call``: ``async def fn(session, key) -> user``.
    call: Callable[[Any, str | None], Any] | None = None

    async def pick(self, session: AsyncSession | None, key: str | None) -> Any:
        """The user of ``key`` (``None``: the first row's)."""
        if self.call is not None:
            return await self.call(session, key)
        if key is None:
            row = next(iter(self.rows.values()))
        elif key in self.rows:
            row = self.rows[key]
        else:
            raise UnknownUserError(f"no user {key!r} among the current_user rows")
        if self.model is None:
            return types.SimpleNamespace(**row)  # user.id, user.name...
        if session is None:
            raise ValueError("a user model is loaded in the request's session: none was given")
        key_value = next(iter(row.values()))
        user = await session.get(self.model, key_value)
        if user is None:
            raise UnknownUserError(f"no {self.model.__name__} {key_value!r}")
        return user


async def load_users(
    pick: UserPick, session_factory: async_sessionmaker[AsyncSession], *, source: str
) -> Users:
    """The users ``pick`` names, read once from the prepared data (``sql``: a row is a user,
    its first column the key), or its callable."""
    key = join_key(KEY, "current_user")
    if pick.call is not None:
        fn = import_object(pick.call, key=join_key(key, "call"), source=source)
        if not inspect.iscoroutinefunction(fn):
            raise ConfigError(
                f"{quoted(pick.call)} is not an async function",
                source=source,
                key_path=join_key(key, "call"),
            )
        return Users(rows={}, call=fn)
    rows = await load_rows(RowsSource(sql=pick.sql), session_factory, source=source, key_path=key)
    model = (
        import_object(pick.model, key=join_key(key, "model"), source=source)
        if pick.model is not None
        else None
    )
    return Users(rows={str(next(iter(row.values()))): row for row in rows}, model=model)


async def _no_op() -> None:
    """A disabled dependency (a rate limiter): lets every request through."""
    return None


def _session_override(
    session_factory: async_sessionmaker[AsyncSession],
) -> Callable[[], AsyncIterator[AsyncSession]]:
    async def perf_session() -> AsyncIterator[AsyncSession]:
        async with session_factory() as session:
            yield session

    return perf_session


def _user_override(users: Users, db_dependency: Callable[..., Any] | None) -> Callable[..., Any]:
    if db_dependency is None:

        async def current_user(request: Request) -> Any:
            return await users.pick(None, request.headers.get(USER_HEADER))

        return current_user

    # FastAPI's way of declaring a dependency; an Annotated hint would name a local variable,
    # which FastAPI cannot resolve in this module's globals
    async def current_user_in_session(
        request: Request,
        session: Any = Depends(db_dependency),  # noqa: B008
    ) -> Any:
        return await users.pick(session, request.headers.get(USER_HEADER))

    return current_user_in_session


def _attribute(path: str, *, source: str) -> tuple[Any, str]:
    """The object owning the attribute ``module:object.attribute`` names, and its name."""
    owner_path, _, attribute = path.rpartition(".")
    owner = import_object(owner_path, key=join_key(join_key(KEY, "set"), path), source=source)
    if not hasattr(owner, attribute):
        raise ConfigError(
            f"{quoted(owner_path)} has no attribute {quoted(attribute)}",
            source=source,
            key_path=join_key(join_key(KEY, "set"), path),
        )
    return owner, attribute


@contextmanager
def overridden(
    app: Any,
    overrides: Overrides,
    *,
    session_factory: async_sessionmaker[AsyncSession] | None,
    users: Users | None,
    source: str,
) -> Iterator[None]:
    """``app`` with ``overrides`` in place for the block (module docstring); ``users`` is
    :func:`load_users`'s result when ``overrides.current_user`` is set, ``session_factory``
    the sessions ``db_session`` yields when it is."""
    table = getattr(app, "dependency_overrides", None)
    wanted = overrides.db_session or overrides.current_user or overrides.disable
    if wanted and not isinstance(table, dict):
        raise ConfigError(
            f"the app ({type(app).__name__}) has no dependency_overrides: dependencies can "
            "be overridden on a FastAPI app only",
            source=source,
            key_path=KEY,
        )
    new: dict[Any, Any] = {}
    db_dependency = None
    if overrides.db_session is not None:
        if session_factory is None:
            raise ValueError("db_session is overridden: pass the session factory")
        db_dependency = import_object(
            overrides.db_session, key=join_key(KEY, "db_session"), source=source
        )
        new[db_dependency] = _session_override(session_factory)
    if overrides.current_user is not None:
        if users is None:
            raise ValueError("current_user is overridden: pass its users (load_users)")
        dependency = import_object(
            overrides.current_user.dependency,
            key=join_key(join_key(KEY, "current_user"), "dependency"),
            source=source,
        )
        new[dependency] = _user_override(users, db_dependency)
    for n, path in enumerate(overrides.disable):
        new[import_object(path, key=join_key(join_key(KEY, "disable"), str(n)), source=source)] = (
            _no_op
        )
    attributes = [
        (*_attribute(path, source=source), value) for path, value in overrides.set.items()
    ]
    saved_table = dict(table) if isinstance(table, dict) else {}
    saved_attributes = [(owner, name, getattr(owner, name)) for owner, name, _ in attributes]
    try:
        if isinstance(table, dict):
            table.update(new)
        for owner, name, value in attributes:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in reversed(saved_attributes):
            setattr(owner, name, value)
        if isinstance(table, dict):
            table.clear()
            table.update(saved_table)
