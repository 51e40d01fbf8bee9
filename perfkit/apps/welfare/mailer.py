"""Sending e-mail: the :class:`Mailer` protocol and :class:`SmtpMailer`, its SMTP implementation.

The deadline-alert batch hands a mailer plain :class:`OutgoingEmail` values; the mailer turns
them into MIME messages (UTF-8, so Japanese subjects and bodies arrive intact) and delivers them
over one SMTP connection per batch. ``smtplib`` is blocking, so the whole delivery runs in a
worker thread and never stalls the event loop.

Server settings come from the ``smtp:`` section of scales.yaml
(:class:`perfkit.config.SmtpConfig`). The password never lives there: with ``username`` set it
is read from the environment variable ``smtp.password_env`` names, when sending, and it appears
in no message or exception.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import Protocol

from perfkit.config import SmtpConfig
from perfkit.errors import PerfkitError


class MailerError(PerfkitError):
    """Delivery failed as a whole: the server could not be reached, refused to log in, or hung
    up. ``sent`` says how many messages it had accepted before that."""

    def __init__(self, message: str, *, sent: int = 0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.sent = sent


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One e-mail to one person: what the batch composes and a mailer delivers."""

    to_address: str
    to_name: str
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class SendReport:
    """What a mailer did: how many messages the server accepted, and addresses it refused."""

    sent: int
    refused: tuple[str, ...] = ()


class Mailer(Protocol):
    """Anything that can deliver a batch of e-mails (SMTP in production and in tests)."""

    async def send(self, emails: Sequence[OutgoingEmail]) -> SendReport:
        """Deliver ``emails``; refused recipients are reported, not raised."""
        ...


class SmtpMailer:
    """Delivers through the SMTP server in ``smtp`` (scales.yaml), one connection per batch.

    A recipient the server refuses is listed in :attr:`SendReport.refused` and the rest are
    still sent; a failure of the connection itself raises :class:`MailerError`.
    """

    def __init__(self, smtp: SmtpConfig, *, env: Mapping[str, str] | None = None) -> None:
        self.smtp = smtp
        self._env = os.environ if env is None else env

    @property
    def where(self) -> str:
        return f"smtp://{self.smtp.host}:{self.smtp.port}"

    def message(self, email: OutgoingEmail) -> EmailMessage:
        """The MIME message for ``email``: UTF-8 text, with Date and Message-ID headers."""
        msg = EmailMessage()
        msg["From"] = self.smtp.sender
        msg["To"] = formataddr((email.to_name, email.to_address))
        msg["Subject"] = email.subject
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=self.smtp.sender.rpartition("@")[2] or None)
        msg.set_content(email.body, charset="utf-8")
        return msg

    async def send(self, emails: Sequence[OutgoingEmail]) -> SendReport:
        """Deliver ``emails`` in a worker thread; nothing to send opens no connection."""
        if not emails:
            return SendReport(sent=0)
        return await asyncio.to_thread(self._send_all, emails)

    def _password(self) -> str:
        password = self._env.get(self.smtp.password_env)
        if not password:
            raise MailerError(
                f"smtp.username is set but ${self.smtp.password_env} is empty",
                hint=f"export {self.smtp.password_env}=... (the password is never kept in "
                "scales.yaml)",
            )
        return password

    def _send_all(self, emails: Sequence[OutgoingEmail]) -> SendReport:
        sent = 0
        refused: list[str] = []
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout) as conn:
                if self.smtp.starttls:
                    conn.starttls(context=ssl.create_default_context())
                if self.smtp.username:
                    conn.login(self.smtp.username, self._password())
                for email in emails:
                    try:
                        conn.send_message(self.message(email))
                    except smtplib.SMTPRecipientsRefused:
                        refused.append(email.to_address)
                    else:
                        sent += 1
        except MailerError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise MailerError(
                f"{self.where} refused the login of {self.smtp.username!r} ({exc.smtp_code})",
                sent=sent,
                hint=f"check smtp.username in scales.yaml and ${self.smtp.password_env}",
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailerError(
                f"sending e-mail through {self.where} failed after {sent} of {len(emails)}: "
                f"{type(exc).__name__}: {exc}",
                sent=sent,
                hint="is the SMTP server up? check the smtp: section of scales.yaml",
            ) from None
        return SendReport(sent=sent, refused=tuple(refused))
