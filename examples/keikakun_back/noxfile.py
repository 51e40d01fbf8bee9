# The team's noxfile.py (keikakun_back's root): `nox -s perf-small`, `perf-medium`, `perf-large`,
# one session per scale of perf/scales.yaml (found through pyproject.toml's [tool.perfkit]).
from perfkit.nox import perf_sessions

perf_sessions()
