"""The local spawner's home deletion on a real file system: only ``<users dir>/<name>``, a
name that is exactly one directory entry, and never through a link."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.spawners import delete_home, home_to_delete


def test_the_home_is_the_users_entry_of_the_template(tmp_path: Path) -> None:
    template = f"{tmp_path}/users/{{username}}"
    assert home_to_delete(template, "ada") == tmp_path / "users" / "ada"
    assert home_to_delete(template, "ada-2.lab") == tmp_path / "users" / "ada-2.lab"


@pytest.mark.parametrize("name", ["", ".", "..", "../ada", "ada/../..", "a/b", "nul\0"])
def test_a_name_that_is_not_one_entry_deletes_nothing(tmp_path: Path, name: str) -> None:
    assert home_to_delete(f"{tmp_path}/users/{{username}}", name) is None


@pytest.mark.parametrize(
    "template", ["/tmp/{username}/home", "/srv/{username}-home", "/home/{username}x", "/data"]
)
def test_a_template_not_ending_in_the_user_name_deletes_nothing(template: str) -> None:
    assert home_to_delete(template, "ada") is None


def test_a_home_is_removed_whole_but_links_in_it_are_not_followed(tmp_path: Path) -> None:
    users, elsewhere = tmp_path / "users", tmp_path / "elsewhere"
    home = users / "ada"
    (home / "deep" / "deeper").mkdir(parents=True)
    (home / "deep" / "deeper" / "notes.txt").write_text("ada's")
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not ada's")
    (home / "deep" / "link").symlink_to(elsewhere, target_is_directory=True)
    (users / "grace").mkdir()

    assert delete_home(home) == "removed"
    assert not home.exists()
    assert (elsewhere / "keep.txt").read_text() == "not ada's"
    assert (users / "grace").is_dir()
    assert delete_home(home) == "absent"


def test_a_home_that_is_a_link_loses_only_the_link(tmp_path: Path) -> None:
    users, elsewhere = tmp_path / "users", tmp_path / "elsewhere"
    users.mkdir()
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not ada's")
    (users / "ada").symlink_to(elsewhere, target_is_directory=True)

    assert delete_home(users / "ada") == "removed"
    assert not (users / "ada").is_symlink()
    assert (elsewhere / "keep.txt").read_text() == "not ada's"
