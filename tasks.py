"""perfkit's invoke tasks: the ``perfkit`` commands, for ``invoke`` in perfkit's own checkout.

``invoke --list`` shows them; ``invoke <task> --help`` explains each flag. They are the same
commands, with the same flags, as the ``perfkit`` console script (:mod:`perfkit.invoke_tasks`
builds them from :data:`perfkit.commands.COMMANDS`).
"""

from __future__ import annotations

from perfkit.invoke_tasks import namespace

ns = namespace()
