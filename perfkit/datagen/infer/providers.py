"""Realistic text for inferred columns: names, e-mails, phones, addresses in a locale.

The values come from Faker (a maintained provider library, with ``ja_JP`` among its locales),
drawn once per process into pools of :data:`POOL_SIZE` distinct values per (locale, kind), each
kind from a Faker seeded by the kind's name alone: a pool never depends on which other pools
were made first. Generators then draw from the pools with their own seeded streams, one list
lookup per value. Faker's version decides the pools, so it is part of every inferred dataset's
parameters (:data:`PROVIDER_VERSION`): an upgrade that changes a pool makes another dataset,
never a silently different one.

:func:`kind_for` guesses a text column's kind from its name (``email``, ``phone``,
``last_name``, ``address``, ``city``, ``zip``, ``url``...) and, for a bare ``name``, from its
table's name (a person, a company, or a word).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable

import faker

#: Distinct values per pool.
POOL_SIZE = 1024
#: Draws in a row without a new value after which a pool is complete.
_GIVE_UP = 64
#: Part of an inferred dataset's parameters: the pools' source.
PROVIDER_VERSION = f"faker-{faker.VERSION}"

_PERSON_TABLES = (
    "user", "person", "people", "staff", "employee", "customer", "member", "actor", "client",
    "patient", "recipient", "author", "student", "teacher", "contact", "account", "owner",
)  # fmt: skip
_COMPANY_TABLES = (
    "company", "office", "org", "store", "shop", "vendor", "supplier", "agency", "branch",
    "facility", "tenant",
)  # fmt: skip

#: (name tokens, kind), first match wins: exact name, or the name ending/starting with a token.
_NAME_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("email", "mail", "email_address"), "email"),
    (("phone", "tel", "telephone", "mobile", "fax", "cell", "phone_number"), "phone"),
    (("first_name", "given_name", "firstname", "forename"), "first_name"),
    (("last_name", "family_name", "surname", "lastname"), "last_name"),
    (("full_name", "fullname", "display_name", "contact_name", "person_name"), "full_name"),
    (("company", "company_name", "organization", "organisation", "employer"), "company"),
    (("address2", "address_2", "address_line2", "building"), "address2"),
    (("address", "address1", "street", "street_address", "address_line1"), "address"),
    (("city", "town", "municipality"), "city"),
    (("state", "prefecture", "province", "region"), "region"),
    (("zip", "zipcode", "zip_code", "postal_code", "postcode", "postal"), "zip"),
    (("country", "country_name"), "country"),
    (("url", "website", "homepage", "link", "uri"), "url"),
    (("username", "user_name", "login", "handle", "nickname"), "username"),
    (("district", "ward", "area"), "district"),
    (("title", "subject", "headline"), "title"),
    (
        (
            "description",
            "notes",
            "note",
            "comment",
            "comments",
            "body",
            "content",
            "memo",
            "remarks",
            "summary",
            "bio",
            "message",
            "text",
        ),
        "text",
    ),
    (("password", "password_hash", "hashed_password", "secret", "token"), "password"),
    (("color", "colour"), "color"),
)


def kind_for(column: str, table: str) -> str:
    """The provider kind for a text column named ``column`` of ``table`` (``word`` when the
    name says nothing)."""
    name = column.lower()
    for tokens, kind in _NAME_RULES:
        for token in tokens:
            if name == token or name.endswith("_" + token) or name.startswith(token + "_"):
                return kind
    if name == "name" or name.endswith("_name"):
        owner = table.lower() if name == "name" else name.removesuffix("_name")
        if any(word in owner for word in _PERSON_TABLES):
            return "full_name"
        if any(word in owner for word in _COMPANY_TABLES):
            return "company"
    return "word"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _address(fake: faker.Faker) -> str:
    return _one_line(fake.address())


def _address2(fake: faker.Faker) -> str:
    maker = getattr(fake, "building_name", None) or getattr(fake, "secondary_address", None)
    return _one_line(maker()) if maker is not None else _one_line(fake.street_suffix())


def _region(fake: faker.Faker) -> str:
    maker = getattr(fake, "prefecture", None) or getattr(fake, "state", None)
    return str(maker()) if maker is not None else str(fake.city())


def _district(fake: faker.Faker) -> str:
    maker = getattr(fake, "town", None) or getattr(fake, "city", None)
    return str(maker()) if maker is not None else str(fake.word())


_MAKERS: dict[str, Callable[[faker.Faker], str]] = {
    "email": lambda f: f.email(),
    "phone": lambda f: f.phone_number(),
    "first_name": lambda f: f.first_name(),
    "last_name": lambda f: f.last_name(),
    "full_name": lambda f: f.name(),
    "company": lambda f: f.company(),
    "address": _address,
    "address2": _address2,
    "city": lambda f: f.city(),
    "region": _region,
    "zip": lambda f: f.postcode(),
    "country": lambda f: f.country(),
    "url": lambda f: f.url(),
    "username": lambda f: f.user_name(),
    "district": _district,
    "title": lambda f: f.sentence(nb_words=4).rstrip(".。"),
    "text": lambda f: _one_line(f.text(max_nb_chars=160)),
    "password": lambda f: "$2b$12$" + f.pystr(min_chars=53, max_chars=53),
    "color": lambda f: f.color_name(),
    "word": lambda f: f.word(),
}

KINDS = frozenset(_MAKERS)


@functools.cache
def _faker(locale: str) -> faker.Faker:
    return faker.Faker(locale)


@functools.cache
def pool(locale: str, kind: str) -> tuple[str, ...]:
    """:data:`POOL_SIZE` values of ``kind`` in ``locale`` (fewer when Faker knows fewer
    distinct ones), the same in every process for the same Faker version."""
    fake = _faker(locale)
    fake.seed_instance(zlib.crc32(f"{locale}/{kind}".encode()))
    make = _MAKERS[kind]
    seen: dict[str, None] = {}
    idle = 0  # draws in a row that found nothing new: Faker knows no more
    while len(seen) < POOL_SIZE and idle < _GIVE_UP:
        before = len(seen)
        seen.setdefault(make(fake), None)
        idle = 0 if len(seen) > before else idle + 1
    return tuple(seen)


def fits(
    values: tuple[str, ...], *, min_length: int | None, max_length: int | None
) -> tuple[str, ...]:
    """``values`` cut to ``max_length`` and padded to ``min_length`` (with ``x``), distinct."""
    out: dict[str, None] = {}
    for value in values:
        if max_length is not None:
            value = value[:max_length]
        if min_length is not None and len(value) < min_length:
            value = value + "x" * (min_length - len(value))
        if value:
            out.setdefault(value, None)
    return tuple(out)
