"""perfkit: cheap, daily performance tests for PostgreSQL-backed async Python applications.

The flow: ``scales.yaml`` -> :mod:`perfkit.config` -> a running PostgreSQL (:mod:`perfkit.env`)
-> schema (:mod:`perfkit.schema`) -> generated data -> snapshot / restore -> the workload under
test -> measurements. The ``perfkit`` command (:mod:`perfkit.console`), ``tasks.py`` (invoke) and
``noxfile.py`` (nox) are thin front ends over one command layer (:mod:`perfkit.commands`).
"""

from __future__ import annotations

__version__ = "0.1.0"
