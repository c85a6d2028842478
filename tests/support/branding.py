"""Organisation branding for tests: small real images, and the branding page's form."""

from __future__ import annotations

import struct
import zlib

import httpx

from tests.support.accounts import csrf_token
from tests.support.organisations import ORGANISATION

BRANDING = f"{ORGANISATION}/branding"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png(width: int = 96, height: int = 32, colour: tuple[int, int, int] = (13, 148, 136)) -> bytes:
    """A PNG of ``colour`` with a white band across its middle (a logo one can see)."""
    rows = b""
    for y in range(height):
        band = height // 3 <= y < 2 * height // 3
        pixel = bytes((255, 255, 255)) if band else bytes(colour)
        rows += b"\x00" + pixel * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>'
)


async def post_branding(
    client: httpx.AsyncClient,
    *,
    name: str = "",
    primary: str = "",
    accent: str = "",
    logo: tuple[str, bytes, str] | None = None,
    action: str = "save",
) -> httpx.Response:
    """Send the branding form as a browser does (multipart, with the page's form token)."""
    shown = await client.get(BRANDING)
    assert shown.status_code == 200, shown.text
    files = {"logo": logo} if logo else {"logo": ("", b"", "application/octet-stream")}
    return await client.post(
        BRANDING,
        data={
            "csrf_token": csrf_token(shown.text),
            "action": action,
            "brand_name": name,
            "brand_primary": primary,
            "brand_accent": accent,
        },
        files=files,
    )
