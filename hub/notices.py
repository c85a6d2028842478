"""Usage notices on the hub's pages: a banner when a person reached 80% or 100% of a daily
limit of their plan, with the upgrade link.

``template_vars["usage_notices"]`` is a callable of the page's user, like the member's
brand (:mod:`hub.branding`), and kept the same way: fetched in the background from the api
(``GET …/internal/usage-notices/<name>`` with the quota service's token), cached for a
minute, and never waited on for longer than ``wait_seconds``. What a page gets is the
api's answer, ``{"notices": [...], "upgrade_url": ...}``, or None.
"""

from __future__ import annotations

import logging
from typing import Any

from api.core.config import Settings
from hub.branding import Brand, MemberBrands
from hub.platform_api import internal_api_url

log = logging.getLogger(__name__)

NOTICE_FIELDS = ("id", "limit_name", "threshold", "message", "upgrade_url")


def notices_from(data: Any) -> dict[str, Any] | None:
    """Today's notices in the api's answer (their known fields only); None when none."""
    if not isinstance(data, dict) or not isinstance(data.get("notices"), list):
        raise ValueError(f"not a notices answer: {data!r}")
    notices = [
        {key: notice.get(key) for key in NOTICE_FIELDS}
        for notice in data["notices"]
        if isinstance(notice, dict) and isinstance(notice.get("message"), str)
    ]
    if not notices:
        return None
    # The newest notice of each limit (100% after 80%) is the one to show.
    latest: dict[str, dict[str, Any]] = {}
    for notice in notices:
        latest[str(notice["limit_name"])] = notice
    return {"notices": list(latest.values()), "upgrade_url": data.get("upgrade_url")}


class UsageNotices(MemberBrands):
    """``template_vars["usage_notices"]``: for the page's user, a function of no arguments
    giving today's notices (None: none, or the api did not answer in time)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> UsageNotices:
        return cls(internal_api_url(settings), settings.quota_service_token)

    path = "usage-notices"
    what = "usage notices"

    def parse(self, data: Any) -> Brand | None:
        return notices_from(data)
