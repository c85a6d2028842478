"""Where the account pages may send a person afterwards: only platform paths."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from api.accounts.sessions import DEFAULT_NEXT, SIGN_IN_PATH, login_url, mailed_next, safe_next


@pytest.mark.parametrize(
    "value",
    [
        "/hub/home",
        "/hub/spawn",
        "/user/ada/lab",
        "/services/api/oauth2/authorize?client_id=jupyterhub&state=x%2Fy",
        "/services/api/accounts/welcome",
    ],
)
def test_platform_paths_are_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "https://elsewhere.example/hub/",
        "http://elsewhere.example",
        "//elsewhere.example/hub/",
        "///elsewhere.example/hub/",
        "/\\elsewhere.example",
        "\\\\elsewhere.example",
        "javascript:alert(1)",
        "/hub/../../elsewhere",
        "/elsewhere",
        "/hubx/",
        "/hub/\nSet-Cookie: x=1",
        "hub/home",
        "/hub/" + "a" * 3000,
    ],
)
def test_anything_else_falls_back_to_the_hub(value: str | None) -> None:
    assert safe_next(value) == DEFAULT_NEXT


def test_login_url_carries_a_safe_next() -> None:
    url = urlsplit(login_url("/services/api/oauth2/authorize?client_id=jupyterhub"))
    assert url.path == SIGN_IN_PATH
    assert parse_qs(url.query) == {"next": ["/services/api/oauth2/authorize?client_id=jupyterhub"]}
    assert parse_qs(urlsplit(login_url("https://elsewhere.example/")).query) == {
        "next": [DEFAULT_NEXT]
    }


def test_a_mailed_link_leads_a_hub_sign_in_to_the_hub_login_and_keeps_other_places() -> None:
    # The hub's authorize request needs the hub's state cookie of the browser that began
    # it; a mail may be opened elsewhere, so the link starts the hub's login afresh.
    authorize = "/services/api/oauth2/authorize?client_id=jupyterhub&state=abc"
    assert mailed_next(authorize) == "/hub/login"
    assert mailed_next("/services/api/accounts/settings") == "/services/api/accounts/settings"
    assert mailed_next("/user/ada/lab/tree/x.ipynb") == "/user/ada/lab/tree/x.ipynb"
