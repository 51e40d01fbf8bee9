"""Run records: one JSON line per measured scale, appended to ``results.jsonl``.

The file lives in ``results.directory`` (scales.yaml; default ``<state_dir>/results``, i.e.
``.perfkit/results``). Each line is one :class:`RunRecord`; reports and comparisons read them
back with :func:`read_records`, which skips a damaged line with a warning instead of failing.

A record (``schema`` 1)::

    {"schema": 1, "run_id": "...", "scale": "small", "when": "2026-02-09T03:00:00+00:00",
     "commit": "abc123..." | null,
     "machine": {"hostname": ..., "cpus": 2, "python": "3.11.9", "platform": ...},
     "backend": "native", "server_version": "15.10",
     "dataset": {"mode": "realistic", "seed": 42, "generator_version": ...,
                 "anchor_date": "2026-02-09", "rows": {"offices": 10, ...}},
     "metrics": {"batch_seconds": <median>, "prepare_seconds": ..., "restore_seconds": ...,
                 "seed_rows_per_second": ..., "statements": 1, "peak_memory_mb": ...,
                 "emails": 85, "offices": 10, "seconds_per_office": ...},
     "samples": {"batch_seconds": [...]}, "budgets": {"batch": 2.0, ...}, "passed": true,
     "workload": "deadline_alerts", "failures": []}

``restore_seconds`` and ``seed_rows_per_second`` appear only when that step happened.
``workload`` and ``failures`` are additions readers may ignore. ``profile`` (a later
addition; a record without it reads as an empty list) holds the statements of one untimed,
profiled run (:mod:`perfkit.profile`), most expensive first: ``{"fingerprint", "statement",
"calls", "total_ms", "mean_ms", "rows"}`` (rows returned to the application), the shared
buffers the statement touched, ``shared_blks_hit`` and ``shared_blks_read``, with
``buffers_source``: ``pg_stat_statements`` (the server's totals over the profiled run's calls)
or ``explain`` (``EXPLAIN (ANALYZE, BUFFERS)`` of one call, with its first parameters, where
the server keeps no statement figures), and, for the top few, ``"plan": {"shape",
"shape_hash", "slowest_node", "slowest_node_ms", "execution_ms", "plan"}`` (or ``{"error"}``);
its metrics ``db_seconds``, ``app_seconds`` and ``db_share`` split that run's wall time.
``budget_sources`` says where each budget's limit was set (``scales.yaml
scales.small.budgets.batch``, ``@perf_budget`` in a test file), by the keys of ``budgets``.
An HTTP workload's record (:mod:`perfkit.loadrun`) holds latency percentiles, throughput,
errors and statements per request in ``metrics`` instead of ``batch_seconds``, and its
latency at fixed percentiles in ``samples.latency_ladder_seconds``; memory figures
(:mod:`perfkit.memory`) add ``retained_heap_mb``, ``heap_growth_per_run_kb``, ``leak_ratio``,
``peak_rss_mb``... to ``metrics``; ``dataset.variant`` names a data variant when one was
applied.
No record holds a URL or a password. A line whose fields do not have these types (text,
numbers, objects, lists, as shown, at every depth: each metric and sample a finite number,
each profile entry and plan shape as described) is damaged, and skipped like a line that is
not JSON; so is a line nested deeper than any record is (:data:`MAX_DEPTH`), or holding
``NaN``, ``Infinity`` or a number beyond 64 bits anywhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import platform
import socket
import subprocess
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfkit.config import Config
from perfkit.text import quoted

SCHEMA_VERSION = 1
RESULTS_FILE = "results.jsonl"
#: Environment variables CI systems put the commit in, tried before asking git.
COMMIT_ENV_VARS = ("PERFKIT_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT")

Number = int | float
#: The percentiles whose latencies a load run's record keeps in
#: ``samples.latency_ladder_seconds`` (an HDR percentile plot's points; 100 is the maximum).
LADDER = (0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0)


class CorruptRecordWarning(UserWarning):
    """A line of results.jsonl could not be read as a run record; it was skipped."""


@dataclass(frozen=True)
class RunRecord:
    """One scale's measurement in one run. See the module docstring for the JSON shape."""

    run_id: str
    scale: str
    when: str
    commit: str | None
    machine: Mapping[str, Any]
    backend: str
    server_version: str
    dataset: Mapping[str, Any]
    metrics: Mapping[str, Number]
    samples: Mapping[str, list[float]]
    budgets: Mapping[str, float]
    passed: bool
    schema: int = SCHEMA_VERSION
    workload: str | None = None
    failures: list[str] = field(default_factory=list)
    #: The profiled run's statements (see the module docstring); empty in older records.
    profile: list[dict[str, Any]] = field(default_factory=list)
    #: Where each budget's limit was set, by the keys of ``budgets`` (empty in older records).
    budget_sources: dict[str, str] = field(default_factory=dict)

    def statement(self, fingerprint: str) -> dict[str, Any] | None:
        """The profile entry of ``fingerprint``, or ``None``."""
        return next((e for e in self.profile if e.get("fingerprint") == fingerprint), None)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data, ``schema`` first."""
        data = dataclasses.asdict(self)
        return {"schema": data.pop("schema"), **data}

    def to_json(self) -> str:
        """One line of JSON (UTF-8 text kept readable, no trailing newline)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """A record from parsed JSON; unknown keys are ignored, missing required ones raise
        ``ValueError``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - data.keys())
        if missing:
            raise ValueError(f"missing keys: {', '.join(missing)}")
        _check_types(data)
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def timestamp(self) -> dt.datetime:
        """``when`` as an aware datetime."""
        return dt.datetime.fromisoformat(self.when)


_TEXT = ("run_id", "scale", "when", "backend", "server_version")
_TEXT_OR_NULL = ("commit", "workload")
#: Deeper than any record perfkit writes nests (a plan's nodes, each an object in a list);
#: a deeper line is damage, and readers that walk it would run out of stack.
MAX_DEPTH = 200
#: Plan shapes deeper than this (nodes in nodes) are damage: no plan joins so many levels.
MAX_PLAN_DEPTH = 64


class _Bad(ValueError):
    """One field of a record that is not what the module docstring shows."""

    def __init__(self, where: str, expected: str, value: object) -> None:
        super().__init__(
            f"{quoted(where, limit=80)} must be {expected}, got {quoted(value, limit=40)}"
        )


def _check_types(data: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the first field of ``data`` whose type is not the one the
    module docstring shows, at any depth (readers rely on them: a number where text belongs,
    or a list where a number belongs, would fail far from here). Nesting deeper than
    :data:`MAX_DEPTH`, and numbers that are not finite or exceed 64 bits, are refused
    anywhere in the record, in fields readers ignore too."""
    _check_depth_and_numbers(data)
    for key in _TEXT:
        _text(data[key], key)
    for key in _TEXT_OR_NULL:
        if data.get(key) is not None:
            _text(data[key], key, empty=True)
    if not isinstance(data["passed"], bool):
        raise _Bad("passed", "true or false", data["passed"])
    schema = data.get("schema", SCHEMA_VERSION)
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise _Bad("schema", "a whole number", schema)
    for key, value in _object(data["machine"], "machine").items():
        if value is not None and not isinstance(value, str) and not _is_number(value):
            raise _Bad(f"machine.{key}", "text or a number", value)
    _check_dataset(_object(data["dataset"], "dataset"))
    for key in ("metrics", "budgets"):
        for name, value in _object(data[key], key).items():
            _number(value, f"{key}.{name}")
    for name, values in _object(data["samples"], "samples").items():
        for i, value in enumerate(_list(values, f"samples.{name}")):
            _number(value, f"samples.{name}[{i}]")
    for i, failure in enumerate(_list(data.get("failures", []), "failures")):
        _text(failure, f"failures[{i}]", empty=True)
    for key, source in _object(data.get("budget_sources", {}), "budget_sources").items():
        _text(source, f"budget_sources.{key}", empty=True)
    for i, entry in enumerate(_list(data.get("profile", []), "profile")):
        _check_profile_entry(_object(entry, f"profile[{i}]"), f"profile[{i}]")


