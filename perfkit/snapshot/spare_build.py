"""``python -m perfkit.snapshot.spare_build``: the background build of a template's spare.

:func:`perfkit.snapshot.spares.start_build` starts it with its job on stdin; the work is
:func:`perfkit.snapshot.spares.main`. (A module of its own, so that ``-m`` never runs a second
copy of :mod:`perfkit.snapshot.spares`, which the package imports.)
"""

from __future__ import annotations

from perfkit.snapshot.spares import main

if __name__ == "__main__":
    raise SystemExit(main())
