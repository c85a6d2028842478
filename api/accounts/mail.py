"""The platform's mail: plain text and HTML, with the product's name, by SMTP or to an outbox.

With ``smtp_host`` set, mail goes to that server (STARTTLS, TLS from the start, or a plain
connection to a local relay, as ``smtp_security`` says). Without it, each message is written
to ``<data dir>/outbox/`` as an ``.eml`` file, so a single-machine install can read the mail
that verifies its first admin.

smtplib runs in a worker thread: the platform sends few mails, and this needs no other
dependency.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from anyio import to_thread

from api.accounts.errors import MailUnavailable
from api.accounts.templating import render_template
from api.core.config import Settings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 30


def outbox_dir(settings: Settings) -> Path:
    return settings.data_dir / "outbox"


def compose(settings: Settings, *, to: str, template: str, **context: Any) -> EmailMessage:
    """A message from ``mail/<template>.txt`` and ``.html``; the subject is the text's first
    line (``Subject: ...``)."""
    context = {"product_name": settings.product_name, **context}
    text = render_template(f"mail/{template}.txt", **context)
    first, _, body = text.partition("\n")
    subject = first.removeprefix("Subject:").strip()
    html = render_template(f"mail/{template}.html", subject=subject, **context)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.mail_from
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(settings.mail_from)[1].partition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body.lstrip("\n"))
    message.add_alternative(html, subtype="html")
    return message


class Mailer:
    """Sends messages as the settings say. ``tls_context`` verifies the server's certificate
    (default: the system's trusted authorities)."""

    def __init__(self, settings: Settings, tls_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.tls_context = tls_context

    async def send(self, message: EmailMessage) -> None:
        if not self.settings.smtp_host:
            path = await to_thread.run_sync(self._write_to_outbox, message)
            log.info("mail to %s written to %s (no SMTP server configured)", message["To"], path)
            return
        try:
            await to_thread.run_sync(self._send_smtp, message)
        except (smtplib.SMTPException, OSError) as exc:
            log.error(
                "mail to %s via %s:%s failed: %s",
                message["To"],
                self.settings.smtp_host,
                self.settings.smtp_port,
                exc,
            )
            raise MailUnavailable(
                "We could not send the mail just now. Try again in a few minutes; if it keeps "
                "failing, tell the platform's operator."
            ) from exc
        log.info("mail to %s sent via %s", message["To"], self.settings.smtp_host)

    def _write_to_outbox(self, message: EmailMessage) -> Path:
        outbox = outbox_dir(self.settings)
        outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Microseconds: names sort as the mails were written, even several in one second.
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(message.as_bytes())
        path.chmod(0o600)
        return path

    def _send_smtp(self, message: EmailMessage) -> None:
        settings = self.settings
        host = settings.smtp_host or ""
        context = self.tls_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if settings.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(
                host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS, context=context
            )
        else:
            smtp = smtplib.SMTP(host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=context)
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                smtp.login(settings.smtp_username, password)
            smtp.send_message(message)
