"""The bot's device is cross-signed by the bot itself, as another user's client sees it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from canonicaljson import encode_canonical_json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.devserver.synapse import SynapseServer
from tests.e2e.conftest import BotHarness, PersonaFactory

pytestmark = pytest.mark.e2e


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _valid(obj: dict[str, Any], signer: str, key_b64: str, key_id: str | None = None) -> bool:
    """Independent check of a Matrix signature (not the bot's own code)."""
    sig = obj["signatures"][signer].get(key_id or f"ed25519:{key_b64}")
    if sig is None:
        return False
    payload = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    try:
        Ed25519PublicKey.from_public_bytes(_unb64(key_b64)).verify(
            _unb64(sig), encode_canonical_json(payload)
        )
    except Exception:
        return False
    return True


def _only_key(obj: dict[str, Any]) -> str:
    (key,) = obj["keys"].values()
    return str(key)


def _query(synapse: SynapseServer, token: str, user: str) -> dict[str, Any]:
    status, body = synapse.api("POST", "/_matrix/client/v3/keys/query", {"device_keys": {user: []}}, token)
    assert status == 200, body
    return body


async def test_bot_device_is_cross_signed_and_identity_is_stable(
    bot: BotHarness, persona: PersonaFactory, synapse: SynapseServer
) -> None:
    observer = await persona("worker")
    await bot.start()
    device_id = bot.instance.gateway.device_id  # type: ignore[union-attr]
    token = observer.account.access_token
    assert token
    keys = _query(synapse, token, bot.user_id)

    master = keys["master_keys"][bot.user_id]
    ssk = keys["self_signing_keys"][bot.user_id]
    device = keys["device_keys"][bot.user_id][device_id]
    assert master["usage"] == ["master"] and ssk["usage"] == ["self_signing"]
    master_pub, ssk_pub = _only_key(master), _only_key(ssk)
    assert _valid(ssk, bot.user_id, master_pub), "self-signing key not signed by the master key"
    assert _valid(device, bot.user_id, ssk_pub), "device not signed by the self-signing key"
    # The device's own signature is still there and valid, too.
    own = f"ed25519:{device_id}"
    assert _valid(device, bot.user_id, device["keys"][own], own)

    key_file = bot.data_dir / "keys" / "cross_signing.json"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert bot.data_dir.stat().st_mode & 0o777 == 0o700
    assert set(json.loads(key_file.read_text())) == {"master", "self_signing"}

    # A restart keeps the same device and the same identity.
    await bot.stop()
    await bot.start()
    assert bot.instance.gateway.device_id == device_id  # type: ignore[union-attr]
    again = _query(synapse, token, bot.user_id)
    assert _only_key(again["master_keys"][bot.user_id]) == master_pub
    assert _only_key(again["self_signing_keys"][bot.user_id]) == ssk_pub


async def test_lost_keys_refuse_to_start_with_operator_message(
    bot: BotHarness, synapse: SynapseServer
) -> None:
    await bot.start()
    await bot.stop()
    (bot.data_dir / "keys" / "cross_signing.json").unlink()
    with pytest.raises(Exception, match="reset-cross-signing"):
        await bot.start()
