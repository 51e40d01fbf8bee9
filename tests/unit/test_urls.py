"""URLs: masking everywhere a password could leak, and conversions between drivers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfkit.errors import UrlError
from perfkit.urls import (
    connection_database,
    database_name,
    database_readings,
    make_url,
    mask_text,
    mask_url,
    parse_conninfo,
    password_of,
    to_asyncpg,
    to_sqlalchemy,
    with_database,
)

PASSWORD = "s3cr:et/p@ss"


def url() -> str:
    return make_url(user="postgres", password=PASSWORD, host="127.0.0.1", port=5433,
                    database="keikakun_test_performance")  # fmt: skip


def test_make_url_quotes_and_round_trips() -> None:
    assert password_of(url()) == PASSWORD
    assert database_name(url()) == "keikakun_test_performance"
    assert database_name(with_database(url(), "other_test")) == "other_test"
    assert password_of(with_database(url(), "x")) == PASSWORD


def test_masking_hides_the_password_in_urls_and_text() -> None:
    masked = mask_url(url())
    assert "***" in masked and "s3cr" not in masked
    assert masked.endswith("@127.0.0.1:5433/keikakun_test_performance")
    line = f"could not connect to {to_sqlalchemy(url())}: refused"
    assert "s3cr" not in mask_url(line)
    assert "s3cr" not in mask_text(f"password was {PASSWORD}", PASSWORD)


def test_repr_of_a_perfkit_url_is_masked_but_the_string_is_whole() -> None:
    for u in (url(), with_database(url(), "other_test")):
        assert "s3cr" not in repr(u)
        assert "s3cr" not in repr({"url": u})  # how pytest and tracebacks show values
        assert password_of(str(u)) == PASSWORD


def test_driver_conversions() -> None:
    assert to_sqlalchemy("postgres://a:b@h/d").startswith("postgresql+asyncpg://")
    assert to_asyncpg("postgresql+asyncpg://a:b@h/d").startswith("postgresql://")


def test_database_name_refuses_a_url_that_names_its_database_twice_or_not_at_all() -> None:
    """Every check and connection reads the name through ``parse_url`` (issue 18)."""
    for bad, reason in (
        ("postgresql://a@h", "no_database"),
        ("postgresql://a@h/perfkit_test?dbname=other_prod", "query_target"),
        ("postgresql+asyncpg://a@h/perfkit_test?database=other_prod", "query_target"),
    ):
        with pytest.raises(UrlError) as info:
            database_name(bad)
        assert info.value.reason == reason


#: Keyword/value strings as people write them, with libpq's quoting and escapes.
CONNINFO_SAMPLES = [
    "dbname=shop_prod host=db.example user=app",
    "  dbname = 'my db'   host=h  ",
    r"dbname=a\ b port=5433",
    r"dbname='it\'s' user=x",
    "dbname=one dbname=two",
    "host=h dbname=''",
    r"password='p@ss w0rd\\' dbname=d",
    "dbname='x'host=h",
]


@pytest.mark.parametrize("text", CONNINFO_SAMPLES)
def test_keyword_strings_read_as_libpq_reads_them(text: str) -> None:
    conninfo = pytest.importorskip("psycopg.conninfo")
    assert parse_conninfo(text) == conninfo.conninfo_to_dict(text)


@given(
    st.dictionaries(
        st.sampled_from(["dbname", "host", "user", "password", "application_name"]),
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
        min_size=1,
    )
)
def test_any_keyword_string_libpq_writes_reads_back(params: dict[str, str]) -> None:
    conninfo = pytest.importorskip("psycopg.conninfo")
    text = conninfo.make_conninfo("", **params)
    assert parse_conninfo(text) == conninfo.conninfo_to_dict(text)


@pytest.mark.parametrize(
    "text", ["placeholder", "debug=1", "a=b c=d", "dbname='open", "=x", "", "http://x/y"]
)
def test_text_that_is_no_keyword_string_is_none(text: str) -> None:
    assert parse_conninfo(text) is None


@pytest.mark.parametrize(
    ("text", "database"),
    [
        ("postgresql://u:pw@h/perfkit_test?sslmode=require", "perfkit_test"),
        ("postgresql+psycopg://u@h:5/shop", "shop"),
        ("dbname=shop_prod host=h", "shop_prod"),
        ("placeholder", None),
        ("debug=1", None),
    ],
)
def test_connection_database_reads_one_name(text: str, database: str | None) -> None:
    assert connection_database(text, source="environment X") == database


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("postgresql://u@h/perfkit_test?dbname=shop_prod", "query_target"),
        ("host=h user=shop", "no_database"),
        ("service=shop", "service"),
        ("dbname='postgresql://h/shop_prod' host=h", "query_target"),
        ("dbname='dbname=shop_prod' host=h", "query_target"),
    ],
)
def test_connection_database_refuses_what_reads_more_than_one_way(text: str, reason: str) -> None:
    with pytest.raises(UrlError) as info:
        connection_database(text, source="environment X")
    assert info.value.reason == reason
    assert info.value.source == "environment X"


def test_database_readings_lists_every_name_a_driver_could_take() -> None:
    url = "postgresql://u:pw@h/perfkit_test?sslmode=require&dbname=shop_prod&database=shop2"
    assert database_readings(url) == ("perfkit_test", "shop_prod", "shop2")
    assert database_readings("host=h dbname=shop") == ("shop",)
    assert database_readings("host=h") == ()
