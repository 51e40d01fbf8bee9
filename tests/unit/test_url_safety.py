"""URL safety: ambiguous URLs are refused without being echoed, and no password survives masking.

The new API (``parse_url``, ``UrlError``) is reached through its module (``urls.parse_url``), so
that each test fails on its own, with its own reason, against code that lacks it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from perfkit import errors, urls
from perfkit.config import load_config
from perfkit.errors import ConfigError
from perfkit.urls import make_url, mask_text, mask_url, password_of

SECRET = "Sup3rSecretPw"

MINIMAL = """
scales:
  small: {offices: 10}
"""


def refusal(url: str, *, source: str = "environment TEST_DATABASE_URL") -> errors.UrlError:
    """The error ``parse_url`` raises for ``url``, checked to be a one-line, exit-2 UrlError."""
    with pytest.raises(errors.UrlError) as info:
        urls.parse_url(url, source=source)
    err = info.value
    assert isinstance(err, ConfigError)
    assert err.exit_code == 2
    assert err.source == source
    assert err.hint
    assert "\n" not in err.one_line()
    assert not url or url not in err.one_line()
    return err


# --------------------------------------------------------------------------------------------
# the validating parser


@pytest.mark.parametrize(
    ("url", "reason", "fragments"),
    [
        # the examples: an unencoded space and '@' in the password
        ("postgresql://u:p@ss w0rd@127.0.0.1:5/x", "whitespace", ("ss w0rd", "p@ss")),
        (f"postgresql://u:{SECRET}@ext@127.0.0.1:5432/x", "at_sign", (SECRET, "ext")),
        # '#' and '/' (and '?') in the password
        (f"postgresql://u:{SECRET}#1@127.0.0.1:5432/x", "fragment", (SECRET,)),
        (f"postgresql://u:{SECRET}/1@127.0.0.1:5432/x", "at_sign", (SECRET,)),
        (f"postgresql://u:{SECRET}?1@127.0.0.1:5432/x", "at_sign", (SECRET,)),
        # ports: above 65535, not a number, not plain decimal
        (f"postgresql://u:{SECRET}@127.0.0.1:70000/x", "port", (SECRET,)),
        (f"postgresql://u:{SECRET}@127.0.0.1:abc/x", "port", (SECRET,)),
        (f"postgresql://u:{SECRET}@127.0.0.1:0/x", "port", (SECRET,)),
        (f"postgresql://u:{SECRET}@127.0.0.1:05432/x", "port", (SECRET,)),
        (f"postgresql://u:{SECRET}@127.0.0.1:/x", "port", (SECRET,)),
        (f"postgresql://u@127.0.0.1/x?port=70000&password={SECRET}", "query_target", (SECRET,)),
        # a second ':' after the host: "h:5:x" is no port
        (f"postgresql://u:{SECRET}@h:5:x/d", "port", (SECRET,)),
        (f"postgresql://u:{SECRET}@[::1/d", "host", (SECRET,)),
        # other ambiguities
        (f"mysql://u:{SECRET}@h/x", "scheme", (SECRET, "mysql")),
        (f"u:{SECRET}@h/x", "scheme", (SECRET,)),
        ("", "empty", ()),
        (f"postgresql://u:{SECRET}%zz@h/x", "percent", (SECRET,)),
        (f"postgresql://u:{SECRET}%ff@h/x", "percent", (SECRET,)),
        (f"postgresql://u:{SECRET}\t@h/x", "whitespace", (SECRET,)),
        (f"postgresql://u:{SECRET}\n@h/x", "whitespace", (SECRET,)),
        (f"postgresql://u:{SECRET}<x>@h/x", "character", (SECRET,)),
        (f"postgresql://u:{SECRET}[1]@h/x", "character", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/a/b", "path", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?sslmode", "query", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?password=other", "password_twice", (SECRET, "other")),
        (f"postgresql://u:{SECRET}@h/" + "d" * 64, "database_name", (SECRET, "d" * 64)),
        (f"postgresql://u:{SECRET}@h/" + quote("データ" * 8), "database_name", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?dbname=" + "d" * 64, "query_target", (SECRET,)),
        # one URL, one target: the query may not name another database, server or role
        # (issue 18: libpq reads ?dbname=, SQLAlchemy's asyncpg dialect ?database=)
        (f"postgresql://u:{SECRET}@h/perfkit_test?dbname=other_prod", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/perfkit_test?database=other_prod", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?sslmode=disable&DBName=prod", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?%64bname=other_prod", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?host=prod.example", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?hostaddr=10.0.0.9", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?port=5432", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?user=admin", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?service=prod", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?servicefile=%2Fetc%2Fpg", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?options=-c%20role%3Dadmin", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?role=admin", "query_target", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/x?session_authorization=admin", "query_target", (SECRET,)),
        # a URL naming no database: each driver picks its own (PGDATABASE, the user's name)
        (f"postgresql://u:{SECRET}@h", "no_database", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/", "no_database", (SECRET,)),
        (f"postgresql://u:{SECRET}@h/?sslmode=require", "no_database", (SECRET,)),
    ],
)
def test_ambiguous_or_impossible_urls_are_refused_without_echo(
    url: str, reason: str, fragments: tuple[str, ...]
) -> None:
    err = refusal(url)
    assert err.reason == reason
    line = err.one_line()
    assert line.startswith("environment TEST_DATABASE_URL: ")
    for fragment in fragments:
        assert fragment not in line


def test_refusals_tell_how_to_fix_the_password() -> None:
    err = refusal(f"postgresql://u:{SECRET}@x@h/d")
    assert "percent-encode special characters in the password (e.g. @ -> %40" in str(err.hint)
    port = refusal(f"postgresql://u:{SECRET}@h:99999/d")
    assert "1 to 65535" in str(port.hint)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://app:p%40ss%20w0rd@db.example:6543/perf_test",
            ("app", "p@ss w0rd", (("db.example", 6543),), "perf_test"),
        ),
        ("postgres://h/d", (None, None, (("h", None),), "d")),
        ("postgresql+asyncpg://u:pa:ss@h/d", ("u", "pa:ss", (("h", None),), "d")),
        ("postgresql://u:pw@[::1]:5433/d", ("u", "pw", (("::1", 5433),), "d")),
        ("postgresql://u@h1:5432,h2:65535/d", ("u", None, (("h1", 5432), ("h2", 65535)), "d")),
        ("postgresql:///d", (None, None, (), "d")),
        ("postgresql://%2Ftmp:5433/d", (None, None, (("/tmp", 5433),), "d")),
        # query keys that choose nothing about the target pass
        (
            "postgresql://u@h/d?sslmode=require&application_name=x&connect_timeout=3&passfile=p",
            ("u", None, (("h", None),), "d"),
        ),
        ("postgresql://u@h/d?password=s%26cret", ("u", "s&cret", (("h", None),), "d")),
        ("postgresql://u:pw@h/" + "d" * 63, ("u", "pw", (("h", None),), "d" * 63)),
        ("postgresql://u:pw@h/" + quote("データ" * 7), ("u", "pw", (("h", None),), "データ" * 7)),
    ],
)
def test_unambiguous_urls_parse_into_their_decoded_parts(
    url: str, expected: tuple[object, ...]
) -> None:
    parsed = urls.parse_url(url, source="test")
    assert (parsed.user, parsed.password, parsed.hosts, parsed.database) == expected


def test_a_parsed_url_reprs_without_its_password() -> None:
    parsed = urls.parse_url(f"postgresql://u:{quote(SECRET)}@h:5432/d", source="test")
    assert parsed.password == SECRET
    assert SECRET not in repr(parsed)
    assert SECRET not in repr([parsed])


#: Characters that make a password ambiguous when left unencoded, and some that do not.
RAW_PASSWORD_CHARS = st.sampled_from(list("@/#? :&=!$'()*+,;~._-aZ9é字"))


@given(body=st.text(RAW_PASSWORD_CHARS, min_size=1, max_size=16))
@example(body="p@ss w0rd")
@example(body="a/b")
@example(body="x#y")
@example(body="q?r")
def test_an_unencoded_password_is_refused_or_read_exactly_as_written(body: str) -> None:
    """Fixing the class: there is no URL that parses to a different password than was meant."""
    password = "PW" + body
    url = f"postgresql://user:{password}@127.0.0.1:5432/perf_test"
    try:
        parsed = urls.parse_url(url, source="test")
    except errors.UrlError as err:
        assert password not in err.one_line()
        assert any(ch in body for ch in "@/#? ")  # only for a reason
        return
    assert parsed.password == password
    assert parsed.hosts == (("127.0.0.1", 5432),)
    assert parsed.database == "perf_test"


@given(password=st.text(min_size=1, max_size=24), user=st.text(min_size=1, max_size=8))
def test_every_password_make_url_can_hold_round_trips(password: str, user: str) -> None:
    parsed = urls.parse_url(
        make_url(user=user, password=password, host="127.0.0.1", port=5433, database="perf"),
        source="test",
    )
    assert (parsed.user, parsed.password, parsed.port) == (user, password, 5433)


def test_make_url_brackets_an_ipv6_host() -> None:
    url = make_url(user="u", password=SECRET, host="::1", port=5433, database="d")
    assert urls.parse_url(url, source="test").hosts == (("::1", 5433),)
    assert SECRET not in mask_url(url)


# --------------------------------------------------------------------------------------------
# masking


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the examples
        (
            "postgresql://u@127.0.0.1:5/x?password=hunter2",
            "postgresql://u@127.0.0.1:5/x?password=***",
        ),
        (
            "cannot connect to postgresql://u:p@ss w0rd@127.0.0.1:5/postgres: refused",
            "cannot connect to postgresql://u:***@127.0.0.1:5/postgres: refused",
        ),
        ("postgresql://u:a@b@h/d", "postgresql://u:***@h/d"),
        ("postgresql://u:a/b#c?d@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql://u:x://y@h/d", "postgresql://u:***@h/d"),
        ("postgresql://u:p%40ss@h/d", "postgresql://u:***@h/d"),
        # query parameters: any position, percent-encoded name, spaces in the value
        ("postgresql://u@h/d?sslmode=require&password=a b&x=1", "postgresql://u@h/d?sslmode=require&password=***&x=1"),
        ("postgresql://u@h/d?pass%77ord=s3cret", "postgresql://u@h/d?pass%77ord=***"),
        ("postgresql://u@h/d?%70assword=s3cret", "postgresql://u@h/d?%70assword=***"),
        # libpq keyword/value strings and PGPASSWORD
        ("host=h password=s3cret dbname=d", "host=h password=*** dbname=d"),
        ("host=h password='a b\\' c' dbname=d", "host=h password=*** dbname=d"),
        ("PGPASSWORD=s3cret psql", "PGPASSWORD=*** psql"),
        # a URL on a line of its own is masked on its own
        (
            "first postgresql://u:one@h/d\nsecond postgresql://u:two@h/d",
            "first postgresql://u:***@h/d\nsecond postgresql://u:***@h/d",
        ),
        # a user name alone is not a password; no URL, nothing to do
        ("postgresql://admin@h/d", "postgresql://admin@h/d"),
        ("mail admin@example.com at 10:00", "mail admin@example.com at 10:00"),
    ],
)  # fmt: skip
def test_mask_url_hides_every_password_a_url_can_hold(text: str, expected: str) -> None:
    assert mask_url(text) == expected
    assert mask_text(text) == expected


def test_mask_text_hides_a_secret_in_any_usual_encoding() -> None:
    secret = "p@ss/wörd ok"
    for form in (
        secret,
        quote(secret, safe=""),
        quote(secret, safe="").lower(),
        quote(secret),
        "p%40ss%2Fw%C3%B6rd+ok",
        repr(secret)[1:-1],
    ):
        assert mask_text(f"before {form} after", secret) == "before *** after"


#: Text around a URL in a message: anything but a line break (a URL's own line is masked).
AROUND = st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=20)


@given(
    password=st.text(min_size=1, max_size=24),
    user=st.text(min_size=1, max_size=8),
)
@example(password="p@ss w0rd", user="postgres")
def test_masking_a_built_url_leaves_exactly_the_rest(password: str, user: str) -> None:
    url = make_url(user=user, password=password, host="127.0.0.1", port=5433, database="perf")
    expected = f"postgresql://{quote(user, safe='')}:***@127.0.0.1:5433/perf"
    assert mask_url(url) == expected
    assert repr(url) == repr(expected)
    assert urls.parse_url(url, source="test").password == password


@given(password=st.text(min_size=3, max_size=24), before=AROUND, after=AROUND)
@example(password="p@ss w0rd", before="cannot connect to ", after=": refused")
@example(password="x", before="http://a:b ", after=" see a@b")
def test_no_password_survives_masking_in_text(password: str, before: str, after: str) -> None:
    url = make_url(user="app", password=password, host="127.0.0.1", port=5433, database="perf")
    text = f"{before}{url}{after}"
    shown_forms = {password, quote(password, safe="")}
    masked_shape = f"{before}{mask_url(str(url))}{after}"
    for form in shown_forms:
        assume(form not in masked_shape)  # the text around it may hold it by chance
        assert form not in mask_url(text)
        assert form not in mask_text(text, password)


@given(
    body=st.text(st.sampled_from(list("@/#?: &=%'aZ9é")), min_size=1, max_size=16),
    before=AROUND,
)
@example(body="p@ss w0rd", before="")
@example(body="a://b@c", before="see ")
def test_an_unencoded_password_is_masked_whole(body: str, before: str) -> None:
    """What a user may paste: a password written straight into the URL, unencoded."""
    password = "PW" + body
    text = f"{before}postgresql://app:{password}@127.0.0.1:5432/perf_test: refused"
    assume(password not in before)
    masked = mask_url(text)
    assert password not in masked
    assert masked.endswith("@127.0.0.1:5432/perf_test: refused")


@given(password=st.text(min_size=3, max_size=24), before=AROUND)
def test_a_query_password_is_masked(password: str, before: str) -> None:
    url = f"postgresql://app@h:5432/perf?sslmode=require&password={quote(password, safe='')}"
    assume(quote(password, safe="") not in before + url.rsplit("=", 1)[0])
    assert quote(password, safe="") not in mask_url(before + url)
    assert password_of(url) == password


# --------------------------------------------------------------------------------------------
# the config boundary: environment variables, flags and scales.yaml


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scales.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str = MINIMAL, **kw: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), **kw)  # type: ignore[arg-type]
    assert info.value.exit_code == 2
    return info.value


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@ss w0rd@127.0.0.1:5/x",
        f"postgresql://u:{SECRET}@127.0.0.1:70000/x",
        f"postgresql://u:{SECRET}@127.0.0.1:abc/x",
        f"postgresql://u:{SECRET}#@127.0.0.1:5/x",
        f"postgresql://u:{SECRET}/@127.0.0.1:5/x",
        # issue 18: checked as perfkit_test, connected to other_prod by psycopg / SQLAlchemy
        f"postgresql://u:{SECRET}@127.0.0.1:5432/perfkit_test?dbname=other_prod",
        f"postgresql://u:{SECRET}@127.0.0.1:5432/perfkit_test?database=other_prod",
        f"postgresql://u:{SECRET}@127.0.0.1:5432/perfkit_test?host=prod.example&port=5432",
        f"postgresql://u:{SECRET}@127.0.0.1:5432",
    ],
)
@pytest.mark.parametrize("var", ["PERFORMANCE_TEST_DATABASE_URL", "TEST_DATABASE_URL"])
def test_an_ambiguous_database_url_is_refused_when_config_loads(
    tmp_path: Path, url: str, var: str
) -> None:
    err = config_error(tmp_path, env={var: url})
    assert isinstance(err, errors.UrlError)
    assert err.source == f"environment {var}"
    for secret in (SECRET, "ss w0rd", url):
        assert secret not in err.one_line()


def test_the_url_in_use_is_the_one_checked(tmp_path: Path) -> None:
    good = f"postgresql://u:{quote('p@ss w0rd')}@127.0.0.1:5432/perf_test"
    env = {"PERFORMANCE_TEST_DATABASE_URL": good, "TEST_DATABASE_URL": "postgresql://x y"}
    assert load_config(write(tmp_path, MINIMAL), env=env).external_url == good


@pytest.mark.parametrize(
    "text", ["0x1561", "0o17", "0b1", "5_433", "05432", "70000", "65536", "0", "-1", "abc",
             "5433.0", "1e3", "", " ", "+5433", "٥٤٣٣"],
)  # fmt: skip
def test_perfkit_port_must_be_plain_decimal_1_to_65535(tmp_path: Path, text: str) -> None:
    if not text:  # an empty variable is the same as an unset one
        assert load_config(write(tmp_path, MINIMAL), env={"PERFKIT_PORT": text}).database.port
        return
    err = config_error(tmp_path, env={"PERFKIT_PORT": text})
    assert (err.source, err.key_path) == ("environment PERFKIT_PORT", "database.port")


@pytest.mark.parametrize(("text", "port"), [("1", 1), ("5473", 5473), ("65535", 65535)])
def test_perfkit_port_in_decimal_is_taken(tmp_path: Path, text: str, port: int) -> None:
    assert load_config(write(tmp_path, MINIMAL), env={"PERFKIT_PORT": text}).database.port == port


@pytest.mark.parametrize("value", ["0x1561", "70000", 70000, 0])
def test_a_port_flag_is_checked_like_the_environment(tmp_path: Path, value: object) -> None:
    err = config_error(tmp_path, env={}, overrides={"database.port": value})
    assert (err.source, err.key_path) == ("command line", "database.port")


@pytest.mark.parametrize(
    ("body", "key_path"),
    [
        ("database: {port: 70000}\n", "database.port"),
        ("database: {port: 65536}\n", "database.port"),
        ("smtp: {port: 99999}\n", "smtp.port"),
    ],
)
def test_a_port_in_scales_yaml_must_fit_in_16_bits(
    tmp_path: Path, body: str, key_path: str
) -> None:
    err = config_error(tmp_path, MINIMAL + body, env={})
    assert (err.source, err.key_path) == ("scales.yaml", key_path)


@pytest.mark.parametrize("name", ["d" * 64, "データ" * 8, "é" * 32])
def test_a_database_name_over_63_bytes_says_so(tmp_path: Path, name: str) -> None:
    err = config_error(tmp_path, MINIMAL + f"database: {{name: {name}}}\n", env={})
    assert err.key_path == "database.name"
    assert "63 bytes" in err.message
    from_env = config_error(tmp_path, env={"PERFKIT_DATABASE": name})
    assert (from_env.source, from_env.key_path) == ("environment PERFKIT_DATABASE", "database.name")


@pytest.mark.parametrize("name", ["d" * 63, "データ" * 7, "データ" * 6 + "x" * 9, "perf_test"])
def test_a_database_name_of_63_bytes_or_fewer_is_taken(tmp_path: Path, name: str) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), env={"PERFKIT_DATABASE": name})
    assert cfg.database.name == name


@pytest.mark.parametrize("host", ["evil@h", "h/x", "h x", "h:5", "h#x", "[::1", "[::1]", "-h"])
def test_a_host_that_would_break_the_url_is_refused(tmp_path: Path, host: str) -> None:
    err = config_error(tmp_path, env={"PERFKIT_HOST": host})
    assert (err.source, err.key_path) == ("environment PERFKIT_HOST", "database.host")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "db-1.example"])
def test_host_names_and_addresses_are_taken(tmp_path: Path, host: str) -> None:
    assert load_config(write(tmp_path, MINIMAL), env={"PERFKIT_HOST": host}).database.host == host
