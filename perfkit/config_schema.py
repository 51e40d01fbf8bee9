"""scales.yaml's JSON Schema, for editors: completion, hover text and checks as you type.

msgspec writes it from :mod:`perfkit.config`'s structs (types, choices, bounds, patterns and
``additionalProperties: false``, as the loader checks them); this module makes it a good editor
schema: JSON Schema draft 2020-12, each section described by its docstring and each key by its
``#:`` comment in ``perfkit/config.py``, every default written out, and the keys the file may
not set (``source``, ``external_url``, a scale's ``name``) left out. Cross-key rules (one
schema source, shares summing to 1, ...) are the loader's alone.

``docs/scales.schema.json`` is this module's output, committed; a unit test fails when it is
stale. To write it again, or a copy for a team's repository::

    python -m perfkit.config_schema docs/scales.schema.json
    python -m perfkit.config_schema > perf/scales.schema.json
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from perfkit.config import Config
from perfkit.typedconfig import to_plain

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: The committed copy, relative to the repository's root.
SCHEMA_FILE = Path("docs/scales.schema.json")


def config_schema() -> dict[str, Any]:
    """scales.yaml's JSON Schema (draft 2020-12) as a dict."""
    made = msgspec.json.schema(Config, schema_hook=_schema_hook)
    defs: dict[str, Any] = made["$defs"]
    for cls in _sections(Config):
        _describe(defs[cls.__name__], cls)
    # The loader reads a setting's number as text (``max_connections: 200``).
    settings = defs["DatabaseConfig"]["properties"]["settings"]
    settings["additionalProperties"] = {"type": ["string", "number"]}
    # A workload without ``kind`` is called (the loader gives it ``kind: call``).
    call = defs["WorkloadConfig"]
    call["required"] = [name for name in call["required"] if name != "kind"]
    for name in ("WorkloadConfig", "HttpWorkload"):
        kind = defs[name]["properties"]["kind"]
        kind["description"] = (
            "call (the default): a function called in process; http: a request script"
        )
    root = defs.pop(Config.__name__)
    root.pop("title", None)
    root["description"] = (
        "perfkit's configuration (scales.yaml): scales, data shape, database, pool, snapshots, "
        "budgets, regression rules, SMTP, safety and the application under test. Every key: "
        "docs/configuration.md."
    )
    return {
        "$schema": DRAFT,
        "title": "perfkit scales.yaml",
        **root,
        "$defs": dict(sorted(defs.items())),
    }


def render(schema: Mapping[str, Any]) -> str:
    """``schema`` as the committed file holds it: indented JSON, a newline at the end."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _schema_hook(tp: type[Any]) -> dict[str, Any]:
    if tp is Path:
        return {"type": "string", "minLength": 1}
    json_schema = getattr(tp, "json_schema", None)
    if json_schema is not None:  # a value read by its own from_config (perfkit.typedconfig)
        made: dict[str, Any] = json_schema()
        return made
    raise NotImplementedError(tp)


def _sections(cls: type[msgspec.Struct]) -> Iterator[type[msgspec.Struct]]:
    """``cls`` and every struct its fields hold, each once."""
    seen: set[type[Any]] = set()
    todo = [cls]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        yield current
        info = msgspec.inspect.type_info(current)
        todo.extend(_structs_in(info))


def _structs_in(info: msgspec.inspect.Type) -> Iterator[type[msgspec.Struct]]:
    if isinstance(info, msgspec.inspect.StructType):
        for f in info.fields:
            yield from _structs_in(f.type)
        yield info.cls
    elif isinstance(info, msgspec.inspect.Metadata):
        yield from _structs_in(info.type)
    elif isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            yield from _structs_in(member)
    elif isinstance(info, msgspec.inspect.DictType):
        yield from _structs_in(info.value_type)
    elif isinstance(info, msgspec.inspect.VarTupleType | msgspec.inspect.ListType):
        yield from _structs_in(info.item_type)


def _describe(node: dict[str, Any], cls: type[msgspec.Struct]) -> None:
    """Descriptions and defaults on ``cls``'s schema ``node``; hidden keys taken out."""
    if cls.__doc__:
        described = {"title": node.pop("title"), "description": _prose(cls.__doc__), **node}
        node.clear()
        node.update(described)
    hidden = getattr(cls, "set_elsewhere", {})
    comments = _field_comments(cls)
    properties: dict[str, Any] = node["properties"]
    for f in msgspec.structs.fields(cls):
        if f.name in hidden:
            del properties[f.encode_name]
            continue
        prop = properties[f.encode_name]
        if f.name in comments:
            prop = properties[f.encode_name] = {"description": comments[f.name], **prop}
        if "default" not in prop and f.default_factory is not msgspec.NODEFAULT:
            value = f.default_factory()
            if not isinstance(value, msgspec.Struct):  # a section: its keys say their own
                prop["default"] = to_plain(value)
    required = [name for name in node.get("required", ()) if name in properties]
    if required:
        node["required"] = required
    else:
        node.pop("required", None)


def _field_comments(cls: type[Any]) -> dict[str, str]:
    """Each field's ``#:`` comment lines (just above it in the class body), as prose."""
    lines, _ = inspect.getsourcelines(cls)
    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in lines[1:]:
        text = line.strip()
        if text.startswith("#:"):
            pending.append(text[2:].strip())
            continue
        named = re.match(r"(\w+)\s*:", text)
        if named and pending:
            comments[named.group(1)] = _prose("\n".join(pending))
        pending = []
    return comments


_ROLE = re.compile(r":(?:class|mod|func|meth|attr|data):`~?([^`]+)`")


def _prose(doc: str) -> str:
    """A docstring as one paragraph per paragraph, with Markdown's code spans for reST's."""
    text = _ROLE.sub(r"`\1`", inspect.cleandoc(doc)).replace("``", "`")
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines: list[str] = []
        for line in block.splitlines():
            if line.startswith("- ") or not lines:
                lines.append(line.strip())
            else:
                lines[-1] += " " + line.strip()
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m perfkit.config_schema [FILE]``: write the schema to FILE, or print it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print("usage: python -m perfkit.config_schema [FILE]", file=sys.stderr)
        return 2
    text = render(config_schema())
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
