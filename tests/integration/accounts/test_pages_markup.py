"""The account pages as a visitor's browser gets them: brand, labels, assets, headers."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from api.core.config import Settings
from tests.support.accounts import PAGES, account_pages, mail_settings
from tests.support.smtp import SmtpServer

FORMS = ["sign-up", "sign-in", "forgot", "verify/resend"]


class Inputs(HTMLParser):
    """The visible inputs (id, name) and the ids that labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[tuple[str | None, str | None]] = []
        self.labelled: set[str] = set()
        self.meta: dict[str, str] = {}
        self.stylesheets: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") != "hidden":
            self.inputs.append((values.get("id"), values.get("name")))
        elif tag == "label" and values.get("for"):
            self.labelled.add(str(values["for"]))
        elif tag == "meta" and values.get("name"):
            self.meta[str(values["name"])] = str(values.get("content"))
        elif tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(str(values.get("href")))
        elif tag == "script":
            self.scripts += 1


@pytest.mark.parametrize("path", FORMS)
async def test_every_page_is_branded_labelled_and_fits_a_phone(
    path: str, migrated: Settings, smtp: SmtpServer
) -> None:
    settings = mail_settings(migrated, smtp, product_name="Acme Notebooks")
    async with account_pages(settings) as browser:
        answer = await browser.get(f"{PAGES}/{path}")
        assert answer.status_code == 200
        assert "Acme Notebooks" in answer.text and "jupyterhub" not in answer.text.lower()
        parsed = Inputs()
        parsed.feed(answer.text)
        assert parsed.inputs, "a form page without inputs"
        unlabelled = [name for id_, name in parsed.inputs if id_ not in parsed.labelled]
        assert unlabelled == []
        assert "width=device-width" in parsed.meta["viewport"]
        assert parsed.scripts == 0
        assert parsed.stylesheets[0].endswith("/accounts.css")
        for stylesheet in parsed.stylesheets:
            assert stylesheet.startswith("/services/api/")  # local, never another host
            css = await browser.get(stylesheet)
            assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        main_css = await browser.get(parsed.stylesheets[0])
        assert "@media (max-width" in main_css.text
        headers = answer.headers
        assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "no-store" in headers["cache-control"]


async def test_unknown_static_files_are_not_served(migrated: Settings, smtp: SmtpServer) -> None:
    async with account_pages(mail_settings(migrated, smtp)) as browser:
        for name in ("../pages.py", "accounts.css.bak", "%2e%2e%2fpages.py"):
            assert (await browser.get(f"{PAGES}/static/{name}")).status_code == 404
