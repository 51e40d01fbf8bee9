"""The application code perfkit measures, and the registry the performance tests find it in.

- :mod:`perfkit.workload.deadline_alerts`: the nightly deadline-alert e-mail batch,
  :func:`send_deadline_alert_emails`;
- :mod:`perfkit.workload.mailer`: SMTP delivery for it;
- :mod:`perfkit.workload.registry`: the ``@workload`` decorator and :func:`default_registry`.
"""

from __future__ import annotations

from perfkit.workload.deadline_alerts import (
    AlertRunResult,
    Digest,
    DueCycle,
    send_deadline_alert_emails,
)
from perfkit.workload.mailer import Mailer, MailerError, OutgoingEmail, SendReport, SmtpMailer
from perfkit.workload.registry import (
    Workload,
    WorkloadContext,
    WorkloadRegistry,
    default_registry,
    workload,
)

__all__ = [
    "AlertRunResult",
    "Digest",
    "DueCycle",
    "Mailer",
    "MailerError",
    "OutgoingEmail",
    "SendReport",
    "SmtpMailer",
    "Workload",
    "WorkloadContext",
    "WorkloadRegistry",
    "default_registry",
    "send_deadline_alert_emails",
    "workload",
]
