"""Database URLs: validate them, build them, convert them for drivers, and mask their passwords.

Every URL perfkit prints, logs, stores in a report or puts in an exception goes through
:func:`mask_url`. Only ``perfkit db-url`` prints the password, because scripts need it.

A URL that comes from the user (``PERFORMANCE_TEST_DATABASE_URL``, ``TEST_DATABASE_URL``) is
read once, at the config boundary, by :func:`parse_url`. It accepts only URLs that can be read
one way: a password holding an unencoded ``@``, ``/``, ``?``, ``#`` or a space makes libpq,
asyncpg and :mod:`urllib.parse` each see a different host, port or password, so such a URL is
refused -- with a message that names where it came from but never repeats it.

**One URL, one target.** The drivers also take the database, host, port and user from the
query string, each its own way: libpq (psycopg) lets ``?dbname=`` override the path,
SQLAlchemy's asyncpg dialect lets ``?database=`` override it, raw asyncpg keeps the path and
sends unknown keys as server settings (``?role=``). So :func:`parse_url` refuses every query
key in :data:`TARGET_KEYS`, and a URL that names no database (each driver would fall back to
``PGDATABASE`` or the user's name); :func:`database_name`, which every connection perfkit
makes is checked against (:mod:`perfkit.db`), reads the name through it. The other keys
(``sslmode``, ``application_name``, ``connect_timeout``, ``passfile``...) cannot change which
server, database or role is reached and pass. :func:`connection_database` reads a libpq
keyword/value string (``dbname=shop host=db``) the way libpq does, for the application's
database variables (:mod:`perfkit.app`).

Over 500 lines: parsing a user's URL one unambiguous way, reading a libpq keyword string as
libpq does, and masking every password form (userinfo, query, libpq keywords,
percent-encodings) are one security boundary.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import NoReturn, Protocol
from urllib.parse import quote, quote_plus, unquote, urlsplit

from perfkit import errors
from perfkit.errors import ConfigError

#: PostgreSQL truncates identifiers, database names included, to 63 bytes (NAMEDATALEN - 1).
MAX_IDENTIFIER_BYTES = 63
MAX_PORT = 65535

ENCODE_HINT = (
    "percent-encode special characters in the password (e.g. @ -> %40, # -> %23, "
    "/ -> %2F, ? -> %3F, space -> %20)"
)
PORT_HINT = "a port is a plain decimal number from 1 to 65535, e.g. :5433"

_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+\w+)?://", re.IGNORECASE)
#: Any ``scheme://`` in free text, e.g. ``postgresql+asyncpg://`` or ``http://``.
_ANY_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
#: ``?key=`` / ``&key=`` in a URL's query; the key may be percent-encoded.
_QUERY_KEY = re.compile(r"[?&](?P<key>[^=&?#\s]*)=")
#: A libpq keyword/value ``password=...`` (also ``PGPASSWORD=...``); quoted or up to a space.
_KEYWORD_PASSWORD = re.compile(
    r"""(?<![?&])(?P<head>\b\w*password\s*=\s*)"""
    r"""(?P<value>'(?:[^'\\\r\n]|\\.)*'?|"(?:[^"\\\r\n]|\\.)*"?|[^\s'"]\S*)""",
    re.IGNORECASE,
)
_DECIMAL_PORT = re.compile(r"[1-9][0-9]*")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
#: ASCII characters that RFC 3986 never allows unencoded (besides whitespace and controls).
_NEVER_BARE = frozenset('"<>\\^`{|}')
_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?")
#: Query keys that choose the server, database or role, which the drivers read differently
#: from the URL's own parts (libpq: ``dbname``, ``host``, ``hostaddr``, ``port``, ``user``,
#: ``service``, ``servicefile``, ``options`` with its ``-c role=...``; SQLAlchemy's asyncpg
#: dialect: ``database``; raw asyncpg sends other keys as server settings: ``role``,
#: ``session_authorization``). Compared case-insensitively, after percent-decoding.
TARGET_KEYS = frozenset(
    {
        "dbname",
        "database",
        "host",
        "hostaddr",
        "port",
        "user",
        "service",
        "servicefile",
        "options",
        "role",
        "session_authorization",
    }
)
TARGET_HINT = (
    "name the host, port, user and database in the URL itself: "
    "postgresql://user:password@host:port/database (a unix-socket folder goes in the host "
    "part, percent-encoded: postgresql://user@%2Fvar%2Frun%2Fpostgresql:5432/database)"
)
_MASK = "***"
_LINES = re.compile(r"(?<=\n)")


