"""Reading scales.yaml's YAML strictly: duplicate keys, deep nesting and impossible values are
errors with a line number, never a silent surprise or a traceback.

Standard library, PyYAML and perfkit's error and text helpers only: ``noxfile.py`` imports
:mod:`perfkit.config`, which reads through this module, from its own small environment.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from perfkit.errors import ConfigFileError
from perfkit.text import clipped, quoted

#: Deeper than any key of scales.yaml goes (``regression.metrics.<metric>.<rule>`` is 4).
MAX_YAML_DEPTH = 32


def join_key(path: str, key: str) -> str:
    shown = key if key.isprintable() and key.strip() == key and key else quoted(key)
    return f"{path}.{shown}" if path else shown


class _DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping of the file gives the same key twice (``key_path`` names the second)."""

    def __init__(self, *, key_path: str, key: str, mark: Any) -> None:
        super().__init__(problem=f"the key {quoted(key)} is given twice", problem_mark=mark)
        self.key_path = key_path


class _TooDeepError(yaml.MarkedYAMLError):
    """The file nests deeper than :data:`MAX_YAML_DEPTH`."""

    def __init__(self, *, key_path: str, mark: Any) -> None:
        super().__init__(
            problem=f"nested more than {MAX_YAML_DEPTH} levels deep", problem_mark=mark
        )
        self.key_path = key_path


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader (tags such as ``!!python/object`` stay refused), stricter still:

    - a key given twice in one mapping is an error (PyYAML keeps the last, so a second
      ``small:`` silently replaces the first and whatever followed it vanishes);
    - nesting deeper than :data:`MAX_YAML_DEPTH` is an error (PyYAML recurses once per
      level and dies of a ``RecursionError``);
    - a value the constructor cannot make (an integer of 5,000 digits) is a YAML error at its
      line, not a ``ValueError``;
    - a date stays text (``run_day: 2026-12-01`` is the string ``'2026-12-01'``), as in YAML
      1.2 and in editors checking the file against its JSON Schema: no key of scales.yaml
      takes a date object.

    Aliases stay allowed: PyYAML shares the aliased object instead of copying it, and every
    message quotes values through :func:`perfkit.text.quoted`, so even a "billion laughs"
    document costs little.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str] = []

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if isinstance(index, ScalarNode):  # the value of a mapping's key
            part = join_key("", clipped(str(index.value)))
        elif isinstance(index, int):  # an item of a sequence
            part = f"[{index}]"
        else:  # a mapping's key, or the document itself
            part = ""
        self._path.append(part)
        try:
            if len(self._path) > MAX_YAML_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _TooDeepError(key_path=clipped(self._key_path()), mark=event.start_mark)
            node = super().compose_node(parent, index)
        finally:
            self._path.pop()
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: set[str] = set()
        for key_node, _value in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            if key_node.value in seen:
                where = self._key_path()
                raise _DuplicateKeyError(
                    key_path=join_key(where, clipped(key_node.value)),
                    key=key_node.value,
                    mark=key_node.start_mark,
                )
            seen.add(key_node.value)
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(
                problem=f"cannot read this value ({clipped(str(exc))})",
                problem_mark=node.start_mark,
            ) from None

    def _key_path(self) -> str:
        text = ""
        for part in filter(None, self._path):
            text = f"{text}{part}" if part.startswith("[") or not text else f"{text}.{part}"
        return text


_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(text: str, *, source: str) -> Any:
    """``text`` parsed by :class:`ConfigLoader`; a problem is a :class:`ConfigFileError`."""
    try:
        return yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = clipped(str(getattr(exc, "problem", None) or "invalid YAML"), limit=200)
        reason = (
            "duplicate_key"
            if isinstance(exc, _DuplicateKeyError)
            else "too_deep"
            if isinstance(exc, _TooDeepError)
            else "syntax"
        )
        raise ConfigFileError(
            f"not valid YAML{where}: {problem}",
            source=source,
            reason=reason,
            line=mark.line + 1 if mark else None,
            key_path=getattr(exc, "key_path", ""),
            hint="give each key once; a scale's settings go under its one name"
            if reason == "duplicate_key"
            else None,
        ) from None
    except RecursionError:  # a backstop: the depth limit above stops it first
        raise ConfigFileError(
            "not valid YAML: nested too deeply", source=source, reason="too_deep"
        ) from None
