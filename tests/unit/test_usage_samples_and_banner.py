"""Storage samples from an engine's /system/df and a folder, and the hub banner's notices."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.notices import notices_from
from hub.storage import escaped, folder_size, volume_sizes


def test_volume_sizes_sum_a_users_homes_and_skip_others_and_unmeasured_ones() -> None:
    df = {
        "Volumes": [
            {"Name": "datazentr-home-ann", "UsageData": {"Size": 100}},
            {"Name": "datazentr-home-ann--lab2", "UsageData": {"Size": 50}},
            {"Name": f"datazentr-home-{escaped('Bo.b')}", "UsageData": {"Size": 7}},
            {"Name": "datazentr-home-annie", "UsageData": {"Size": 999}},
            {"Name": "datazentr-home-cy", "UsageData": {"Size": -1}},
            {"Name": "other", "UsageData": {"Size": 5}},
        ]
    }
    assert volume_sizes(df, ["ann", "Bo.b", "cy"]) == {"ann": 150, "Bo.b": 7}


def test_a_folder_is_measured_without_following_links(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "sub").mkdir(parents=True)
    (home / "a.txt").write_bytes(b"x" * 10)
    (home / "sub" / "b.bin").write_bytes(b"y" * 5)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"z" * 1000)
    os.symlink(outside, home / "link")
    assert folder_size(home) == 15 + len(os.readlink(home / "link"))


def test_the_banner_shows_the_newest_notice_of_each_limit() -> None:
    answer = {
        "notices": [
            {"id": "d:api_calls:80", "limit_name": "api_calls", "threshold": 80, "message": "a"},
            {"id": "d:api_calls:100", "limit_name": "api_calls", "threshold": 100, "message": "b"},
            {"id": "d:storage:80", "limit_name": "storage_bytes", "threshold": 80, "message": "c"},
        ],
        "upgrade_url": "http://hub/services/api/accounts/billing",
    }
    shown = notices_from(answer)
    assert shown is not None
    assert [n["message"] for n in shown["notices"]] == ["b", "c"]
    assert shown["upgrade_url"].endswith("/accounts/billing")
    assert notices_from({"notices": []}) is None
    with pytest.raises(ValueError):
        notices_from({"branding": None})