# --------------------------------------------------------------------------------------------
# masking


class SecretUrl(str):
    """A URL string whose ``repr`` masks the password.

    It is an ordinary ``str`` everywhere else; only ``repr`` -- what tracebacks, pytest's
    failure reports and debug logs show -- hides the secret.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_url(str(self)))


def mask_url(url: str) -> str:
    """``url`` with every password in it replaced by ``***``; works inside longer text too.

    Three places hold a password, and all three are masked on every line of ``url``:

    * the user part, ``scheme://user:PASSWORD@host``. The password is taken to run from the
      first ``:`` after the user name to the *last* ``@`` on the line, so a password with an
      unencoded ``@``, ``/``, ``#``, ``?`` or space is hidden whole. The price is that text
      after a URL that holds another ``@`` on the same line is hidden too: masking too much
      is safe, masking too little is not;
    * a query parameter whose (percent-decoded) name ends in ``password``, up to the next
      ``&`` or the end of the line;
    * a libpq keyword/value ``password=...`` (and ``PGPASSWORD=...``), quoted or not.
    """
    # Lines end at "\n" only: str.splitlines would also cut at form feeds, "\x85" or
    # "\u2028", characters a (badly written) password may hold.
    return "".join(_mask_line(line) for line in _LINES.split(url))


def _mask_line(line: str) -> str:
    line = _mask_userinfo(line)
    line = _mask_query_passwords(line)
    return _KEYWORD_PASSWORD.sub(lambda m: m.group("head") + _MASK, line)


def _mask_userinfo(line: str) -> str:
    at = line.rfind("@")
    if at < 0:
        return line
    chosen: tuple[int, int] | None = None  # (start of the user part, index of its ':')
    for m in _ANY_SCHEME.finditer(line, 0, at):
        colon = line.find(":", m.end(), at)
        if colon < 0:
            continue
        user = line[m.end() : colon]
        clean = not any(ch.isspace() or ch == "/" for ch in user)
        if chosen is None or clean:
            chosen = (m.end(), colon)
        if clean:
            break
    if chosen is None:
        return line
    colon = chosen[1]
    return line[: colon + 1] + _MASK + line[at:]


def _mask_query_passwords(line: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _QUERY_KEY.finditer(line):
        if m.start() < pos or not _names_password(m.group("key")):
            continue
        end = line.find("&", m.end())
        if end < 0:
            end = len(line.rstrip("\r\n"))
        out.append(line[pos : m.end()] + _MASK)
        pos = end
    out.append(line[pos:])
    return "".join(out)


def _names_password(key: str) -> bool:
    return unquote(key).strip().lower().endswith("password")


def mask_text(text: str, *secrets: str) -> str:
    """``text`` with URLs masked and each of ``secrets`` replaced, in any usual encoding.

    A secret is also found percent-encoded (upper- or lower-case hex, ``/`` kept or not),
    form-encoded (``+`` for a space) and as it appears inside a ``repr``.
    """
    out = mask_url(text)
    variants: set[str] = set()
    for secret in secrets:
        if secret:
            variants.update(_encodings(secret))
    for variant in sorted(variants, key=len, reverse=True):
        out = out.replace(variant, _MASK)
    return out


def _encodings(secret: str) -> set[str]:
    quoted = quote(secret, safe="")
    forms = {
        secret,
        quoted,
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quoted),
        quote(secret),
        quote_plus(secret),
        repr(secret)[1:-1],
    }
    return {form for form in forms if form}


# --------------------------------------------------------------------------------------------
# validating parser


@dataclass(frozen=True, repr=False)
class ParsedUrl:
    """A PostgreSQL URL read one way only, its parts percent-decoded.

    ``repr`` masks the password, so a ``ParsedUrl`` in a traceback or a test report is safe.
    """

    scheme: str
    user: str | None
    password: str | None
    #: ``(host, port)`` pairs; libpq allows several, comma-separated. Empty: libpq's default.
    hosts: tuple[tuple[str, int | None], ...]
    #: The database the path names (a URL that names none is refused).
    database: str
    #: Query parameters other than ``password``, decoded, in order.
    params: tuple[tuple[str, str], ...]

    @property
    def host(self) -> str | None:
        """The first host, if the URL names one."""
        return self.hosts[0][0] if self.hosts else None

    @property
    def port(self) -> int | None:
        """The first host's port, if the URL names one."""
        return self.hosts[0][1] if self.hosts else None

    def __repr__(self) -> str:
        secret = None if self.password is None else _MASK
        return (
            f"ParsedUrl(scheme={self.scheme!r}, user={self.user!r}, password={secret!r}, "
            f"hosts={self.hosts!r}, database={self.database!r}, params={self.params!r})"
        )


