"""The mails a platform without SMTP writes to ``<data dir>/outbox/``, as its operator reads
them (the launcher names the folder): one ``.eml`` file per mail."""

from __future__ import annotations

import email
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

from api.accounts.mail import outbox_dir
from api.core.config import Settings
from tests.support.smtp import ReceivedMail
from tests.support.waiting import PATIENCE_SECONDS


def outbox_mails(data_dir: Path, address: str) -> list[ReceivedMail]:
    """Every mail in the outbox to ``address``, oldest first."""
    folder = outbox_dir(Settings(_env_file=None, data_dir=data_dir))
    mails = []
    for path in sorted(folder.glob("*.eml")) if folder.is_dir() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        if address.lower() in str(message["To"]).lower():
            mails.append(ReceivedMail(str(message["From"]), [address], message, None, False))
    return mails


def wait_for_link(data_dir: Path, address: str, path_part: str, *, after: int = 0) -> str:
    """The link containing ``path_part`` in the first mail to ``address`` beyond the
    ``after`` mails already there, once it has arrived."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        mails = outbox_mails(data_dir, address)[after:]
        for mail in mails:
            for link in mail.links():
                if path_part in link:
                    return link
        assert time.monotonic() < deadline, f"no mail to {address} with a {path_part} link"
        time.sleep(0.2)
