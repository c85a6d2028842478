"""The platform's mail through a real SMTP server on loopback, and the outbox without one."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
from pydantic import SecretStr

from api.accounts.errors import MailUnavailable
from api.accounts.mail import Mailer, compose, outbox_dir
from api.core.config import Settings
from tests.support.smtp import smtp_server

LINK = "http://hub/services/api/accounts/verify?token=abc"


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        product_name="Acme Notebooks",
        mail_from="Acme Notebooks <no-reply@acme.example>",
        **values,  # type: ignore[arg-type]
    )


def verification(settings: Settings, to: str = "ada@example.org") -> email.message.EmailMessage:
    return compose(settings, to=to, template="verify_email", name="Ada", url=LINK, hours=24)


async def test_a_mail_has_text_and_html_with_the_product_name(tmp_path: Path) -> None:
    with smtp_server() as server:
        settings = settings_for(
            tmp_path, smtp_host=server.host, smtp_port=server.port, smtp_security="none"
        )
        await Mailer(settings).send(verification(settings))
        [mail] = server.inbox.to("ada@example.org")
    assert mail.mail_from == "no-reply@acme.example"
    assert mail.message["Subject"] == "Confirm your e-mail address for Acme Notebooks"
    assert "Hello Ada," in mail.text and mail.links() == [LINK]
    assert "Acme Notebooks" in mail.html and f'href="{LINK}"' in mail.html
    assert not mail.over_tls


async def test_starttls_with_a_login(tmp_path: Path) -> None:
    with smtp_server(
        security="starttls", certificate_dir=tmp_path, login=("mailer", "s3cret-pass")
    ) as server:
        settings = settings_for(
            tmp_path,
            smtp_host=server.host,
            smtp_port=server.port,
            smtp_security="starttls",
            smtp_username="mailer",
            smtp_password=SecretStr("s3cret-pass"),
        )
        await Mailer(settings, tls_context=server.client_context).send(verification(settings))
        [mail] = server.inbox.mails
    assert mail.over_tls and mail.authenticated_as == "mailer"


async def test_tls_from_the_start(tmp_path: Path) -> None:
    with smtp_server(security="tls", certificate_dir=tmp_path) as server:
        settings = settings_for(
            tmp_path, smtp_host=server.host, smtp_port=server.port, smtp_security="tls"
        )
        await Mailer(settings, tls_context=server.client_context).send(verification(settings))
        [mail] = server.inbox.mails
    assert mail.over_tls


async def test_a_wrong_login_or_an_untrusted_certificate_is_a_clear_error(
    tmp_path: Path,
) -> None:
    with smtp_server(
        security="starttls", certificate_dir=tmp_path, login=("mailer", "s3cret-pass")
    ) as server:
        wrong = settings_for(
            tmp_path,
            smtp_host=server.host,
            smtp_port=server.port,
            smtp_username="mailer",
            smtp_password=SecretStr("not-the-password"),
        )
        with pytest.raises(MailUnavailable, match="could not send the mail"):
            await Mailer(wrong, tls_context=server.client_context).send(verification(wrong))
        # The system's authorities do not know the test certificate: refused, not sent.
        with pytest.raises(MailUnavailable):
            await Mailer(wrong).send(verification(wrong))
        assert server.inbox.count() == 0


async def test_a_server_that_is_down_is_a_clear_error(tmp_path: Path) -> None:
    with smtp_server() as server:
        port = server.port
    settings = settings_for(tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none")
    with pytest.raises(MailUnavailable, match="Try again in a few minutes"):
        await Mailer(settings).send(verification(settings))


async def test_without_a_server_mail_goes_to_the_outbox(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await Mailer(settings).send(verification(settings))
    [path] = outbox_dir(settings).glob("*.eml")
    assert path.stat().st_mode & 0o077 == 0
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "ada@example.org"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and LINK in str(body.get_content())
