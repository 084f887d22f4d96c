"""A small, valid PNG that looks like a QR code; the simulator needs no QR encoder."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib

_MODULES = 25
_SCALE = 4
_BORDER = 4
_FINDER = 7


def qr_png_base64(text: str) -> str:
    """A grayscale PNG, base64-encoded like QPay's `qr_image`, derived from `text`."""
    dark = _modules(text)
    size = (_MODULES + 2 * _BORDER) * _SCALE
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # PNG filter type "none" for this scanline
        my = y // _SCALE - _BORDER
        for x in range(size):
            mx = x // _SCALE - _BORDER
            inside = 0 <= mx < _MODULES and 0 <= my < _MODULES
            rows.append(0 if inside and dark[my * _MODULES + mx] else 255)
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows)))
        + _chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode("ascii")


def _modules(text: str) -> list[bool]:
    bits: list[bool] = []
    counter = 0
    while len(bits) < _MODULES * _MODULES:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        bits.extend(bool(byte >> i & 1) for byte in digest for i in range(8))
        counter += 1
    for y in range(_MODULES):
        for x in range(_MODULES):
            finder = _finder_module(x, y)
            if finder is not None:
                bits[y * _MODULES + x] = finder
    return bits[: _MODULES * _MODULES]


def _finder_module(x: int, y: int) -> bool | None:
    """The three corner squares that make it read as a QR code to a human eye."""
    far = _MODULES - _FINDER
    for ox, oy in ((0, 0), (far, 0), (0, far)):
        if ox <= x < ox + _FINDER and oy <= y < oy + _FINDER:
            ring = max(abs(x - ox - 3), abs(y - oy - 3))
            return ring != 2
    return None


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
