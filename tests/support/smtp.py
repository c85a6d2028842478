"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, and its TLS.

``smtp_server()`` yields a running server; plain by default, or with STARTTLS required,
or TLS from the start, with a self-signed certificate for 127.0.0.1 and optional AUTH.
"""

from __future__ import annotations

import datetime
import email
import ipaddress
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.network import free_port

HOST = "127.0.0.1"


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str | None
    over_tls: bool

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "the mail has no plain-text part"
        return str(part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None, "the mail has no HTML part"
        return str(part.get_content())

    def links(self) -> list[str]:
        """Every http(s) address in the plain-text part, in order."""
        return re.findall(r"https?://\S+", self.text)


@dataclass
class Inbox:
    """What the server received, safe to read from the tests' thread."""

    mails: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, address: str) -> list[ReceivedMail]:
        with self.lock:
            return [m for m in self.mails if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def count(self) -> int:
        with self.lock:
            return len(self.mails)


class _Collect:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        over_tls = session.ssl is not None or (
            server.transport is not None
            and server.transport.get_extra_info("ssl_object") is not None
        )
        with self.inbox.lock:
            self.inbox.mails.append(
                ReceivedMail(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=[str(r) for r in envelope.rcpt_tos],
                    message=message,
                    authenticated_as=auth.login.decode()
                    if isinstance(auth, LoginPassword)
                    else None,
                    over_tls=over_tls,
                )
            )
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox
    # Trusts the server's certificate (None for a plain server).
    client_context: ssl.SSLContext | None


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own authority) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp test server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def smtp_server(
    *,
    security: str = "none",
    certificate_dir: Path | None = None,
    login: tuple[str, str] | None = None,
) -> Iterator[SmtpServer]:
    """A running server on 127.0.0.1. ``security``: none, starttls (required) or tls;
    ``login`` requires AUTH with that user and password."""
    inbox = Inbox()
    kwargs: dict[str, Any] = {}
    client_context = None
    if security != "none":
        assert certificate_dir is not None, "TLS needs a directory for the certificate"
        cert_path, key_path = self_signed_certificate(certificate_dir)
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(cert_path, key_path)
        client_context = ssl.create_default_context(cafile=str(cert_path))
        if security == "starttls":
            kwargs.update(tls_context=server_context, require_starttls=True)
        else:
            kwargs.update(ssl_context=server_context)
    if login is not None:
        user, password = login

        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
        ) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and (
                auth_data.login.decode(),
                auth_data.password.decode(),
            ) == (user, password)
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        kwargs.update(
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=security != "none",
        )
    # port=0 does not work: the controller checks readiness by connecting to its port.
    controller = Controller(_Collect(inbox), hostname=HOST, port=free_port(), **kwargs)
    controller.start()
    try:
        yield SmtpServer(HOST, controller.port, inbox, client_context)
    finally:
        controller.stop()