def parse_url(text: str, *, source: str = "database URL") -> ParsedUrl:
    """Read a ``postgresql://`` URL, refusing any that libpq and Python could read differently.

    Refused, with a :class:`~perfkit.errors.UrlError` whose ``reason`` says why: whitespace
    or control characters anywhere; a scheme other than ``postgresql``/``postgres`` (with an
    optional ``+driver``); a ``#``; more than one ``@`` before the host, or an ``@`` after
    it (a password holding ``/`` or ``?``); a character RFC 3986 never allows bare; a ``%``
    that starts no ``%XX`` escape; a port that is not decimal 1-65535; a ``/`` inside the
    database name; a database name over 63 bytes; a password given twice; no database in
    the path (``no_database``); a query key in :data:`TARGET_KEYS` (``query_target``: the
    drivers would each reach a different database, server or role). ``source`` names where
    the URL came from (``environment TEST_DATABASE_URL``); the message never holds the URL
    or any part of it (a refused query key is named: it is one of :data:`TARGET_KEYS`).
    """

    def refuse(reason: str, problem: str, hint: str = ENCODE_HINT) -> NoReturn:
        raise errors.UrlError(problem, source=source, reason=reason, hint=hint)

    if not text:
        refuse("empty", "the URL is empty", "postgresql://user:password@host:port/database")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        refuse("whitespace", "the URL contains a space, a line break or a control character")
    scheme_match = _ANY_SCHEME.match(text)
    if scheme_match is None:
        refuse(
            "scheme",
            "not a URL of the form postgresql://user:password@host:port/database",
            "start it with postgresql://; " + ENCODE_HINT,
        )
    if not _SCHEME.match(text):
        refuse(
            "scheme",
            "unknown scheme; expected postgresql:// or postgres://",
            "start it with postgresql:// (or postgresql+asyncpg://)",
        )
    if "#" in text:
        refuse("fragment", "the URL contains an unencoded '#'")
    if any(ch in _NEVER_BARE for ch in text):
        refuse("character", "the URL contains a character that must be percent-encoded")
    if _BAD_PERCENT.search(text):
        refuse(
            "percent",
            "the URL contains a '%' that does not start a %XX escape",
            "write a literal % as %25; " + ENCODE_HINT,
        )

    rest = text[scheme_match.end() :]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    if "@" in tail:
        refuse(
            "at_sign",
            "an unencoded '@' follows the host part, so the host, port and "
            "password can be read more than one way",
        )
    if netloc.count("@") > 1:
        refuse(
            "at_sign",
            "more than one '@' before the host, so the host, port and "
            "password can be read more than one way",
        )
    userinfo, at, hostspec = netloc.rpartition("@")

    user = password = None
    if at:
        raw_user, colon, raw_password = userinfo.partition(":")
        if "[" in userinfo or "]" in userinfo:
            refuse("character", "the user name or password contains an unencoded '[' or ']'")
        user = _decode(raw_user, refuse) or None
        password = _decode(raw_password, refuse) if colon else None

    hosts = _parse_hosts(hostspec, refuse)
    path, _, query = tail.partition("?")
    database = None
    if path:
        name = path[1:]
        if "/" in name:
            refuse(
                "path",
                "the database name contains an unencoded '/'",
                "percent-encode it as %2F; " + ENCODE_HINT,
            )
        database = _decode(name, refuse) or None

    params: list[tuple[str, str]] = []
    for item in query.split("&") if query else ():
        if not item:
            continue
        raw_key, eq, raw_value = item.partition("=")
        if not eq:
            refuse("query", "a query parameter has no '='", "write them as ?key=value&key=value")
        key, value = _decode(raw_key, refuse), _decode(raw_value, refuse)
        if key == "password":
            if password is not None:
                refuse(
                    "password_twice",
                    "the password is given twice, in the user part and as a query parameter",
                    "give it once",
                )
            password = value
            continue
        if key.lower() in TARGET_KEYS:
            refuse(
                "query_target",
                f"the query sets {key.lower()!r}, which the drivers read differently from the "
                "URL's own parts (so perfkit's checks and the connections could reach "
                "different databases)",
                TARGET_HINT,
            )
        params.append((key, value))
    if database is None:
        refuse(
            "no_database",
            "the URL names no database, so each driver would choose its own "
            "(PGDATABASE, or the user's name)",
            "end the URL with /<database>",
        )
    _check_database_name(database, refuse)
    return ParsedUrl(
        scheme=scheme_match.group()[:-3].lower(),
        user=user,
        password=password,
        hosts=hosts,
        database=database,
        params=tuple(params),
    )


