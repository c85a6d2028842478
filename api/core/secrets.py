"""Secrets the platform generates into its data dir, and the check every secret passes."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# Values people copy from examples. A secret equal to one of these is refused at start.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "please-change-me",
        "replace-me",
        "your-secret-key",
        "xxx",
        "todo",
        "insecure",
    }
)
MIN_SECRET_LENGTH = 32


def check_secret(name: str, value: str) -> None:
    """Refuse placeholders and short values, saying how to get a good one."""
    if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"{name} is a placeholder or shorter than {MIN_SECRET_LENGTH} characters. "
            f"Unset it to have one generated into the data dir, or set a random value "
            f"(for example: openssl rand -hex 32)."
        )


def load_or_create_secret(path: Path) -> str:
    """Read a secret file, creating it (mode 0600) with a random value the first time."""
    if path.exists():
        value = path.read_text().strip()
        check_secret(str(path), value)
        return value
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_hex(32)
    # O_EXCL: two processes starting at once must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_secret(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
