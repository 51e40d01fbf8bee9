"""scales.yaml's models for HTTP workloads: the app and its overrides, request scripts.

``app.http`` says where the application's ASGI app is and how its dependencies are
overridden (:class:`HttpApp`); an HTTP workload, ``app.workloads.<name>`` with ``kind: http``,
is a request script, its load and its budgets (:class:`HttpWorkload`)::

    app:
      http:
        app: "homecare.api:app"
        overrides:
          db_session: "homecare.api:get_db"          # -> a session on perfkit's data
          current_user:
            dependency: "homecare.api:current_caregiver"
            sql: "SELECT id FROM caregivers WHERE role = 'coordinator' ORDER BY id"
            model: "homecare.models:Caregiver"        # loaded by the first column, per request
          disable: ["homecare.api:rate_limit"]       # dependencies made no-ops
          set: {"homecare.api:limits.enabled": false} # attributes set for the run, then restored
        server: {ready_path: /health}
      workloads:
        dashboard:
          kind: http
          label: A coordinator opens the dashboard
          rows: {sql: "SELECT id AS caregiver_id FROM caregivers WHERE role = 'coordinator'"}
          requests:
            - {method: GET, path: /api/dashboard, query: {due_within_days: 30},
               user: "{caregiver_id}"}
          load: {users: 10, duration: 5}
          budgets: {small: {p95: 0.05, errors: 0, statements_per_request: 3}}

These are msgspec structs of :class:`perfkit.config.Config` (an entry of ``app.workloads`` is
a tagged union on ``kind``: :class:`perfkit.config.WorkloadConfig` or :class:`HttpWorkload`),
checked when scales.yaml is loaded; a problem is one line naming its key path. msgspec and
perfkit's config helpers only (nothing of the ``http`` extra): the configuration imports this
module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import Meta, field

from perfkit.errors import ConfigError
from perfkit.loadconfig import LoadBudgets, LoadSettings, MemoryBudgets, MemorySettings
from perfkit.text import join_key
from perfkit.typedconfig import ImportPath, PositiveFloat, Section, Text, frozen_map

if TYPE_CHECKING:
    from perfkit.config import Config

#: Where an HTTP workload's app runs: in this process (the default) or under uvicorn.
Mode = Literal["in-process", "server"]
#: The methods a request may use (any case in the file; upper case once read).
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MethodName = Annotated[
    str,
    Meta(
        pattern=r"(?i)^(" + "|".join(METHODS) + ")$",
        extra={"expected": "one of " + ", ".join(METHODS)},
    ),
]
#: ``module:object.attribute``: an attribute ``app.http.overrides.set`` sets for a run.
AttributePath = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$",
        extra={"expected": "'module:object.attribute'"},
    ),
]
StatusCode = Annotated[
    int, Meta(ge=100, le=599, extra={"expected": "an HTTP status code, 100 to 599"})
]
UrlPath = Annotated[str, Meta(pattern=r"^/", extra={"expected": "a path starting with /"})]


class RowsSource(Section, frozen=True):
    """Where a script's (or a user pick's) rows come from: ``sql``, run once against the
    prepared data, or ``call``, ``module:function``, ``async def fn(session) -> rows`` (an
    iterable of mappings)."""

    #: A query run once against the prepared data.
    sql: Text | None = None
    #: ``module:function``: ``async def fn(session) -> rows``.
    call: ImportPath | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.sql is None) == (self.call is None):
            raise ValueError("give sql or call, not both or none")


class UserPick(Section, frozen=True):
    """The current-user dependency and the user it is overridden to.

    - ``sql``: rows whose first column is a user's key. A request whose script sets ``user``
      gets the row of that key, any other the first row. With ``model`` (``module:Class``),
      the override returns ``await session.get(Class, key)`` in the request's own session
      (what a real dependency does, one statement); without, the row itself (attribute
      access: ``user.id``);
    - ``call``: ``module:function``, ``async def fn(session, key: str | None) -> user``,
      called per request with the request's session (``None`` when ``db_session`` is not
      overridden) and the script's ``user`` value.
    """

    #: The application's current-user dependency (``module:function``).
    dependency: ImportPath
    #: Rows whose first column is a user's key.
    sql: Text | None = None
    #: ``module:Class`` loaded by that key in the request's session.
    model: ImportPath | None = None
    #: ``module:function``: ``async def fn(session, key) -> user``.
    call: ImportPath | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.sql is None) == (self.call is None):
            raise ValueError("give sql or call, not both or none")
        if self.model is not None and self.sql is None:
            raise ValueError("model goes with sql (its first column is the key)")


class Overrides(Section, frozen=True):
    """``app.http.overrides``: dependencies replaced for a run (by import path).

    ``db_session``: the dependency that yields the application's ``AsyncSession`` (``get_db``),
    replaced by one yielding a session on perfkit's data (read-only on the shared data);
    ``current_user``: see :class:`UserPick`; ``disable``: dependencies replaced by a no-op
    (rate limiters); ``set``: ``module:object.attribute`` -> value, set for the run and
    restored after it (a limiter's ``enabled`` flag, a setting)."""

    #: The dependency that yields the application's ``AsyncSession``.
    db_session: ImportPath | None = None
    #: The current-user dependency and who it returns.
    current_user: UserPick | None = None
    #: Dependencies replaced by a no-op (rate limiters).
    disable: tuple[ImportPath, ...] = ()
    #: ``module:object.attribute`` -> the value it takes for the run.
    set: Mapping[AttributePath, Any] = frozen_map()

    def __post_init__(self) -> None:
        super().__post_init__()
        user = self.current_user
        if user is not None and user.model and self.db_session is None:
            raise ValueError(
                "current_user with a model needs db_session (the user is loaded in the "
                "request's session)"
            )


class ServerSettings(Section, frozen=True):
    """The uvicorn mode: ``ready_path`` is requested until it answers (any status), within
    ``startup_timeout`` seconds."""

    #: Requested until it answers.
    ready_path: UrlPath = "/"
    #: Seconds the server may take to answer.
    startup_timeout: PositiveFloat = 30.0


class HttpApp(Section, frozen=True):
    """``app.http``: the ASGI app (``module:attribute``), the base URL its requests carry in
    process, its overrides and the uvicorn mode's settings."""

    #: The ASGI app, ``module:attribute``.
    app: ImportPath
    #: The URL the requests carry in process.
    base_url: Annotated[
        str, Meta(pattern=r"^https?://", extra={"expected": "an http:// or https:// URL"})
    ] = "http://perfkit.test"
    overrides: Overrides = field(default_factory=Overrides)
    server: ServerSettings = field(default_factory=ServerSettings)


class RequestSpec(Section, frozen=True, kw_only=True):
    """One request of a script. ``path``, ``query`` values, ``headers`` values, ``json`` and
    ``user`` may hold ``{column}`` placeholders filled from the iteration's row (``{{`` is a
    brace); a JSON value that is exactly one placeholder takes the column's value as it is
    (a number stays a number). ``status``: the accepted codes (default: any 2xx); ``allow``:
    more codes that are not errors (a 404 the script expects). ``user``: the current user's
    key for this request (see :class:`UserPick`)."""

    #: The request's label in the report (default: ``METHOD path``).
    name: Text | None = None
    #: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS (any case).
    method: MethodName = "GET"
    #: The path, ``{column}`` placeholders allowed.
    path: UrlPath
    #: Query parameters.
    query: Mapping[str, Any] = frozen_map()
    #: The JSON body.
    json_body: Any = field(default=None, name="json")
    #: Request headers.
    headers: Mapping[str, str] = frozen_map()
    #: The current user's key for this request.
    user: str | None = None
    #: The accepted status code(s) (default: any 2xx).
    status: StatusCode | tuple[StatusCode, ...] | None = None
    #: More codes that are not errors.
    allow: tuple[StatusCode, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method != self.method.upper():
            msgspec.structs.force_setattr(self, "method", self.method.upper())
        if isinstance(self.status, int):
            msgspec.structs.force_setattr(self, "status", (self.status,))

    @property
    def codes(self) -> tuple[int, ...] | None:
        """The accepted status codes (None: any 2xx)."""
        return self.status if not isinstance(self.status, int) else (self.status,)

    @property
    def label(self) -> str:
        """``name``, else ``METHOD path`` (the path as written, placeholders unfilled)."""
        return self.name or f"{self.method} {self.path}"

    def accepts(self, code: int) -> bool:
        """Whether a response with status ``code`` is not an error."""
        codes = self.codes
        expected = code in codes if codes is not None else 200 <= code < 300
        return expected or code in self.allow


class HttpWorkload(Section, frozen=True, kw_only=True, tag_field="kind", tag="http"):
    """``app.workloads.<name>`` with ``kind: http``: a request script, its load and budgets.

    One *iteration* runs ``requests`` in order with the next row of ``rows`` (round robin, in
    the rows' order); load, latency and throughput count iterations. ``mode`` says where the
    app runs (``in-process``, the default, or ``server``: uvicorn on 127.0.0.1). ``budgets``
    and ``memory_budgets`` are per scale name."""

    #: The workload's label in reports.
    label: Text | None = None
    #: Where the script's rows come from.
    rows: RowsSource | None = None
    #: The requests of one iteration, in order.
    requests: Annotated[tuple[RequestSpec, ...], Meta(min_length=1)]
    #: Users or a rate, for a duration and/or a number of iterations.
    load: LoadSettings = field(default_factory=lambda: LoadSettings(users=1, iterations=100))
    #: ``in-process`` (the default) or ``server`` (uvicorn on 127.0.0.1).
    mode: Mode = "in-process"
    #: Per scale name: limits on latency percentiles, errors and statements per request.
    budgets: Mapping[str, LoadBudgets] = frozen_map()
    #: Trace the memory of the script's runs.
    memory: MemorySettings | None = None
    #: Per scale name: limits on the memory figures.
    memory_budgets: Mapping[str, MemoryBudgets] = frozen_map()


def http_app(cfg: Config) -> HttpApp:
    """scales.yaml's ``app.http``; absent, a :class:`ConfigError` saying HTTP workloads need
    it."""
    if cfg.app.http is None:
        raise ConfigError(
            "is required for HTTP workloads",
            source=cfg.source.name,
            key_path="app.http",
            hint="name the ASGI app: app.http.app: 'myapp.main:app'",
        )
    return cfg.app.http


def http_workload(cfg: Config, name: str) -> HttpWorkload:
    """The HTTP workload ``app.workloads.<name>``."""
    found = cfg.app.http_workloads.get(name)
    if found is None:
        raise ConfigError(
            f"is not an HTTP workload (kind: http); those are: "
            f"{', '.join(cfg.app.http_workloads) or 'none'}",
            source=cfg.source.name,
            key_path=join_key("app.workloads", name),
        )
    return found
