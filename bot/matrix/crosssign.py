"""The bot signs its own device with its own cross-signing keys.

Element (and the spec since MSC4153) treats a device that its owner has not cross-signed as
insecure and stops sharing room keys with it, and matrix-nio has no cross-signing. So Lotse
keeps a master key and a self-signing key (Ed25519) of its own:

1. ``/keys/query`` tells what the homeserver holds for the bot's account.
2. No master key on the server: generate the keys (or reuse ones already on disk), save the
   private halves first (0600), then upload them with ``/keys/device_signing/upload``
   (user-interactive auth with the bot's password if the server asks for it).
3. The server's master key equals ours: nothing to upload. A different master key, or ours
   lost: stop with an operator message. Replacing a master key is an identity change that
   every client warns about, so it must only happen through ``lotse reset-cross-signing``.
4. The device carries no valid signature by our self-signing key: sign the device keys
   (canonical JSON without ``signatures``/``unsigned``) and upload via
   ``/keys/signatures/upload``.

Every start runs this; when all is in place it costs one ``/keys/query``.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from canonicaljson import encode_canonical_json
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.keyfiles import write_private

log = logging.getLogger(__name__)


class CrossSigningError(RuntimeError):
    pass


class RawRequester(Protocol):
    async def raw(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        what: str | None = None,
        ok_statuses: tuple[int, ...] = (200,),
    ) -> tuple[int, dict[str, Any]]: ...


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def public_b64(key: Ed25519PrivateKey) -> str:
    return b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def signable_bytes(obj: dict[str, Any]) -> bytes:
    stripped = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    return bytes(encode_canonical_json(stripped))


def sign_json(obj: dict[str, Any], user_id: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of ``obj`` with a signature by ``key`` added under ``user_id``."""
    signed = copy.deepcopy(obj)
    sig = b64(key.sign(signable_bytes(obj)))
    signed.setdefault("signatures", {}).setdefault(user_id, {})[f"ed25519:{public_b64(key)}"] = sig
    return signed


def verify_json(obj: dict[str, Any], user_id: str, public_key_b64: str, key_id: str | None = None) -> bool:
    """True if ``obj`` carries a valid signature by the Ed25519 key ``public_key_b64`` (listed
    under ``key_id``; cross-signing keys are listed under their public key, devices' own
    signatures under ``ed25519:DEVICEID``)."""
    sig = obj.get("signatures", {}).get(user_id, {}).get(key_id or f"ed25519:{public_key_b64}")
    if not sig:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(unb64(public_key_b64)).verify(unb64(sig), signable_bytes(obj))
    except (InvalidSignature, ValueError):
        return False
    return True


def key_object(user_id: str, usage: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    pub = public_b64(key)
    return {"user_id": user_id, "usage": [usage], "keys": {f"ed25519:{pub}": pub}}


def only_key(obj: dict[str, Any] | None) -> str | None:
    """The public key of a cross-signing key object (they hold exactly one)."""
    if not obj:
        return None
    keys = list(obj.get("keys", {}).values())
    return str(keys[0]) if len(keys) == 1 else None


@dataclass
class CrossSigningKeys:
    master: Ed25519PrivateKey
    self_signing: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> CrossSigningKeys:
        return cls(Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate())

    def to_json(self) -> str:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        def seed(k: Ed25519PrivateKey) -> str:
            return b64(k.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))

        return json.dumps({"master": seed(self.master), "self_signing": seed(self.self_signing)})

    @classmethod
    def from_json(cls, text: str) -> CrossSigningKeys:
        data = json.loads(text)
        return cls(
            Ed25519PrivateKey.from_private_bytes(unb64(data["master"])),
            Ed25519PrivateKey.from_private_bytes(unb64(data["self_signing"])),
        )


def load_keys(path: Path) -> CrossSigningKeys | None:
    if not path.exists():
        return None
    return CrossSigningKeys.from_json(path.read_text(encoding="utf-8"))


def save_keys(path: Path, keys: CrossSigningKeys) -> None:
    write_private(path, keys.to_json().encode("utf-8"))