def _check_dataset(dataset: Mapping[str, Any]) -> None:
    """The dataset's known fields (each optional: older records lack some)."""
    for key in ("mode", "anchor_date", "prepared", "key"):
        if key in dataset:
            _text(dataset[key], f"dataset.{key}")
    for key in ("seed", "generator_version"):
        value = dataset.get(key)
        if key in dataset and not isinstance(value, str) and not _is_whole(value):
            raise _Bad(f"dataset.{key}", "text or a whole number", value)
    if "rows" in dataset:
        for table, rows in _object(dataset["rows"], "dataset.rows").items():
            if not _is_whole(rows) or rows < 0:
                raise _Bad(f"dataset.rows.{table}", "a whole number of rows", rows)


def _check_profile_entry(entry: Mapping[str, Any], where: str) -> None:
    """One statement of the profile: its text and figures, and its plan when it has one."""
    for key in ("fingerprint", "statement"):
        _text(entry.get(key), f"{where}.{key}", empty=True)
    for key in ("calls", "total_ms", "mean_ms"):
        _number(entry.get(key), f"{where}.{key}")
    for key in ("rows", "server_calls", "server_total_ms", "shared_blks_hit", "shared_blks_read"):
        if key in entry:
            _number(entry[key], f"{where}.{key}")
    if "buffers_source" in entry:
        _text(entry["buffers_source"], f"{where}.buffers_source")
    if entry.get("plan") is None:
        return
    plan = _object(entry["plan"], f"{where}.plan")
    if "error" in plan:
        _text(plan["error"], f"{where}.plan.error", empty=True)
    for key in ("shape_hash", "slowest_node"):
        if key in plan:
            _text(plan[key], f"{where}.plan.{key}", empty=True)
    for key in ("slowest_node_ms", "execution_ms"):
        if key in plan:
            _number(plan[key], f"{where}.plan.{key}")
    if "plan" in plan:
        _object(plan["plan"], f"{where}.plan.plan")
    if "shape" in plan:
        _check_shape(plan["shape"], f"{where}.plan.shape")


