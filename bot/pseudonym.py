"""Keyed pseudonyms: HMAC-SHA256 of an identifier under the deployment's secret key.

Stored metadata and log lines refer to people only through these. Without the key the
pseudonym cannot be reversed or even confirmed by hashing a guessed user ID, which a plain
hash would allow.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac

from bot.keyfiles import write_private

KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, creating it (0600) on first use."""
    if path.exists():
        raw = path.read_bytes().strip()
        key = base64.b64decode(raw)
        if len(key) < KEY_BYTES:
            raise ValueError(f"pseudonym key in {path} is shorter than {KEY_BYTES} bytes")
        return key
    key = secrets.token_bytes(KEY_BYTES)
    write_private(path, base64.b64encode(key) + b"\n", exclusive=True)
    return key


class Pseudonymizer:
    def __init__(self, key: bytes, *, context: str = "subject") -> None:
        # The context separates uses of one key: a log pseudonym never equals a store pseudonym.
        self._key = key
        self._context = context.encode()

    def __call__(self, identifier: str) -> str:
        mac = hmac.HMAC(self._key, hashes.SHA256())
        mac.update(self._context + b"\x00" + identifier.encode())
        return base64.urlsafe_b64encode(mac.finalize()).decode().rstrip("=")

    def derive(self, context: str) -> Pseudonymizer:
        return Pseudonymizer(self._key, context=context)

    def short(self, identifier: str) -> str:
        """A short tag for log lines: enough to follow one person through a log, no more."""
        return "u:" + self(identifier)[:10]
