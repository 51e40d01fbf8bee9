"""The plan's staging rule and the ``perf-<scale>`` session's steps, in one place.

``PERF_TEST_SCALE=<name>`` runs that scale and every scale listed before it in scales.yaml:
with the shipped file, ``small`` runs small, ``medium`` runs small and medium, ``large`` runs
all three. The performance tests ask :func:`scale_gates` which scales run and why the others
are skipped; ``noxfile.py`` runs :func:`perf_session_commands`, and a test runs the very same
commands, so the session cannot drift from what is tested.

Standard library and :mod:`perfkit.config` only: ``noxfile.py`` imports this module from its
own small environment (nox, PyYAML and msgspec).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from perfkit.config import Config, Scale

#: The environment variable that chooses how far a performance run goes.
PERF_TEST_SCALE_ENV = "PERF_TEST_SCALE"
#: Where the performance tests live, relative to the project folder.
PERFORMANCE_TESTS = "tests/performance"


@dataclass(frozen=True)
class ScaleGate:
    """Whether one scale runs under the chosen ``PERF_TEST_SCALE``, and if not, why."""

    scale: Scale
    runs: bool
    reason: str


def scale_gates(cfg: Config, target: str | None) -> tuple[ScaleGate, ...]:
    """Every scale of ``cfg`` in order, each saying whether it runs for ``target``.

    ``target`` is ``PERF_TEST_SCALE``'s value; ``None`` or empty runs nothing (the tests are
    only meant to run from ``nox -s perf-<scale>``). An unknown name raises
    :class:`~perfkit.errors.UnknownScaleError` listing the valid ones.
    """
    if not target:
        reason = (
            f"{PERF_TEST_SCALE_ENV} is not set; run `nox -s perf-<scale>` "
            f"or set {PERF_TEST_SCALE_ENV}=<scale> ({', '.join(cfg.scale_names)})"
        )
        return tuple(ScaleGate(scale=s, runs=False, reason=reason) for s in cfg.scales.values())
    running = cfg.scales_up_to(target)
    names = ", ".join(s.name for s in running)
    gates = []
    for scale in cfg.scales.values():
        if scale in running:
            gates.append(ScaleGate(scale=scale, runs=True, reason=f"{names} run"))
        else:
            gates.append(
                ScaleGate(
                    scale=scale,
                    runs=False,
                    reason=f"{PERF_TEST_SCALE_ENV}={target} runs {names} only: {scale.name!r} "
                    f"comes after {target!r} in {cfg.source.name} (the staging rule)",
                )
            )
    return tuple(gates)


def perf_session_env(scale: Scale) -> dict[str, str]:
    """The environment a ``perf-<scale>`` session adds to every step."""
    return {PERF_TEST_SCALE_ENV: scale.name}


def perf_session_commands(
    scale: Scale, *, pytest_args: Sequence[str] = ()
) -> list[tuple[str, ...]]:
    """The steps of ``nox -s perf-<scale>``: database up -> data ready -> performance tests.

    ``perfkit db-up`` reuses a running server; ``perfkit prepare`` keeps, restores or seeds the
    scale's data; pytest runs the scales up to this one, each scale's test under its own
    ``timeout`` (a marker from scales.yaml); ``--timeout`` is the fallback for anything else.
    """
    return [
        ("perfkit", "db-up"),
        ("perfkit", "prepare", "--scale", scale.name),
        (
            "pytest",
            "-m",
            "performance",
            PERFORMANCE_TESTS,
            f"--timeout={scale.timeout}",
            *pytest_args,
        ),
    ]


def target_scale(env: Mapping[str, str]) -> str | None:
    """``PERF_TEST_SCALE`` from ``env``, or ``None`` when unset or empty."""
    return env.get(PERF_TEST_SCALE_ENV) or None
