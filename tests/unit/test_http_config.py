"""scales.yaml's HTTP and variant sections (msgspec structs): what they accept, and refusals
as one ConfigError naming the key path; request scripts bound to rows and rendered."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest

from perfkit.errors import ConfigError
from perfkit.http.script import bind_script, jsonable, placeholders
from perfkit.httpconfig import HttpApp, HttpWorkload, RequestSpec
from perfkit.typedconfig import build, build_value
from perfkit.variants import (
    UnknownVariantError,
    VariantConfig,
    Variants,
    variant_named,
)

WORKLOAD: dict[str, Any] = {
    "kind": "http",
    "rows": {"sql": "SELECT id AS staff_id, office_id FROM staffs"},
    "requests": [
        {
            "method": "patch",
            "path": "/offices/{office_id}/staff/{staff_id}",
            "query": {"limit": 5},
            "json": {"name": "Staff {staff_id}", "office": "{office_id}", "n": [1, "{office_id}"]},
            "headers": {"x-office": "{office_id}"},
            "user": "{staff_id}",
            "allow": [404],
        }
    ],
    "load": {"users": 10, "duration": 5},
    "budgets": {"small": {"p95": 0.5, "errors": 0, "statements_per_request": 12}},
}


def workload(**changes: Any) -> HttpWorkload:
    return build(
        HttpWorkload, {**WORKLOAD, **changes}, source="scales.yaml", key_path="app.workloads.w"
    )


def refused(model: type[Any], data: object, key_path: str = "app.http") -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        build(model, data, source="scales.yaml", key_path=key_path)
    assert caught.value.exit_code == 2
    assert "\n" not in caught.value.one_line()
    return caught.value


def test_a_workload_reads_its_script_load_and_budgets() -> None:
    w = workload()
    (request,) = w.requests
    assert request.method == "PATCH" and request.json_body["office"] == "{office_id}"
    assert w.load.users == 10 and w.load.model == "closed" and w.mode == "in-process"
    assert w.budgets["small"].percentiles == {95.0: 0.5}


@pytest.mark.parametrize(
    ("data", "key_path"),
    [
        ({**WORKLOAD, "kind": "sql"}, "app.workloads.w.kind"),
        ({**WORKLOAD, "requests": []}, "app.workloads.w.requests"),
        ({**WORKLOAD, "requests": [{"path": "no-slash"}]}, "app.workloads.w.requests[0].path"),
        ({**WORKLOAD, "requests": [{"path": "/", "method": "FETCH"}]},
         "app.workloads.w.requests[0].method"),
        ({**WORKLOAD, "requests": [{"path": "/", "status": 700}]},
         "app.workloads.w.requests[0].status"),
        ({**WORKLOAD, "requests": [{"path": "/", "status": [200, 99]}]},
         "app.workloads.w.requests[0].status[1]"),
        ({**WORKLOAD, "rows": {"sql": "x", "call": "a:b"}}, "app.workloads.w.rows"),
        ({**WORKLOAD, "load": {"users": 1}}, "app.workloads.w.load"),
        ({**WORKLOAD, "budgets": {"small": {"p95": "fast"}}}, "app.workloads.w.budgets.small"),
        ({**WORKLOAD, "mode": "docker"}, "app.workloads.w.mode"),
    ],
)  # fmt: skip
def test_a_bad_workload_is_one_line_naming_its_key(data: dict[str, Any], key_path: str) -> None:
    assert refused(HttpWorkload, data, "app.workloads.w").key_path == key_path


def test_the_http_app_and_its_overrides() -> None:
    http = build(HttpApp,
        {
            "app": "myapp.main:app",
            "overrides": {
                "db_session": "myapp.db:get_db",
                "current_user": {"dependency": "myapp.auth:me", "sql": "SELECT id FROM staffs",
                                 "model": "myapp.models:Staff"},
                "disable": ["myapp.limits:rate_limit"],
                "set": {"myapp.limits:limiter.enabled": False},
            },
        },
        source="scales.yaml",
        key_path="app.http",
    )  # fmt: skip
    assert http.overrides.current_user is not None
    assert http.overrides.current_user.model == "myapp.models:Staff"
    assert http.base_url == "http://perfkit.test" and http.server.ready_path == "/"


@pytest.mark.parametrize(
    ("data", "key_path"),
    [
        ({"app": "not a path"}, "app.http.app"),
        ({"app": "a:b", "overrides": {"db_session": 3}}, "app.http.overrides.db_session"),
        ({"app": "a:b", "overrides": {"current_user": {"dependency": "a:me", "sql": 42}}},
         "app.http.overrides.current_user.sql"),
        ({"app": "a:b", "overrides": {"current_user": {"dependency": "a:me"}}},
         "app.http.overrides.current_user"),
        # a model is loaded in the request's session: db_session is needed
        ({"app": "a:b", "overrides": {"current_user": {"dependency": "a:me", "sql": "s",
                                                        "model": "a:M"}}}, "app.http.overrides"),
        ({"app": "a:b", "overrides": {"set": {"a:flag": 1}}}, "app.http.overrides.set.a:flag"),
        ({"app": "a:b", "overrides": {"dissable": []}}, "app.http.overrides.dissable"),
    ],
)  # fmt: skip
def test_bad_overrides_name_their_key(data: dict[str, Any], key_path: str) -> None:
    assert refused(HttpApp, data).key_path == key_path


def test_an_unknown_key_deep_down_suggests_the_close_one() -> None:
    error = refused(HttpApp, {"app": "a:b", "overrides": {"dissable": []}})
    assert error.suggestion == "disable"
    assert error.message.startswith("scales.yaml: app.http.overrides.dissable: unknown key")


def test_status_codes_accepted_by_default_by_status_and_by_allow() -> None:
    plain = RequestSpec(path="/")
    created = build(RequestSpec, {"path": "/", "status": 201, "allow": [409]}, source="s")
    assert [plain.accepts(c) for c in (200, 204, 301, 404, 500)] == [1, 1, 0, 0, 0]
    assert [created.accepts(c) for c in (200, 201, 409)] == [False, True, True]


def test_a_script_renders_each_iteration_from_its_row_in_order() -> None:
    office = uuid.UUID(int=7)
    rows = [{"staff_id": 11, "office_id": office}, {"staff_id": 12, "office_id": office}]
    script = bind_script(workload().requests, rows, source="s", key_path="app.workloads.w")
    first, second, third = (script.calls(i)[0] for i in range(3))
    assert first.path == f"/offices/{office}/staff/11"
    assert first.params == {"limit": "5"} and first.headers == {"x-office": str(office)}
    # a JSON value that is one placeholder keeps the value's JSON type
    assert first.json == {"name": "Staff 11", "office": str(office), "n": [1, str(office)]}
    assert first.user == "11" and second.user == "12" and third.user == "11"  # round robin


def test_a_placeholder_without_a_column_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ConfigError) as caught:
        bind_script(workload().requests, [{"staff_id": 1}], source="s", key_path="app.workloads.w")
    assert caught.value.key_path == "app.workloads.w.requests.0.path"
    assert "{office_id}" in caught.value.message


def test_placeholders_are_plain_column_names() -> None:
    assert placeholders("/a/{x}/{{literal}}/{y}") == ["x", "y"]
    for bad in ("{x.__class__}", "{x[0]}", "{x!r}", "{x:>4}"):
        with pytest.raises(ValueError, match="a column name in braces"):
            placeholders(bad)


def test_values_are_rendered_as_json_carries_them() -> None:
    value = {"d": dt.date(2026, 2, 9), "u": uuid.UUID(int=1), "m": decimal.Decimal("1.50"),
             "l": (1, dt.time(8, 30))}  # fmt: skip
    assert jsonable(value) == {
        "d": "2026-02-09", "u": str(uuid.UUID(int=1)), "m": "1.50", "l": [1, "08:30:00"]
    }  # fmt: skip


def test_variants_read_sql_or_a_callable_and_apply_per_scale() -> None:
    variants = build_value(
        Variants,
        {
            "empty_office": {"description": "an office with no staff", "sql": "DELETE FROM x"},
            "odd": {"description": "JSON null", "call": "perf.v:odd", "scales": ["small"]},
        },
        source="scales.yaml",
        key_path="variants",
    )
    assert variants["empty_office"].statements == ("DELETE FROM x",)
    assert variant_named(variants, "odd", "small").call == "perf.v:odd"
    with pytest.raises(UnknownVariantError) as caught:
        variant_named(variants, "odd", "large")
    assert caught.value.valid == ("empty_office",)


@pytest.mark.parametrize(
    ("data", "key_path"),
    [
        ({"v": {"description": "d"}}, "variants.v"),
        ({"v": {"description": "d", "sql": "x", "call": "a:b"}}, "variants.v"),
        ({"v": {"description": "", "sql": "x"}}, "variants.v.description"),
        ({"v": {"description": "d", "sql": ["x", " "]}}, "variants.v.sql[1]"),
        ({"v": {"description": "d", "call": "nope"}}, "variants.v.call"),
        ({"Bad Name": {"description": "d", "sql": "x"}}, "variants.Bad Name"),
    ],
)
def test_bad_variants_name_their_key(data: dict[str, Any], key_path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_value(Variants, data, source="scales.yaml", key_path="variants")
    assert caught.value.key_path == key_path
    assert "\n" not in caught.value.one_line()


def test_a_variant_config_is_frozen() -> None:
    v = VariantConfig(description="d", sql=("x",))
    with pytest.raises(AttributeError, match="immutable"):
        v.description = "other"  # type: ignore[misc]