class CrossSigner:
    def __init__(
        self,
        http: RawRequester,
        user_id: str,
        device_id: str,
        keys_file: Path,
        password: str | None,
        identity_keys: dict[str, str] | None = None,
    ) -> None:
        self.http = http
        self.user_id = user_id
        self.device_id = device_id
        self.keys_file = keys_file
        self.password = password
        # The bot's own olm account keys: a device the server returns is signed only if it is
        # exactly this one (a compromised server could otherwise get its own device signed).
        self.identity_keys = identity_keys

    async def query(self) -> dict[str, Any]:
        status, body = await self.http.raw(
            "POST",
            "/_matrix/client/v3/keys/query",
            {"device_keys": {self.user_id: []}},
            what="keys query",
        )
        if status != 200:
            raise CrossSigningError(f"/keys/query failed with {status} {body.get('errcode')}")
        return body

    async def ensure(self, *, reset: bool = False) -> str:
        """Make sure the bot's device is cross-signed; return what was done (for the log)."""
        state = await self.query()
        server_master = only_key(state.get("master_keys", {}).get(self.user_id))
        server_ssk = only_key(state.get("self_signing_keys", {}).get(self.user_id))
        keys = load_keys(self.keys_file)
        done = []

        if reset or server_master is None:
            if keys is None or reset:
                keys = CrossSigningKeys.generate()
            save_keys(self.keys_file, keys)  # before upload: never have a server key we lost
            await self._upload_keys(keys)
            done.append("uploaded cross-signing keys")
            server_ssk = public_b64(keys.self_signing)
        elif keys is None:
            raise CrossSigningError(
                f"the homeserver has a cross-signing identity for the bot, but its private keys "
                f"are not in {self.keys_file}. Restore that file from a backup, or run "
                f"`lotse reset-cross-signing` to create a new identity (users' clients will then "
                f"warn that the bot's identity changed)."
            )
        elif public_b64(keys.master) != server_master:
            raise CrossSigningError(
                f"the bot's cross-signing master key on the homeserver differs from the one in "
                f"{self.keys_file}. Restore the matching file, or run `lotse reset-cross-signing` "
                f"to replace the identity (users' clients will warn about the change)."
            )
        elif public_b64(keys.self_signing) != server_ssk:
            await self._upload_keys(keys)
            done.append("re-uploaded self-signing key")
            server_ssk = public_b64(keys.self_signing)

        device = state.get("device_keys", {}).get(self.user_id, {}).get(self.device_id)
        if reset or server_master is None or done:
            device = (await self.query()).get("device_keys", {}).get(self.user_id, {}).get(self.device_id)
        if device is None:
            raise CrossSigningError("the bot's device keys are not on the homeserver yet")
        self._check_own_device(device)
        if not verify_json(device, self.user_id, public_b64(keys.self_signing)):
            await self._sign_device(keys, device)
            done.append(f"signed device {self.device_id}")
        return ", ".join(done) or "device already cross-signed"

    def _check_own_device(self, device: dict[str, Any]) -> None:
        """Refuse to vouch for device keys that are not this bot's own account's keys."""
        if self.identity_keys is None:
            raise CrossSigningError("the bot's own identity keys are unknown: refusing to sign a device")
        ed = self.identity_keys.get("ed25519")
        expected = {
            f"ed25519:{self.device_id}": ed,
            f"curve25519:{self.device_id}": self.identity_keys.get("curve25519"),
        }
        keys = device.get("keys") or {}
        if (
            device.get("user_id") != self.user_id
            or device.get("device_id") != self.device_id
            or any(keys.get(k) != v for k, v in expected.items())
            or not isinstance(ed, str)
            or not verify_json(device, self.user_id, ed, f"ed25519:{self.device_id}")
        ):
            raise CrossSigningError(
                f"the homeserver returned keys for device {self.device_id} that are not the bot's own "
                "(they do not match its encryption account, or are not signed by it). Refusing to "
                "sign them: this can mean the homeserver is compromised. Check the server, then "
                "start again; if the bot's data directory was replaced, restore it from a backup."
            )

    async def _upload_keys(self, keys: CrossSigningKeys) -> None:
        master = key_object(self.user_id, "master", keys.master)
        ssk = sign_json(
            key_object(self.user_id, "self_signing", keys.self_signing), self.user_id, keys.master
        )
        body: dict[str, Any] = {"master_key": master, "self_signing_key": ssk}
        path = "/_matrix/client/v3/keys/device_signing/upload"
        status, resp = await self.http.raw(
            "POST", path, body, what="cross-signing upload", ok_statuses=(200, 401)
        )
        if status == 401 and "flows" in resp:
            if self.password is None:
                raise CrossSigningError(
                    "the homeserver requires the bot's password to upload cross-signing keys; "
                    "configure bot.password or bot.password_file"
                )
            body["auth"] = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": self.user_id},
                "password": self.password,
                "session": resp.get("session"),
            }
            status, resp = await self.http.raw("POST", path, body, what="cross-signing upload")
        if status != 200:
            raise CrossSigningError(f"uploading cross-signing keys failed: {status} {resp.get('errcode')}")

    async def _sign_device(self, keys: CrossSigningKeys, device: dict[str, Any]) -> None:
        signed = sign_json(device, self.user_id, keys.self_signing)
        # Upload only our new signature, as the spec's example does.
        ssk_id = f"ed25519:{public_b64(keys.self_signing)}"
        upload = {k: v for k, v in signed.items() if k not in ("signatures", "unsigned")}
        upload["signatures"] = {self.user_id: {ssk_id: signed["signatures"][self.user_id][ssk_id]}}
        status, resp = await self.http.raw(
            "POST",
            "/_matrix/client/v3/keys/signatures/upload",
            {self.user_id: {self.device_id: upload}},
            what="signature upload",
        )
        failures = resp.get("failures") or {}
        if status != 200 or failures:
            raise CrossSigningError(f"signing the device failed: {status} {failures or resp.get('errcode')}")
