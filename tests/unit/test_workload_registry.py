"""The workload registry: decorator marks, registry collects, docstring labels."""

from __future__ import annotations

import types

import pytest

from perfkit.apps.welfare import application
from perfkit.workload import UnknownWorkloadError, WorkloadContext, WorkloadRegistry, workload


class Done:
    def metrics(self) -> dict[str, int | float]:
        return {"n": 1}


def test_default_registry_holds_the_batch_labelled_by_its_docstring() -> None:
    reg = application().workloads
    assert reg.names == ("deadline_alerts",)
    assert reg.get("deadline_alerts").label.startswith("Deadline-alert e-mail batch")
    with pytest.raises(UnknownWorkloadError) as caught:
        reg.get("nope")
    assert caught.value.valid == ("deadline_alerts",)


def test_a_registry_is_built_from_the_modules_given() -> None:
    module = types.ModuleType("mine")

    @workload()
    async def fast(ctx: WorkloadContext) -> Done:
        """Something fast.

        More words that are not the label.
        """
        return Done()

    module.fast = fast  # type: ignore[attr-defined]
    reg = WorkloadRegistry.from_modules(module)
    assert [w.name for w in reg] == ["fast"] and len(reg) == 1
    assert reg.get("fast").label == "Something fast."
    assert WorkloadRegistry.from_modules(types.ModuleType("empty")).names == ()


def test_a_workload_needs_a_docstring_and_must_be_async() -> None:
    with pytest.raises(TypeError, match="docstring"):

        @workload()
        async def bare(ctx: WorkloadContext) -> Done:
            return Done()

    with pytest.raises(TypeError, match="async"):
        workload()(lambda ctx: Done())  # type: ignore[type-var]
