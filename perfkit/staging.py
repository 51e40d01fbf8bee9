"""The plan's staging rule and the ``perf-<scale>`` session's steps, in one place.

``PERF_TEST_SCALE=<name>`` runs that scale and every scale listed before it in scales.yaml:
with the shipped file, ``small`` runs small, ``medium`` runs small and medium, ``large`` runs
all three. The performance tests ask :func:`scale_gates` which scales run and why the others
are skipped; ``perfkit perf --scale <name>`` (what ``nox -s perf-<name>`` runs) runs pytest with
:func:`perf_pytest_args` and :func:`perf_session_env`.

Standard library and :mod:`perfkit.config` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from perfkit.config import Config, Scale

#: The environment variable that chooses how far a performance run goes.
PERF_TEST_SCALE_ENV = "PERF_TEST_SCALE"
#: perfkit's built-in performance tests (the default workload, the HTTP workloads): a package.
BUILT_IN_TESTS = "perfkit.perf_tests"
#: pytest's warning about modules it cannot rewrite (perfkit itself, imported before pytest).
REWRITE_WARNING_IGNORED = "ignore::pytest.PytestAssertRewriteWarning"
#: Hypothesis's pytest plugin, which ``perfkit perf`` does not load.
HYPOTHESIS_PLUGIN = "hypothesispytest"


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
    """The environment ``perfkit perf --scale <name>`` runs pytest with."""
    return {PERF_TEST_SCALE_ENV: scale.name}


def perf_test_paths(cfg: Config) -> tuple[Path, ...]:
    """The project's own performance tests: scales.yaml ``perf.tests`` (absolute), else the
    config file's folder (a team's ``perf/`` folder)."""
    return cfg.perf.tests if cfg.perf.tests is not None else (cfg.root,)


def perf_pytest_args(cfg: Config, scale: Scale, *, pytest_args: Sequence[str] = ()) -> list[str]:
    """pytest's arguments for ``perfkit perf --scale <name>``: the tests marked ``performance``
    among the project's (:func:`perf_test_paths`) and perfkit's built-in ones (``--pyargs
    perfkit.perf_tests``), every scale up to this one under its own ``timeout`` (a marker from
    scales.yaml), ``--timeout`` for anything else; ``pytest_args`` (after ``--``) last.

    The project's paths are given as paths and the built-in tests by module name, so pytest
    finds its rootdir and configuration from the project's folders: the project's own pytest
    configuration governs its tests, never perfkit's. pytest runs in the process of
    ``perfkit perf``, which imported perfkit (a pytest plugin) before pytest started: pytest's
    warning that it cannot rewrite the asserts of modules imported already is silenced.
    Hypothesis's pytest plugin (installed with ``perfkit[test]``) is not loaded: importing it
    costs about a second of every run, and performance tests draw no examples."""
    return [
        "-m",
        "performance",
        f"--timeout={scale.timeout}",
        "-W",
        REWRITE_WARNING_IGNORED,
        "-p",
        f"no:{HYPOTHESIS_PLUGIN}",
        *(str(p) for p in perf_test_paths(cfg)),
        "--pyargs",
        BUILT_IN_TESTS,
        *pytest_args,
    ]


def target_scale(env: Mapping[str, str]) -> str | None:
    """``PERF_TEST_SCALE`` from ``env``, or ``None`` when unset or empty."""
    return env.get(PERF_TEST_SCALE_ENV) or None
