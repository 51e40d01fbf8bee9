"""scales.yaml sections described by pydantic v2 models, and their errors as perfkit's.

A section's model derives from :class:`Section` (frozen, unknown keys refused). The loader
hands :func:`parse_section` the plain YAML value and the key path it sits at; a value that
does not fit raises :class:`~perfkit.errors.ConfigError` (exit status 2) with one line naming
the full key path of the first problem, e.g. ``scales.yaml: app.http.overrides.current_user.sql:
Input should be a valid string, got 42``, and for an unknown key a close match as the error's
``suggestion``. The newer sections (HTTP workloads, load and memory budgets, variants) use it;
the rest of scales.yaml will follow.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from perfkit.errors import ConfigError
from perfkit.text import quoted
from perfkit.yamlfile import join_key

M = TypeVar("M", bound=BaseModel)

IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def _import_path(value: str) -> str:
    if not IMPORT_PATH.fullmatch(value):
        raise ValueError(f"expected 'module:attribute', got {value!r}")
    return value


#: An import path, ``module:attribute`` (the attribute may be dotted), e.g.
#: ``myapp.api:get_db``.
ImportPath = Annotated[str, AfterValidator(_import_path)]


class Section(BaseModel):
    """Base of a scales.yaml section's model: frozen, and a key it does not know is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def parse_section(model: type[M], data: object, *, source: str, key_path: str) -> M:
    """``data`` (plain YAML values) as ``model``; the first problem as one
    :class:`ConfigError` naming ``key_path`` and the key below it."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, model, source=source, key_path=key_path) from None


def config_error(
    exc: ValidationError, model: type[BaseModel], *, source: str, key_path: str
) -> ConfigError:
    """The first error of ``exc`` as a :class:`ConfigError` at ``key_path``."""
    first = exc.errors(include_url=False)[0]
    loc = [str(part) for part in first["loc"]]
    path = key_path
    for part in loc:
        path = join_key(path, part)
    suggestion = None
    if first["type"] == "extra_forbidden" and loc:
        known = _known_keys(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        suggestion = close[0] if close else None
        message = f"unknown key {quoted(loc[-1])}." + (
            f" Did you mean {suggestion!r}?" if suggestion else f" Valid keys: {', '.join(known)}"
        )
    elif first["type"] == "missing":
        message = "is required"
    elif first["type"] in ("value_error", "assertion_error"):  # a validator's own words
        message = _message(first["msg"])
    else:
        message = f"{_message(first['msg'])}, got {quoted(first.get('input'), limit=60)}"
    return ConfigError(message, source=source, key_path=path, suggestion=suggestion)


def _message(msg: str) -> str:
    """pydantic's message without its ``Value error, `` prefix (a validator's own words)."""
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _known_keys(model: type[BaseModel], loc: Sequence[str]) -> list[str]:
    """The keys the model at ``loc`` (a path of field names) takes, by their names in the file."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None:
            return []
        field = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        if field is None:  # a mapping's key or a list's index: the model stays the same
            continue
        current = _model_of(field.annotation)
    fields = getattr(current, "model_fields", {})
    return [f.alias or n for n, f in fields.items()]


def _model_of(annotation: Any) -> Any:
    """The model inside a field's type (``X``, ``X | None``, ``Mapping[str, X]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
