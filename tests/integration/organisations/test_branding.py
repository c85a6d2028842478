"""An organisation's branding: its admins set name, logo and colours on their page (bad
input refused with a message), its members see them on the account pages and get them as
JSON, its sign-in page shows them, the logo is served with cache headers; members and
people of other organisations change nothing and see none of it."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from api.auth import HubUser
from api.core.config import Settings
from api.core.db import Database
from api.core.names import QUOTA_SERVICE
from api.main import create_app
from api.models import Event, Tenant
from api.organisations.branding import MAX_LOGO_BYTES
from tests.support.accounts import PAGES, create_person
from tests.support.branding import BRANDING, SVG, png, post_branding
from tests.support.identity import USERS, AnyUserIdentity, as_user
from tests.support.organisations import (
    ORGANISATION,
    OpenBrowser,
    invite_on_page,
    join_on_link,
    mailed_invitation,
    run_by,
    sign_in_to,
)
from tests.support.smtp import SmtpServer

API = "/services/api"


async def stored_brand(database: Database, slug: str) -> Tenant:
    async with database.sessionmaker() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
        assert tenant is not None
        await session.refresh(tenant, attribute_names=["brand_logo"])
        return tenant


async def my_branding(client: httpx.AsyncClient, name: str) -> object:
    answer = await client.get(f"{API}/me/branding", headers=as_user(name))
    assert answer.status_code == 200, answer.text
    return answer.json()["branding"]


async def test_an_admin_brands_the_organisation_and_its_members_see_it(
    open_browser: OpenBrowser, smtp: SmtpServer, database: Database
) -> None:
    admin_browser = await open_browser()
    admin, slug = await run_by(admin_browser, database, name="Acme Research")
    logo = png()

    saved = await post_branding(
        admin_browser,
        name="Acme Lab",
        primary="#0D9488",
        accent="f59e0b",
        logo=("acme.png", logo, "image/png"),
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"{BRANDING}?done=saved"
    tenant = await stored_brand(database, slug)
    assert (tenant.brand_name, tenant.brand_primary, tenant.brand_accent) == (
        "Acme Lab",
        "#0d9488",
        "#f59e0b",
    )
    assert tenant.brand_logo == logo and tenant.brand_logo_type == "image/png"
    async with database.sessionmaker() as session:
        changed = await session.scalar(
            select(Event).where(
                Event.stream == f"tenant:{slug}", Event.type == "tenant.branding_changed"
            )
        )
    assert changed is not None and changed.actor == admin.username

    # The page shows what was saved, with its preview; the header is the organisation's.
    shown = await admin_browser.get(saved.headers["location"])
    assert "The branding was saved" in shown.text
    assert 'class="brand-preview"' in shown.text and "#0d9488" in shown.text
    logo_url = re.search(r'class="brand-logo" src="([^"]+)"', shown.text)
    assert logo_url and logo_url.group(1).startswith(f"{API}/organisations/{slug}/logo?v=")
    assert re.search(r'class="brand"[^>]*>.*Acme Lab</a>', shown.text)
    assert f'href="{API}/organisations/{slug}/brand.css?v=' in shown.text
    assert "<title>Branding of Acme Research · Acme Lab</title>" in shown.text

    # A member invited by mail sees it once they have joined, and gets it as JSON.
    member = await create_person(database, display_name="Alan Turing")
    assert member.email is not None
    invited = await invite_on_page(admin_browser, member.email)
    assert invited.status_code == 303, invited.text
    member_browser = await open_browser()
    await sign_in_to(member_browser, member, "/hub/")
    before = await member_browser.get(f"{PAGES}/settings")
    assert "Acme Lab" not in before.text and "brand.css" not in before.text
    joined = await join_on_link(member_browser, mailed_invitation(smtp, member.email))
    assert joined.status_code == 303, joined.text
    settings_page = await member_browser.get(f"{PAGES}/settings")
    assert re.search(
        r'class="brand"[^>]*><img class="brand-logo"[^>]*>Acme Lab</a>', settings_page.text
    )
    assert f"{API}/organisations/{slug}/brand.css" in settings_page.text
    mine = await my_branding(member_browser, member.username)
    assert isinstance(mine, dict)
    stylesheet = mine.pop("stylesheet_url")
    assert mine == {
        "organisation": slug,
        "name": "Acme Lab",
        "primary": "#0d9488",
        "accent": "#f59e0b",
        "logo_url": logo_url.group(1),
    }
    assert stylesheet.startswith(f"{API}/organisations/{slug}/brand.css?v=")

    # The colours as CSS custom properties, public and cacheable.
    css = await member_browser.get(stylesheet)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "--brand: #0d9488;" in css.text and "--brand-accent: #f59e0b;" in css.text
    assert "max-age" in css.headers["cache-control"]


async def test_the_logo_is_served_with_cache_headers_and_is_gone_once_removed(
    open_browser: OpenBrowser, database: Database
) -> None:
    admin_browser = await open_browser()
    _, slug = await run_by(admin_browser, database)
    path = f"{API}/organisations/{slug}/logo"
    assert (await admin_browser.get(path)).status_code == 404
    assert (await admin_browser.get(f"{API}/organisations/no-such-one/logo")).status_code == 404

    logo = png(64, 64, (200, 30, 30))
    saved = await post_branding(admin_browser, logo=("mark.png", logo, "image/png"))
    assert saved.status_code == 303, saved.text
    anyone = await open_browser()  # signed out: the sign-in page shows the logo too
    served = await anyone.get(path)
    assert served.status_code == 200 and served.content == logo
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "max-age=" in served.headers["cache-control"]
    etag = served.headers["etag"]
    again = await anyone.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert (await anyone.get(path, headers={"If-None-Match": '"other"'})).status_code == 200

    # A new logo has a new tag; removing it leaves none.
    other = png(64, 64, (30, 30, 200))
    await post_branding(admin_browser, logo=("mark.png", other, "image/png"))
    replaced = await anyone.get(path, headers={"If-None-Match": etag})
    assert replaced.status_code == 200 and replaced.content == other
    removed = await post_branding(admin_browser, action="remove_logo")
    assert removed.headers["location"] == f"{BRANDING}?done=logo_removed"
    assert (await anyone.get(path)).status_code == 404
    page = await admin_browser.get(removed.headers["location"])
    assert "The logo was removed" in page.text and "brand-logo" not in page.text


async def test_bad_input_is_refused_with_a_message_and_nothing_is_saved(
    open_browser: OpenBrowser, database: Database
) -> None:
    admin_browser = await open_browser()
    _, slug = await run_by(admin_browser, database, name="Acme Research")

    svg = await post_branding(admin_browser, name="Kept", logo=("logo.svg", SVG, "image/svg+xml"))
    assert svg.status_code == 422
    assert "must be a PNG, JPEG or WebP image" in svg.text and "SVG is not accepted" in svg.text
    assert 'value="Kept"' in svg.text  # the form keeps what was typed
    # A file that claims to be a PNG but is not one.
    fake = await post_branding(admin_browser, logo=("logo.png", b"GIF89a" + b"0" * 40, "image/png"))
    assert fake.status_code == 422 and "must be a PNG, JPEG or WebP image" in fake.text

    big = png()[:16] + b"\0" * MAX_LOGO_BYTES
    too_large = await post_branding(admin_browser, logo=("big.png", big, "image/png"))
    assert too_large.status_code == 413
    assert f"larger than {MAX_LOGO_BYTES // 1024} KB" in too_large.text
    just_over = png()[:16] + b"\0" * (MAX_LOGO_BYTES - 15)
    one_byte = await post_branding(admin_browser, logo=("big.png", just_over, "image/png"))
    assert one_byte.status_code == 413 and "256 KB" in one_byte.text
    # A form far over the limit is refused before it is read.
    huge = await post_branding(admin_browser, logo=("huge.png", big * 2, "image/png"))
    assert huge.status_code == 413 and "larger than 256 KB" in huge.text

    colour = await post_branding(admin_browser, primary="teal")
    assert colour.status_code == 422 and "six hex digits" in colour.text
    assert 'id="brand_primary"' in colour.text and 'aria-invalid="true"' in colour.text
    accent = await post_branding(admin_browser, accent="#12345")
    assert accent.status_code == 422 and "accent colour" in accent.text
    name = await post_branding(admin_browser, name="x" * 201)
    assert name.status_code == 422 and "200 characters" in name.text

    tenant = await stored_brand(database, slug)
    assert tenant.brand_name is None and tenant.brand_logo is None
    assert tenant.brand_primary is None and tenant.brand_accent is None

    # Exactly at the limit, a JPEG and a WebP are accepted.
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * (MAX_LOGO_BYTES - 4)
    assert (
        await post_branding(admin_browser, logo=("a.jpg", jpeg, "image/jpeg"))
    ).status_code == 303
    assert (await stored_brand(database, slug)).brand_logo_type == "image/jpeg"
    webp = b"RIFF\x20\0\0\0WEBPVP8 " + b"\0" * 20
    assert (
        await post_branding(admin_browser, logo=("a.webp", webp, "image/webp"))
    ).status_code == 303
    assert (await stored_brand(database, slug)).brand_logo_type == "image/webp"


async def test_only_admins_change_it_and_other_organisations_see_none_of_it(
    open_browser: OpenBrowser, smtp: SmtpServer, database: Database
) -> None:
    admin_browser = await open_browser()
    _, slug = await run_by(admin_browser, database, name="Acme Research")
    saved = await post_branding(
        admin_browser, name="Acme Lab", primary="#0d9488", logo=("a.png", png(), "image/png")
    )
    assert saved.status_code == 303, saved.text

    # A member of the organisation sees the branding but may not change it.
    member = await create_person(database, display_name="Alan Turing")
    assert member.email is not None
    await invite_on_page(admin_browser, member.email)
    member_browser = await open_browser()
    await sign_in_to(member_browser, member, "/hub/")
    await join_on_link(member_browser, mailed_invitation(smtp, member.email))
    refused = await member_browser.get(BRANDING)
    assert refused.status_code == 403
    assert "Only the admins of Acme Research can change its branding" in refused.text
    assert "Save branding" not in refused.text
    # Their POST, with a valid form token from a page they may open, changes nothing.
    own = await member_browser.get(ORGANISATION)
    token = re.search(r'name="csrf_token" value="([^"]+)"', own.text)
    assert token
    posted = await member_browser.post(
        BRANDING,
        data={"csrf_token": token.group(1), "action": "save", "brand_name": "Taken over"},
        files={"logo": ("", b"", "application/octet-stream")},
    )
    assert posted.status_code == 403 and "Only the admins" in posted.text
    removed = await member_browser.post(
        BRANDING,
        data={"csrf_token": token.group(1), "action": "remove_logo"},
        files={"logo": ("", b"", "application/octet-stream")},
    )
    assert removed.status_code == 403
    tenant = await stored_brand(database, slug)
    assert tenant.brand_name == "Acme Lab" and tenant.brand_logo is not None

    # The admin of another organisation sees their own (unbranded) pages only.
    other_browser = await open_browser()
    other, other_slug = await run_by(other_browser, database, name="Globex")
    page = await other_browser.get(ORGANISATION)
    assert "Acme Lab" not in page.text and f"/organisations/{slug}/" not in page.text
    # An organisation without branding of its own: the product's brand.
    assert await my_branding(other_browser, other.username) is None
    assert (
        await other_browser.get(f"{API}/organisations/{other_slug}/brand.css")
    ).status_code == 404
    mine = await other_browser.get(BRANDING)
    assert mine.status_code == 200 and "Acme" not in mine.text
    # Someone in no organisation: the product's own brand, and no branding page.
    loner = await create_person(database, display_name="Edsger Dijkstra")
    loner_browser = await open_browser()
    await sign_in_to(loner_browser, loner, "/hub/")
    assert await my_branding(loner_browser, loner.username) is None
    nowhere = await loner_browser.get(BRANDING)
    assert nowhere.status_code == 403 and "You are in no organisation" in nowhere.text
    assert "Acme Lab" not in nowhere.text

    # The branding JSON needs a signed-in caller.
    assert (await loner_browser.get(f"{API}/me/branding")).status_code == 401


async def test_the_organisations_sign_in_page_is_branded(
    open_browser: OpenBrowser, database: Database
) -> None:
    admin_browser = await open_browser()
    admin, slug = await run_by(admin_browser, database, name="Acme Research")
    await post_branding(
        admin_browser, name="Acme Lab", accent="#f59e0b", logo=("a.png", png(), "image/png")
    )
    visitor = await open_browser()
    branded = await visitor.get(f"{PAGES}/sign-in?organisation={slug}")
    assert branded.status_code == 200
    assert "<h1>Sign in to Acme Lab</h1>" in branded.text
    assert f'src="{API}/organisations/{slug}/logo?v=' in branded.text
    assert f"{API}/organisations/{slug}/brand.css" in branded.text
    assert f'name="organisation" value="{slug}"' in branded.text
    # A wrong password shows the branded page again.
    token = re.search(r'name="csrf_token" value="([^"]+)"', branded.text)
    assert token
    wrong = await visitor.post(
        f"{PAGES}/sign-in",
        data={
            "csrf_token": token.group(1),
            "organisation": slug,
            "email": admin.email or "",
            "password": "not-the-password",
            "action": "password",
        },
    )
    assert wrong.status_code in (400, 401, 422) and "Sign in to Acme Lab" in wrong.text
    plain = await visitor.get(f"{PAGES}/sign-in")
    assert "Acme Lab" not in plain.text and "brand.css" not in plain.text
    unknown = await visitor.get(f"{PAGES}/sign-in?organisation=no-such-organisation")
    assert unknown.status_code == 200 and "brand.css" not in unknown.text


async def test_the_hub_asks_for_a_members_branding_with_its_service_token(
    open_browser: OpenBrowser, org_settings: Settings, database: Database
) -> None:
    admin_browser = await open_browser()
    admin, slug = await run_by(admin_browser, database, name="Acme Research")
    await post_branding(admin_browser, primary="#0d9488")
    users = {
        **USERS,
        "quota": HubUser(name=QUOTA_SERVICE, admin=False, kind="service"),
        "api": HubUser(name="api", admin=False, kind="service"),
    }
    app = create_app(org_settings, identity=AnyUserIdentity(users))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as hub:
            path = f"{API}/internal/branding/{admin.username}"
            answer = await hub.get(path, headers=as_user("quota"))
            assert answer.status_code == 200, answer.text
            brand = answer.json()["branding"]
            assert brand["organisation"] == slug and brand["primary"] == "#0d9488"
            assert brand["name"] == "Acme Research"
            nobody = await hub.get(f"{API}/internal/branding/nobody-here", headers=as_user("quota"))
            assert nobody.json() == {"branding": None}
            # Only the hub's quota service may ask about someone else.
            for caller in ("api", "alice"):
                refused = await hub.get(path, headers=as_user(caller))
                assert refused.status_code == 403
