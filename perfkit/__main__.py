"""``python -m perfkit``: the ``perfkit`` console script (:func:`perfkit.console.script`)."""

from __future__ import annotations

from perfkit.console import script

if __name__ == "__main__":
    script()
