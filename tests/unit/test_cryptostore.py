"""nio's encryption store runs in WAL mode with full durability (bot/matrix/cryptostore.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nio import AsyncClient, AsyncClientConfig

from bot.matrix.cryptostore import WalStore


async def test_the_encryption_store_is_written_ahead_and_keeps_its_state(tmp_path: Path) -> None:
    config = AsyncClientConfig(encryption_enabled=True, store=WalStore, pickle_key="k" * 32)
    client = AsyncClient("http://127.0.0.1:9", "@lotse:localhost", "DEVICE", str(tmp_path), config=config)
    client.access_token, client.user_id = "token", "@lotse:localhost"
    client.load_store()
    identity = client.olm.account.identity_keys
    await client.close()
    db = tmp_path / "@lotse:localhost_DEVICE.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # A second start finds the same olm account (nothing was lost to the journal mode).
    again = AsyncClient("http://127.0.0.1:9", "@lotse:localhost", "DEVICE", str(tmp_path), config=config)
    again.access_token, again.user_id = "token", "@lotse:localhost"
    again.load_store()
    assert again.olm.account.identity_keys == identity
    await again.close()
