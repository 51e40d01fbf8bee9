"""Spares without a server: their names (helpers of a template) and the record in their comment."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from perfkit.database import (
    MAX_NAME,
    SPARE_MARK,
    helper_owner,
    is_ready_spare_name,
    lock_owner,
    ready_spare_name,
    ready_spares_prefix,
    spare_name,
)
from perfkit.snapshot.spares import SpareInfo
from perfkit.snapshot.template import TemplateInfo, template_name

OWNER = "0123456789abcdef"
TEMPLATE = template_name("medium", "3071d16b6885aaaa")


def tpl(**changes: object) -> TemplateInfo:
    base = TemplateInfo(
        name=TEMPLATE,
        scale="medium",
        dataset_key="3071d16b6885aaaa",
        schema_fingerprint="f" * 16,
        snapshot_id="20260209-101530-a1b2",
        anchor_date=dt.date(2026, 2, 9),
        owner=OWNER,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def spare(**changes: object) -> SpareInfo:
    base = SpareInfo.of(
        ready_spare_name(TEMPLATE, OWNER),
        tpl(),
        oid=16400,
        owner=OWNER,
        seal=1028,
        settings=(("role", "", "work_mem=64MB"),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_spare_is_a_helper_of_its_template_one_per_project() -> None:
    name = ready_spare_name(TEMPLATE, OWNER)
    assert name == f"{TEMPLATE}__pkrdy_012345"
    assert helper_owner(name) == TEMPLATE and is_ready_spare_name(name)
    assert name.startswith(ready_spares_prefix(TEMPLATE))
    assert ready_spare_name(TEMPLATE, "fedcba9876543210") != name  # another project's
    # its lock is its own (builds and the restore taking it hold it); other helpers' is the owner's
    assert lock_owner(name) == name
    assert lock_owner(spare_name("perfkit_test")) == "perfkit_test"
    assert lock_owner("perfkit_test") == "perfkit_test"
    # names that only look alike are not spares
    assert not is_ready_spare_name(f"{TEMPLATE}__pkrdy_notours")
    assert not is_ready_spare_name(spare_name(TEMPLATE))
    with pytest.raises(ValueError):
        ready_spare_name(TEMPLATE, "not-hex!")


def test_the_longest_template_name_still_fits() -> None:
    longest = template_name("s" * 60, "k" * 16)
    name = ready_spare_name(longest, OWNER)
    assert len(name.encode()) <= MAX_NAME
    assert is_ready_spare_name(name) and name.startswith(ready_spares_prefix(longest))


def test_the_ready_record_reads_back_and_anything_else_is_not_ready() -> None:
    info = spare()
    comment = info.comment()
    assert comment.startswith(SPARE_MARK)
    assert SpareInfo.parse(info.name, comment) == info
    for not_ready in (
        None,
        "",
        "created by perfkit: test database",  # a clone in the making
        SPARE_MARK + "{",
        SPARE_MARK + '{"template": "x"}',
        comment.replace('"seal": 1028', '"seal": "x"'),
    ):
        assert SpareInfo.parse(info.name, not_ready) is None


def test_a_spare_copies_its_template_only_as_the_template_is_now() -> None:
    info = spare()
    assert info.differs(tpl(), oid=16400) is None
    assert info.differs(tpl(), oid=16401) is not None  # the template was replaced
    assert info.differs(tpl(refreshing=True), oid=16400) is not None
    assert info.differs(tpl(snapshot_id="20260301-000000-0000"), oid=16400) is not None
    assert info.differs(tpl(dataset_key="0" * 16), oid=16400) is not None
    moved = info.differs(tpl(anchor_date=dt.date(2026, 2, 10)), oid=16400)
    assert moved is not None and "2026-02-10" in moved
