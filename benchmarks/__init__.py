"""Side-by-side benchmarks (``invoke bench-seed``, ``invoke bench-restore``); not part of the
installed package."""
