"""Which scales a CI event runs, from each scale's ``frequency`` in scales.yaml.

GitHub Actions cannot read scales.yaml when it decides to start a workflow, so the triggers in
``.github/workflows/perf.yml`` are written out (``push``, ``pull_request`` and one cron line
per frequency). Everything else comes from scales.yaml at run time: the workflow's first job
runs ``python -m perfkit.schedule`` with the event, and this module answers with the scales
whose frequency matches, each with its job timeout. The mapping:

================  ===============================================================
frequency         runs on
================  ===============================================================
``every-commit``  ``push`` and ``pull_request``
``daily``         a cron line with every day of month and week: ``M H * * *``
``weekly``        a cron line with one day of the week: ``M H * * D``
``monthly``       a cron line with one day of the month: ``M H D * *``
``manual``        only ``workflow_dispatch`` (which can also run any scale by name)
================  ===============================================================

``nightly`` is accepted as another name for ``daily``. A unit test keeps the workflow's
triggers and scales.yaml in step: every frequency used by a scale has its trigger.

This module needs only PyYAML, msgspec and the standard library, so the workflow's planning job
runs it without installing perfkit's dependencies.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from perfkit.config import Config, Scale, load_config
from perfkit.errors import ConfigError, PerfkitError

#: Every frequency a scale may name, in the order they are documented.
FREQUENCIES = ("every-commit", "daily", "weekly", "monthly", "manual")
_ALIASES = {"nightly": "daily"}
#: Events that run the ``every-commit`` scales.
COMMIT_EVENTS = ("push", "pull_request")
#: Minutes a CI job gets on top of its scales' pytest timeouts (checkout, installs, report).
SETUP_MINUTES = 15


def normalize_frequency(frequency: str) -> str:
    """The canonical name of ``frequency`` (``nightly`` -> ``daily``)."""
    return _ALIASES.get(frequency, frequency)


def cron_frequency(cron: str) -> str:
    """``daily``, ``weekly`` or ``monthly`` for a five-field cron line; else a ConfigError."""
    fields = cron.split()
    if len(fields) != 5:
        raise ConfigError(
            f"expected a five-field cron line, got {cron!r}", source="workflow", key_path="cron"
        )
    _minute, _hour, day_of_month, month, day_of_week = fields
    single = re.compile(r"[0-9]+")
    if month == "*" and day_of_month == "*" and day_of_week == "*":
        return "daily"
    if month == "*" and day_of_month == "*" and single.fullmatch(day_of_week):
        return "weekly"
    if month == "*" and single.fullmatch(day_of_month) and day_of_week == "*":
        return "monthly"
    raise ConfigError(
        f"cannot tell whether cron line {cron!r} is daily, weekly or monthly",
        source="workflow",
        key_path="cron",
        hint="use 'M H * * *' (daily), 'M H * * D' (weekly) or 'M H D * *' (monthly)",
    )


def check_frequencies(cfg: Config) -> None:
    """Raise a ConfigError naming the first scale whose frequency is not in :data:`FREQUENCIES`."""
    for scale in cfg.scales.values():
        if normalize_frequency(scale.frequency) not in FREQUENCIES:
            raise ConfigError(
                f"unknown frequency {scale.frequency!r}; expected one of {', '.join(FREQUENCIES)}",
                source=cfg.source.name,
                key_path=f"scales.{scale.name}.frequency",
            )


def event_frequency(event: str, *, cron: str | None = None) -> str | None:
    """The frequency a GitHub event stands for; ``None`` when it runs no scale by frequency."""
    if event in COMMIT_EVENTS:
        return "every-commit"
    if event == "schedule":
        if not cron:
            raise ConfigError(
                "a schedule event needs its cron line", source="workflow", key_path="schedule"
            )
        return cron_frequency(cron)
    return None


def scales_for_event(
    cfg: Config, *, event: str, cron: str | None = None, requested: Sequence[str] = ()
) -> tuple[Scale, ...]:
    """The scales an event runs: ``requested`` by name (manual runs), else by frequency."""
    check_frequencies(cfg)
    if requested:
        return tuple(cfg.scale(name) for name in requested)
    wanted = event_frequency(event, cron=cron)
    if wanted is None:
        return ()
    return tuple(s for s in cfg.scales.values() if normalize_frequency(s.frequency) == wanted)


@dataclass(frozen=True)
class MatrixEntry:
    """One CI job: the scale it runs and the minutes it may take."""

    scale: str
    timeout_minutes: int


def job_timeout_minutes(cfg: Config, scale: Scale) -> int:
    """Setup minutes plus the pytest timeouts of every scale the session runs (staging rule)."""
    seconds = sum(s.timeout for s in cfg.scales_up_to(scale.name))
    return SETUP_MINUTES + -(-seconds // 60)


def github_matrix(
    cfg: Config, *, event: str, cron: str | None = None, requested: Sequence[str] = ()
) -> list[MatrixEntry]:
    """The ``include`` list of the workflow's ``perf`` job for this event."""
    scales = scales_for_event(cfg, event=event, cron=cron, requested=requested)
    return [MatrixEntry(s.name, job_timeout_minutes(cfg, s)) for s in scales]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m perfkit.schedule --event NAME [--cron LINE] [--scale NAME ...]``.

    Prints ``matrix=<json>`` (the ``include`` list) for ``$GITHUB_OUTPUT``.
    """
    parser = argparse.ArgumentParser(prog="python -m perfkit.schedule", description=__doc__)
    parser.add_argument("--config", help="config file (default: $PERFKIT_CONFIG, scales.yaml)")
    parser.add_argument("--event", required=True, help="github.event_name")
    parser.add_argument("--cron", default=None, help="github.event.schedule, for schedules")
    parser.add_argument(
        "--scale", action="append", default=[], help="run this scale (repeatable; manual runs)"
    )
    args = parser.parse_args(argv)
    requested = [name for item in args.scale for name in item.replace(",", " ").split()]
    try:
        matrix = github_matrix(
            load_config(args.config), event=args.event, cron=args.cron, requested=requested
        )
    except PerfkitError as exc:
        print(f"perfkit: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    include = [{"scale": m.scale, "timeout_minutes": m.timeout_minutes} for m in matrix]
    print("matrix=" + json.dumps(include, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
