"""The staged performance tests (marker ``performance``), run by ``nox -s perf-<scale>``."""
