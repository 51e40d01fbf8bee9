"""The sample application: the welfare-office schema, its data recipe, and its nightly batch.

It is the default ``app.entry`` (``perfkit.apps.welfare:application``) and reaches perfkit
through the same interface as any team's own application (:class:`perfkit.app.Application`):

- :mod:`.models`: the five tables (offices, staff, recipients, support plans and cycles);
- :mod:`.recipe`: how perfkit's deterministic rows fill them (``realistic`` or ``plan`` shape);
- :mod:`.batch`: the deadline-alert e-mail batch, the workload the performance runs time;
- :mod:`.mailer`: SMTP delivery for it.
"""

from __future__ import annotations

from perfkit.app import Application, RecipeData


def application() -> Application:
    """The sample application as perfkit loads it."""
    from perfkit.apps.welfare import batch, models, recipe
    from perfkit.schema import Schema
    from perfkit.workload import WorkloadRegistry

    return Application(
        name="welfare",
        data=RecipeData(schema=Schema(models.metadata), recipe=recipe.RECIPE),
        workloads=WorkloadRegistry.from_modules(batch),
        default_workload="deadline_alerts",
    )
