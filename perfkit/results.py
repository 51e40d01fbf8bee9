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
"calls", "total_ms", "mean_ms", "rows"}`` and, for the top few, ``"plan": {"shape",
"shape_hash", "slowest_node", "slowest_node_ms", "execution_ms", "plan"}`` (or ``{"error"}``);
its metrics ``db_seconds``, ``app_seconds`` and ``db_share`` split that run's wall time.
No record holds a URL or a password. A line whose fields do not have these types (text,
numbers, objects, lists, as shown) is damaged, and skipped like a line that is not JSON.
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


def _check_types(data: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the first field of ``data`` whose type is not the one the
    module docstring shows (readers rely on them: a number where text belongs, or a list
    where a number belongs, would fail far from here)."""

    def bad(key: str, expected: str) -> ValueError:
        return ValueError(f"{key!r} must be {expected}, got {quoted(data.get(key), limit=40)}")

    for key in _TEXT:
        if not isinstance(data[key], str) or not data[key]:
            raise bad(key, "non-empty text")
    for key in _TEXT_OR_NULL:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise bad(key, "text or null")
    if not isinstance(data["passed"], bool):
        raise bad("passed", "true or false")
    if not isinstance(data.get("schema", SCHEMA_VERSION), int) or isinstance(
        data.get("schema"), bool
    ):
        raise bad("schema", "a whole number")
    for key in ("machine", "dataset", "metrics", "samples", "budgets"):
        if not isinstance(data[key], Mapping):
            raise bad(key, "an object")
    if not all(v is None or isinstance(v, str | int | float) for v in data["machine"].values()):
        raise bad("machine", "an object of text and numbers")
    for key in ("metrics", "budgets"):
        if not all(_is_number(v) for v in data[key].values()):
            raise bad(key, "an object of finite numbers")
    samples = data["samples"].values()
    if not all(isinstance(v, list) and all(map(_is_number, v)) for v in samples):
        raise bad("samples", "an object of lists of finite numbers")
    failures = data.get("failures", [])
    if not isinstance(failures, list) or not all(isinstance(f, str) for f in failures):
        raise bad("failures", "a list of text")
    profile = data.get("profile", [])
    if not isinstance(profile, list) or not all(
        isinstance(e, Mapping)
        and isinstance(e.get("fingerprint"), str)
        and isinstance(e.get("statement"), str)
        and _is_number(e.get("calls"))
        for e in profile
    ):
        raise bad("profile", "a list of statement objects")


def _is_number(value: object) -> bool:
    """A JSON number readers can use: not a boolean, finite, within a float's range."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2**63
    return isinstance(value, float) and math.isfinite(value)


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
                records.append(RunRecord.from_dict(json.loads(line)))
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