class _Refuse(Protocol):
    """The shape of ``parse_url``'s ``refuse`` helper: raise a ``UrlError`` for ``reason``."""

    def __call__(self, reason: str, problem: str, hint: str = ENCODE_HINT) -> NoReturn: ...


def _decode(part: str, refuse: _Refuse) -> str:
    try:
        return unquote(part, errors="strict")
    except UnicodeDecodeError:
        refuse("percent", "a %XX escape in the URL does not decode as UTF-8")


def _parse_hosts(hostspec: str, refuse: _Refuse) -> tuple[tuple[str, int | None], ...]:
    if not hostspec:
        return ()
    hosts: list[tuple[str, int | None]] = []
    for item in hostspec.split(","):
        m = re.fullmatch(
            r"\[(?P<v6>[^\[\]]*)\](?::(?P<p6>.*))?|(?P<h>[^:\[\]]*)(?::(?P<p>.*))?", item
        )
        if m is None:
            refuse(
                "host",
                "the host part is not host, host:port or [IPv6]:port",
                PORT_HINT + "; " + ENCODE_HINT,
            )
        host = m.group("v6") if m.group("v6") is not None else m.group("h")
        port_text = m.group("p6") if m.group("v6") is not None else m.group("p")
        if not host and len(hostspec.split(",")) > 1:
            refuse("host", "one of the comma-separated hosts is empty", "name every host")
        port = None if port_text is None else _check_port_text(port_text, refuse)
        hosts.append((_decode(host, refuse), port))
    return tuple(hosts)


def _check_port_text(text: str, refuse: _Refuse) -> int:
    if not _DECIMAL_PORT.fullmatch(text) or int(text) > MAX_PORT:
        refuse(
            "port",
            "the port is not a decimal number from 1 to 65535",
            PORT_HINT + "; if the password holds '/', '?', '#' or '@', " + ENCODE_HINT,
        )
    return int(text)


def _check_database_name(name: str, refuse: _Refuse) -> None:
    if problem := database_name_problem(name):
        refuse("database_name", problem, DATABASE_NAME_HINT)


# --------------------------------------------------------------------------------------------
# the pieces config validates one by one (environment variables, scales.yaml keys)

DATABASE_NAME_HINT = "choose a database name of at most 63 bytes (UTF-8)"


