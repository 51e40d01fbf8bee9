"""perfkit's built-in performance tests, shipped with perfkit: ``perfkit perf --scale <name>``
(``nox -s perf-<name>``) collects them with ``--pyargs perfkit.perf_tests`` beside the project's
own (scales.yaml ``perf.tests``).

- ``test_default_workload``: the application's default workload (``app.default_workload``) at
  every scale, as scales.yaml configures it;
- ``test_http_workloads``: every HTTP workload of scales.yaml (``kind: http``) under its load.

Both are written on perfkit's pytest plugin (:mod:`perfkit.pytest_plugin`), like a team's own.
"""
