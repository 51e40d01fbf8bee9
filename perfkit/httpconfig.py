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

Only pydantic and the load and memory models are imported here (no module that imports the
configuration, and nothing of the ``http`` extra): :mod:`perfkit.config` can validate these
sections. Every model refuses unknown keys; :func:`perfkit.sections.parse_section` turns a
problem into one line naming its key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PositiveFloat, field_validator, model_validator

from perfkit.errors import ConfigError
from perfkit.loadgen import LoadBudgets, LoadSettings
from perfkit.memory import MemoryBudgets, MemorySettings
from perfkit.sections import IMPORT_PATH, ImportPath, Section, parse_section
from perfkit.yamlfile import join_key

if TYPE_CHECKING:
    from perfkit.config import Config

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
#: Where an HTTP workload's app runs: in this process (the default) or under uvicorn.
Mode = Literal["in-process", "server"]


class RowsSource(Section):
    """Where a script's (or a user pick's) rows come from: ``sql``, run once against the
    prepared data, or ``call``, ``module:function``, ``async def fn(session) -> rows`` (an
    iterable of mappings)."""

    sql: str | None = None
    call: ImportPath | None = None

    @model_validator(mode="after")
    def _one(self) -> RowsSource:
        if (self.sql is None) == (self.call is None):
            raise ValueError("give sql or call, not both or none")
        return self


class UserPick(Section):
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

    dependency: ImportPath
    sql: str | None = None
    model: ImportPath | None = None
    call: ImportPath | None = None

    @model_validator(mode="after")
    def _one(self) -> UserPick:
        if (self.sql is None) == (self.call is None):
            raise ValueError("give sql or call, not both or none")
        if self.model is not None and self.sql is None:
            raise ValueError("model goes with sql (its first column is the key)")
        return self


class Overrides(Section):
    """``app.http.overrides``: dependencies replaced for a run (by import path).

    ``db_session``: the dependency that yields the application's ``AsyncSession`` (``get_db``),
    replaced by one yielding a session on perfkit's data (read-only on the shared data);
    ``current_user``: see :class:`UserPick`; ``disable``: dependencies replaced by a no-op
    (rate limiters); ``set``: ``module:object.attribute`` -> value, set for the run and
    restored after it (a limiter's ``enabled`` flag, a setting)."""

    db_session: ImportPath | None = None
    current_user: UserPick | None = None
    disable: tuple[ImportPath, ...] = ()
    set: Mapping[str, Any] = Field(default_factory=dict)

    @field_validator("set")
    @classmethod
    def _set(cls, value: Mapping[str, Any]) -> Mapping[str, Any]:
        for path in value:
            if not IMPORT_PATH.fullmatch(path) or "." not in path.partition(":")[2]:
                raise ValueError(f"expected 'module:object.attribute', got {path!r}")
        return value

    @model_validator(mode="after")
    def _session_for_user(self) -> Overrides:
        user = self.current_user
        if user is not None and user.model and self.db_session is None:
            raise ValueError(
                "current_user with a model needs db_session (the user is loaded in the "
                "request's session)"
            )
        return self


class ServerSettings(Section):
    """The uvicorn mode: ``ready_path`` is requested until it answers (any status), within
    ``startup_timeout`` seconds."""

    ready_path: str = Field(default="/", pattern=r"^/")
    startup_timeout: PositiveFloat = 30.0


class HttpApp(Section):
    """``app.http``: the ASGI app (``module:attribute``), the base URL its requests carry in
    process, its overrides and the uvicorn mode's settings."""

    app: ImportPath
    base_url: str = Field(default="http://perfkit.test", pattern=r"^https?://")
    overrides: Overrides = Field(default_factory=Overrides)
    server: ServerSettings = Field(default_factory=ServerSettings)


class RequestSpec(Section):
    """One request of a script. ``path``, ``query`` values, ``headers`` values, ``json`` and
    ``user`` may hold ``{column}`` placeholders filled from the iteration's row (``{{`` is a
    brace); a JSON value that is exactly one placeholder takes the column's value as it is
    (a number stays a number). ``status``: the accepted codes (default: any 2xx); ``allow``:
    more codes that are not errors (a 404 the script expects). ``user``: the current user's
    key for this request (see :class:`UserPick`)."""

    name: str | None = None
    method: Method = "GET"
    path: str = Field(pattern=r"^/")
    query: Mapping[str, Any] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    headers: Mapping[str, str] = Field(default_factory=dict)
    user: str | None = None
    status: tuple[int, ...] | None = None
    allow: tuple[int, ...] = ()

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("status", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        return (value,) if isinstance(value, int) else value

    @field_validator("status", "allow")
    @classmethod
    def _http_codes(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        for code in value or ():
            if not 100 <= code <= 599:
                raise ValueError(f"an HTTP status code is 100 to 599, got {code}")
        return value

    @property
    def label(self) -> str:
        """``name``, else ``METHOD path`` (the path as written, placeholders unfilled)."""
        return self.name or f"{self.method} {self.path}"

    def accepts(self, code: int) -> bool:
        """Whether a response with status ``code`` is not an error."""
        expected = code in self.status if self.status is not None else 200 <= code < 300
        return expected or code in self.allow


class HttpWorkload(Section):
    """``app.workloads.<name>`` with ``kind: http``: a request script, its load and budgets.

    One *iteration* runs ``requests`` in order with the next row of ``rows`` (round robin, in
    the rows' order); load, latency and throughput count iterations. ``mode`` says where the
    app runs (``in-process``, the default, or ``server``: uvicorn on 127.0.0.1). ``budgets``
    and ``memory_budgets`` are per scale name."""

    kind: Literal["http"]
    label: str | None = None
    rows: RowsSource | None = None
    requests: tuple[RequestSpec, ...] = Field(min_length=1)
    load: LoadSettings = Field(default_factory=lambda: LoadSettings(users=1, iterations=100))
    mode: Mode = "in-process"
    budgets: Mapping[str, LoadBudgets] = Field(default_factory=dict)
    memory: MemorySettings | None = None
    memory_budgets: Mapping[str, MemoryBudgets] = Field(default_factory=dict)


def http_app(cfg: Config) -> HttpApp:
    """scales.yaml's ``app.http``, checked; absent, a :class:`ConfigError` saying HTTP
    workloads need it."""
    if not cfg.app.http:
        raise ConfigError(
            "is required for HTTP workloads",
            source=cfg.source.name,
            key_path="app.http",
            hint="name the ASGI app: app.http.app: 'myapp.main:app'",
        )
    return parse_section(HttpApp, dict(cfg.app.http), source=cfg.source.name, key_path="app.http")


def http_workload(cfg: Config, name: str) -> HttpWorkload:
    """The HTTP workload ``app.workloads.<name>``, checked."""
    raw = cfg.app.http_workloads.get(name)
    key = join_key("app.workloads", name)
    if raw is None:
        raise ConfigError(
            f"is not an HTTP workload (kind: http); those are: "
            f"{', '.join(cfg.app.http_workloads) or 'none'}",
            source=cfg.source.name,
            key_path=key,
        )
    return parse_section(HttpWorkload, dict(raw), source=cfg.source.name, key_path=key)
