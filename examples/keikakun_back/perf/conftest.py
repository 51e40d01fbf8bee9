"""Which of perfkit's built-in performance tests keikakun's suite replaces.

``nox -s perf-<scale>`` (``perfkit perf``) runs this folder and perfkit's built-in tests
(``perfkit.perf_tests``): the default workload and every HTTP workload of scales.yaml. This
suite measures each of them itself, with more: the batch with its memory and counts
(``test_deadline_alerts``), the dashboard at 1 and 10 users, and the workloads that write on a
clone or need the ``known_passwords`` variant (name, password and e-mail changes; run
built-in, they would write on the shared data, or find no row). The built-in ones are
deselected, so that a run records one measurement of each.
"""

from __future__ import annotations

import pytest

#: perfkit's built-in tests (modules of ``perfkit.perf_tests``).
BUILT_IN = "perfkit.perf_tests."


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect perfkit's built-in tests: this suite measures the same workloads."""
    built_in = [
        i for i in items if getattr(getattr(i, "module", None), "__name__", "").startswith(BUILT_IN)
    ]
    if built_in:
        config.hook.pytest_deselected(items=built_in)
        items[:] = [i for i in items if i not in built_in]
