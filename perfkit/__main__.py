"""``python -m perfkit``: the ``perfkit`` console script (:func:`perfkit.console.main`)."""

from __future__ import annotations

import sys

from perfkit.console import main

if __name__ == "__main__":
    sys.exit(main())
