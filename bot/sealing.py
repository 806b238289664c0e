"""Identifiers the bot must be able to read again, encrypted at rest (AES-256-GCM).

A pseudonym cannot be reversed, but to invite a client into a consultation room later, the
bot needs the client's Matrix ID back. Such IDs are stored sealed with a key that lives in
the data directory, never next to the database in a backup by accident: a copy of
``lotse.db`` alone reveals nobody.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.keyfiles import write_private

_NONCE = 12


def load_or_create_seal_key(path: Path) -> bytes:
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise ValueError(f"seal key {path} must be 32 bytes")
        return key
    key = AESGCM.generate_key(bit_length=256)
    write_private(path, key, exclusive=True)
    return key


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context.encode()).decode()
