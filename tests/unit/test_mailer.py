"""SMTP delivery against a real local server (aiosmtpd): content, refusals, login, failures."""

from __future__ import annotations

import pytest

from perfkit.apps.welfare.mailer import MailerError, OutgoingEmail, SmtpMailer
from perfkit.config import SmtpConfig
from perfkit.testing import free_port
from perfkit.testing.smtp_sink import smtp_sink

EMAILS = [
    OutgoingEmail(
        f"staff{i}@example.invalid", f"職員 {i}", f"【個別支援計画】件名{i}", f"本文{i}\n"
    )
    for i in range(3)
]


async def test_delivers_utf8_messages_over_one_connection() -> None:
    port = free_port()
    with smtp_sink(port=port) as sink:
        report = await SmtpMailer(SmtpConfig(port=port, sender="a@keikakun.test")).send(EMAILS)
    assert report.sent == 3 and report.refused == ()
    assert sink.recipients == [e.to_address for e in EMAILS]
    msg = sink.messages[1]
    assert msg["Subject"] == "【個別支援計画】件名1"
    assert msg["To"].addresses[0].display_name == "職員 1"
    assert msg["Message-ID"].endswith("@keikakun.test>")
    assert msg.get_content().replace("\r\n", "\n") == "本文1\n"


async def test_a_refused_recipient_is_reported_and_the_rest_still_sent() -> None:
    port = free_port()
    with smtp_sink(port=port, refuse=[EMAILS[0].to_address]) as sink:
        report = await SmtpMailer(SmtpConfig(port=port)).send(EMAILS)
    assert report.sent == 2 and report.refused == (EMAILS[0].to_address,)
    assert len(sink.messages) == 2


async def test_nothing_to_send_opens_no_connection() -> None:
    report = await SmtpMailer(SmtpConfig(port=free_port())).send([])
    assert report.sent == 0


async def test_an_unreachable_server_is_one_line_with_a_hint() -> None:
    port = free_port()
    with pytest.raises(MailerError) as caught:
        await SmtpMailer(SmtpConfig(port=port, timeout=5)).send(EMAILS)
    assert f"smtp://127.0.0.1:{port}" in caught.value.message
    assert caught.value.sent == 0 and caught.value.hint
    assert "\n" not in caught.value.one_line()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_login_takes_the_password_from_the_environment_only() -> None:
    port = free_port()
    smtp = SmtpConfig(port=port, username="batch", password_env="TEST_SMTP_PW")
    with smtp_sink(port=port, login=("batch", "s3cret-pw")) as sink:
        report = await SmtpMailer(smtp, env={"TEST_SMTP_PW": "s3cret-pw"}).send(EMAILS[:1])
        assert report.sent == 1 and len(sink.messages) == 1

        with pytest.raises(MailerError) as missing:
            await SmtpMailer(smtp, env={}).send(EMAILS[:1])
        assert "$TEST_SMTP_PW" in missing.value.message

        with pytest.raises(MailerError) as wrong:
            await SmtpMailer(smtp, env={"TEST_SMTP_PW": "wrong-pw"}).send(EMAILS[:1])
        assert "refused the login" in wrong.value.message
        assert "wrong-pw" not in wrong.value.one_line()
