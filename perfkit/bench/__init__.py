"""perfkit's own benchmarks that are commands (``perfkit bench-seed``, ``perfkit bench-restore``):
inside the package, so an installed perfkit has them. Scripts that are not commands stay in the
repository's ``benchmarks/`` folder."""