def _check_shape(shape: object, where: str) -> None:
    """A plan shape: ``{"node": text, "relation"?: text, "index"?: text, "children"?:
    [shape, ...]}``, at most :data:`MAX_PLAN_DEPTH` nodes deep (walked without recursion)."""
    pending: list[tuple[object, int]] = [(shape, 1)]
    while pending:
        node, depth = pending.pop()
        at = where if depth == 1 else f"{where} (a node {depth} deep)"
        if depth > MAX_PLAN_DEPTH:
            raise _Bad(where, f"a plan at most {MAX_PLAN_DEPTH} nodes deep", "a deeper one")
        body = _object(node, at)
        _text(body.get("node"), f"{at}.node")
        for key in ("relation", "index"):
            if key in body:
                _text(body[key], f"{at}.{key}")
        children = _list(body.get("children", []), f"{at}.children")
        pending += [(child, depth + 1) for child in children]


def _check_depth_and_numbers(data: object) -> None:
    """Every value of the parsed line, walked without recursion: nesting at most
    :data:`MAX_DEPTH` deep, every number finite and within 64 bits."""
    pending: list[tuple[object, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
            items = value.values() if isinstance(value, dict) else value
            pending += [(item, depth + 1) for item in items]
        elif isinstance(value, float | int) and type(value) is not bool and not _is_number(value):
            raise ValueError(f"a number out of range: {quoted(value, limit=40)}")


def _text(value: object, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or not (value or empty):
        raise _Bad(where, "text" if empty else "non-empty text", value)
    return value


def _number(value: object, where: str) -> float:
    if not _is_number(value):
        raise _Bad(where, "a finite number", value)
    return float(value)  # type: ignore[arg-type]


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Bad(where, "an object", value)
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Bad(where, "a list", value)
    return value


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63


def _is_number(value: object) -> bool:
    """A JSON number readers can use: not a boolean, finite, within a float's range."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _refuse_constant(name: str) -> float:
    """``json.loads``'s hook for ``NaN``, ``Infinity`` and ``-Infinity``: not JSON numbers."""
    raise ValueError(f"{name} is not a number JSON allows")


def parse_line(line: str) -> RunRecord:
    """One line of results.jsonl as a record; ``ValueError`` when it is not one (not JSON,
    nested too deeply, a non-finite number, a field of the wrong type at any depth)."""
    try:
        data = json.loads(line, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
    return RunRecord.from_dict(data)


def results_path(cfg: Config) -> Path:
    """``results.jsonl`` in the configured results folder."""
    return cfg.results_dir / RESULTS_FILE


def append_record(path: Path, record: RunRecord) -> None:
    """Append ``record`` as one line; the folder is made if needed.

    The line goes out in a single ``write`` on a file opened for appending, so concurrent
    runs do not interleave their lines.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (record.to_json() + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_records(path: Path) -> list[RunRecord]:
    """Every record in ``path``, oldest first; none when the file does not exist.

    A line that is not a valid record (a crash mid-write, a hand edit) is skipped with a
    :class:`CorruptRecordWarning` naming the file and line number.
    """
    if not path.is_file():
        return []
    records: list[RunRecord] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(parse_line(line))
            except (ValueError, TypeError) as exc:
                warnings.warn(
                    f"{path}:{number}: skipped a damaged run record ({exc})",
                    CorruptRecordWarning,
                    stacklevel=2,
                )
    return records


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique id: ``20260209T030000Z-1a2b3c4d``."""
    when = now or utc_now()
    return f"{when.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def machine_info() -> dict[str, Any]:
    """Which machine ran: hostname, CPU count, Python version and platform."""
    return {
        "hostname": socket.gethostname(),
        "cpus": os.cpu_count() or 1,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def current_commit(root: Path, *, env: Mapping[str, str] | None = None) -> str | None:
    """The commit being measured: from CI's environment, else ``git rev-parse HEAD`` in
    ``root``; ``None`` outside a git checkout. Read-only."""
    env = os.environ if env is None else env
    for var in COMMIT_ENV_VARS:
        if env.get(var):
            return env[var].strip()
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None