def database_name_problem(name: str) -> str | None:
    """Why PostgreSQL cannot take ``name`` as a database name (``None`` when it can).

    PostgreSQL keeps 63 bytes of a name (UTF-8) and cuts the rest off without an error, so a
    longer name would create or find a different database than the one configured. The
    message gives the length, never the name (it may come from a URL).
    """
    size = len(name.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        return (
            f"the database name is {size} bytes long; PostgreSQL allows at most "
            f"{MAX_IDENTIFIER_BYTES} bytes (UTF-8) and would silently cut it short"
        )
    if "\x00" in name:
        return "the database name contains a NUL character"
    return None


def parse_port(text: str, *, source: str, key_path: str) -> int:
    """A port written as plain decimal, 1-65535 (``0x1561``, ``05432``, ``5_433`` are refused).

    For text from the environment or a command line, where YAML's reading of ``0x1561`` as
    5473 would surprise. Raises :class:`~perfkit.errors.ConfigError` naming ``source`` and
    ``key_path``; a port is not a secret, so the message shows what was given.
    """
    stripped = text.strip()
    if not _DECIMAL_PORT.fullmatch(stripped) or int(stripped) > MAX_PORT:
        raise ConfigError(
            f"expected a port number from 1 to {MAX_PORT} in plain decimal, got {text!r}",
            source=source,
            key_path=key_path,
            hint=PORT_HINT,
        )
    return int(stripped)


def host_problem(host: str) -> str | None:
    """Why ``host`` cannot go into a URL as it is (``None`` when it can).

    Accepted: a DNS name (letters, digits, ``.``, ``-``, ``_``), an IPv4 address, or an IPv6
    address without brackets (``::1``; :func:`make_url` adds them).
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    if _HOST_NAME.fullmatch(host) and len(host) <= 253:
        return None
    return "expected a host name or an IP address (an IPv6 address without brackets)"


# --------------------------------------------------------------------------------------------
# building and converting


def make_url(*, user: str, password: str, host: str, port: int, database: str) -> SecretUrl:
    """A libpq-style ``postgresql://`` URL with every part quoted (an IPv6 host bracketed)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return SecretUrl(
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{host}:{port}/{quote(database, safe='')}"
    )


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` starts with a PostgreSQL scheme (``postgresql://``, ``postgres+x://``)."""
    return bool(_SCHEME.match(url))


def to_asyncpg(url: str) -> str:
    """The URL as asyncpg's ``connect(dsn=...)`` takes it (no SQLAlchemy driver suffix)."""
    return re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", url, flags=re.I)


def to_sqlalchemy(url: str) -> str:
    """The URL with SQLAlchemy's ``postgresql+asyncpg`` driver."""
    return with_driver(url, "asyncpg")


def with_driver(url: str, driver: str) -> SecretUrl:
    """The URL for SQLAlchemy with ``driver`` (``asyncpg`` or ``psycopg``)."""
    return SecretUrl(
        re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", f"postgresql+{driver}://", url, flags=re.I)
    )


def database_name(url: str, *, source: str = "database URL") -> str:
    """The database ``url`` names, read by :func:`parse_url` (the one reading every check and
    every connection of perfkit's uses): a URL that names none, or names a database, host,
    port or user in its query too, is refused with :class:`~perfkit.errors.UrlError`."""
    return parse_url(url, source=source).database


def with_database(url: str, database: str) -> SecretUrl:
    """The same server and credentials, another database."""
    parts = urlsplit(to_asyncpg(url))
    return SecretUrl(parts._replace(path="/" + quote(database, safe="")).geturl())


def password_of(url: str) -> str | None:
    """The URL's password, decoded: from the user part, else from a ``password`` parameter."""
    parts = urlsplit(to_asyncpg(url))
    if parts.password:
        return unquote(parts.password)
    for item in parts.query.split("&"):
        key, eq, value = item.partition("=")
        if eq and unquote(key) == "password" and value:
            return unquote(value)
    return None


# --------------------------------------------------------------------------------------------
# connection values an application reads (its database variables)

#: libpq's connection keywords (PostgreSQL 17, and a few older ones libpq still accepts).
LIBPQ_KEYWORDS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "passfile",
        "channel_binding",
        "connect_timeout",
        "client_encoding",
        "options",
        "application_name",
        "fallback_application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "replication",
        "sslmode",
        "sslnegotiation",
        "sslcompression",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslcertmode",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "requirepeer",
        "require_auth",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "gssencmode",
        "krbsrvname",
        "gsslib",
        "gssdelegation",
        "service",
        "target_session_attrs",
        "load_balance_hosts",
        "requiressl",
        "authtype",
        "tty",
    }
)


def parse_conninfo(text: str) -> dict[str, str] | None:
    """A libpq keyword/value string (``host=db dbname='my db' user=app``) read as libpq's
    ``conninfo_parse`` reads it: ``key = value`` pairs, a value either up to the next space
    or single-quoted, ``\\`` escaping the next character in both; a later key wins.

    None when ``text`` is not one: a syntax libpq refuses, or no key that libpq knows (an
    application setting such as ``debug=1``). Hand-written because libpq's own parser comes
    only with psycopg, which perfkit does not require.
    """
    out: dict[str, str] = {}
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] != "=" and not text[i].isspace():
            i += 1
        key = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if not key or i >= n or text[i] != "=":
            return None
        i += 1
        while i < n and text[i].isspace():
            i += 1
        value: list[str] = []
        if i < n and text[i] == "'":
            i += 1
            while True:
                if i >= n:
                    return None  # unterminated quoted string
                if text[i] == "\\" and i + 1 < n:
                    value.append(text[i + 1])
                    i += 2
                elif text[i] == "'":
                    i += 1
                    break
                else:
                    value.append(text[i])
                    i += 1
        else:
            while i < n and not text[i].isspace():
                if text[i] == "\\":
                    i += 1
                    if i >= n:
                        break
                value.append(text[i])
                i += 1
        out[key] = "".join(value)
    return out if out and any(key in LIBPQ_KEYWORDS for key in out) else None


def connection_database(text: str, *, source: str) -> str | None:
    """The one database a connection value names, read one way: a PostgreSQL URL by
    :func:`parse_url` (its path), a libpq keyword/value string by :func:`parse_conninfo` (its
    ``dbname``). None when ``text`` is neither (an ordinary setting).

    Refused with :class:`~perfkit.errors.UrlError`: what :func:`parse_url` refuses; a keyword
    string that names no ``dbname`` (libpq would take ``PGDATABASE`` or the user's name), or a
    ``service`` (its database is in a file), or a ``dbname`` that is itself a connection value.
    """
    if is_postgres_url(text):
        return parse_url(text, source=source).database
    keywords = parse_conninfo(text)
    if keywords is None:
        return None

    def refuse(reason: str, problem: str) -> NoReturn:
        raise errors.UrlError(
            problem, source=source, reason=reason, hint="name the database with dbname=<name>"
        )

    if "service" in keywords:
        refuse("service", "the connection string names a service, whose database is in a file")
    name = keywords.get("dbname")
    if not name:
        refuse("no_database", "the connection string names no dbname")
    if is_postgres_url(name) or parse_conninfo(name) is not None:
        refuse("query_target", "the connection string's dbname is itself a connection string")
    return name


def database_readings(text: str) -> tuple[str, ...]:
    """Every database name a driver could take from the connection value ``text``, without
    refusing anything: a URL's path and its ``dbname``/``database`` query values, a keyword
    string's ``dbname``. For messages about a value :func:`connection_database` refused."""
    found: list[str] = []
    if is_postgres_url(text):
        parts = urlsplit(to_asyncpg(text))
        found.append(unquote(parts.path.lstrip("/")))
        for item in parts.query.split("&"):
            key, eq, value = item.partition("=")
            if eq and unquote(key).lower() in ("dbname", "database"):
                found.append(unquote(value))
    else:
        found.append((parse_conninfo(text) or {}).get("dbname", ""))
    return tuple(dict.fromkeys(name for name in found if name))
