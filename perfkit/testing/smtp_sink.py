"""A real, local SMTP server that keeps what it receives: for tests of ``dry_run=False``.

:func:`smtp_sink` starts an `aiosmtpd <https://aiosmtpd.aio-libs.org/>`_ server on a free
port of 127.0.0.1 (in its own thread, as aiosmtpd's ``Controller`` does) and yields a
:class:`SmtpSink` whose :attr:`~SmtpSink.messages` are the parsed e-mails that arrived. It can
refuse chosen recipients and require a login, to test those paths too. Needs ``aiosmtpd``
(in perfkit's ``test`` extra); nothing else in perfkit imports this module.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class SmtpSink:
    """The running server: where it listens and what it has received so far."""

    host: str
    port: int
    refuse: frozenset[str] = frozenset()
    envelopes: list[Envelope] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed (headers decoded: Japanese subjects read as text)."""
        with self._lock:
            raw = [e.original_content or b"" for e in self.envelopes]
        return [
            email.message_from_bytes(data, _class=EmailMessage, policy=email.policy.default)
            for data in raw
        ]

    @property
    def recipients(self) -> list[str]:
        """Every accepted envelope recipient, in arrival order."""
        with self._lock:
            return [r for e in self.envelopes for r in e.rcpt_tos]

    # aiosmtpd handler hooks ------------------------------------------------------------------

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username = username.encode()
        self.password = password.encode()

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == self.username
            and data.password == self.password
        )
        return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_sink(
    *,
    port: int,
    host: str = "127.0.0.1",
    refuse: Iterable[str] = (),
    login: tuple[str, str] | None = None,
) -> Iterator[SmtpSink]:
    """Run an SMTP server on ``host:port`` until the block ends.

    ``refuse`` lists recipient addresses answered with 550; ``login`` (user, password) makes
    the server require AUTH (allowed without TLS, for a local test server only).
    """
    sink = SmtpSink(host=host, port=port, refuse=frozenset(refuse))
    kwargs: dict[str, Any] = {}
    if login is not None:
        kwargs.update(
            authenticator=_Authenticator(*login), auth_required=True, auth_require_tls=False
        )
    controller = Controller(sink, hostname=host, port=port, **kwargs)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
