"""URLs: masking everywhere a password could leak, and conversions between drivers."""

from __future__ import annotations

from perfkit.urls import (
    database_name,
    make_url,
    mask_text,
    mask_url,
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
    assert database_name("postgresql://a@h") == "postgres"
