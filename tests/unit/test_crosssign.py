"""bot/matrix/crosssign.py against a fake homeserver, verified independently of the module."""

from __future__ import annotations

import base64
import copy
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from canonicaljson import encode_canonical_json
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.matrix.crosssign import CrossSigner, CrossSigningError, CrossSigningKeys, save_keys

USER = "@lotse:example.org"
DEVICE = "LOTSEDEV"
PASSWORD = "bot-password"

QUERY = "/_matrix/client/v3/keys/query"
UPLOAD_KEYS = "/_matrix/client/v3/keys/device_signing/upload"
UPLOAD_SIGS = "/_matrix/client/v3/keys/signatures/upload"


# --- independent crypto helpers ------------------------------------------------------------


def unpadded_b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def pub_of(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode().rstrip("=")


def check_signature(obj: dict[str, Any], user: str, public_b64: str) -> None:
    """Raise unless ``obj`` carries a valid Ed25519 signature by ``public_b64`` (Matrix rules)."""
    sig = obj["signatures"][user][f"ed25519:{public_b64}"]
    payload = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    Ed25519PublicKey.from_public_bytes(unpadded_b64decode(public_b64)).verify(
        unpadded_b64decode(sig), encode_canonical_json(payload)
    )


def the_key(key_obj: dict[str, Any]) -> str:
    (key_id, pub) = next(iter(key_obj["keys"].items()))
    assert len(key_obj["keys"]) == 1
    assert key_id == f"ed25519:{pub}"
    return str(pub)


# --- the bot's own device: its olm account's keys, self-signed ------------------------------

DEVICE_KEY = Ed25519PrivateKey.generate()
CURVE = "ZGV2aWNlLWN1cnZlMjU1MTkta2V5LWZha2UtdGVzdHM"
IDENTITY = {"ed25519": pub_of(DEVICE_KEY), "curve25519": CURVE}


def own_device(ed_key: Ed25519PrivateKey = DEVICE_KEY) -> dict[str, Any]:
    device: dict[str, Any] = {
        "user_id": USER,
        "device_id": DEVICE,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"ed25519:{DEVICE}": pub_of(ed_key), f"curve25519:{DEVICE}": CURVE},
    }
    sig = ed_key.sign(encode_canonical_json(device))
    device["signatures"] = {USER: {f"ed25519:{DEVICE}": base64.b64encode(sig).decode().rstrip("=")}}
    return device


# --- the fake homeserver -------------------------------------------------------------------


class FakeHomeserver:
    """Just enough of /keys/query, /keys/device_signing/upload and /keys/signatures/upload."""

    def __init__(
        self, *, require_uia: bool = False, password: str = PASSWORD, with_device: bool = True
    ) -> None:
        self.require_uia = require_uia
        self.password = password
        self.master: dict[str, Any] | None = None
        self.self_signing: dict[str, Any] | None = None
        self.device: dict[str, Any] | None = None
        if with_device:
            self.device = own_device()
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []
        self.auth_seen: list[dict[str, Any]] = []

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.calls]

    async def raw(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        what: str | None = None,
        ok_statuses: tuple[int, ...] = (200,),
    ) -> tuple[int, dict[str, Any]]:
        body = copy.deepcopy(body)
        self.calls.append((method, path, body))
        assert method == "POST"
        assert body is not None
        if path == QUERY:
            return self._query(body)
        if path == UPLOAD_KEYS:
            return self._upload_keys(body)
        if path == UPLOAD_SIGS:
            return self._upload_signatures(body)
        return 404, {"errcode": "M_UNRECOGNIZED"}

    def _query(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert body == {"device_keys": {USER: []}}
        resp: dict[str, Any] = {"device_keys": {USER: {}}, "failures": {}}
        if self.device is not None:
            device = copy.deepcopy(self.device)
            device["unsigned"] = {"device_display_name": "Lotse"}  # not covered by signatures
            resp["device_keys"][USER][DEVICE] = device
        if self.master is not None:
            resp["master_keys"] = {USER: copy.deepcopy(self.master)}
        if self.self_signing is not None:
            resp["self_signing_keys"] = {USER: copy.deepcopy(self.self_signing)}
        return 200, resp

    def _upload_keys(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        flows = {"flows": [{"stages": ["m.login.password"]}], "params": {}, "session": "s"}
        if self.require_uia:
            auth = body.pop("auth", None)
            if auth is None:
                return 401, flows
            self.auth_seen.append(auth)
            ok = (
                auth.get("type") == "m.login.password"
                and auth.get("session") == "s"
                and auth.get("password") == self.password
                and auth.get("identifier") == {"type": "m.id.user", "user": USER}
            )
            if not ok:
                return 401, {**flows, "errcode": "M_FORBIDDEN", "error": "Invalid password"}
        assert set(body) == {"master_key", "self_signing_key"}
        self.master = body["master_key"]
        self.self_signing = body["self_signing_key"]
        return 200, {}

    def _upload_signatures(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert self.device is not None
        assert list(body) == [USER]
        assert list(body[USER]) == [DEVICE]
        signed = body[USER][DEVICE]
        # A real server insists that the signed object is the device's keys object.
        stripped_upload = {k: v for k, v in signed.items() if k != "signatures"}
        stripped_device = {k: v for k, v in self.device.items() if k != "signatures"}
        if stripped_upload != stripped_device:
            return 200, {"failures": {USER: {DEVICE: {"errcode": "M_INVALID_SIGNATURE"}}}}
        for user, sigs in signed["signatures"].items():
            self.device["signatures"].setdefault(user, {}).update(sigs)
        return 200, {"failures": {}}


def signer(server: FakeHomeserver, keys_file: Path, password: str | None = None) -> CrossSigner:
    return CrossSigner(server, USER, DEVICE, keys_file, password, IDENTITY)


def local_keys(path: Path) -> CrossSigningKeys:
    data = json.loads(path.read_text(encoding="utf-8"))
    return CrossSigningKeys(
        Ed25519PrivateKey.from_private_bytes(unpadded_b64decode(data["master"])),
        Ed25519PrivateKey.from_private_bytes(unpadded_b64decode(data["self_signing"])),
    )


def assert_cross_signed(server: FakeHomeserver, keys_file: Path) -> None:
    """The chain master → self-signing → device holds, checked without the module's code."""
    assert server.master is not None
    assert server.self_signing is not None
    assert server.device is not None
    master_pub = the_key(server.master)
    ssk_pub = the_key(server.self_signing)
    assert server.master["user_id"] == USER
    assert server.master["usage"] == ["master"]
    assert server.self_signing["user_id"] == USER
    assert server.self_signing["usage"] == ["self_signing"]
    check_signature(server.self_signing, USER, master_pub)
    check_signature(server.device, USER, ssk_pub)
    # The private halves on disk belong to the public keys on the server.
    keys = local_keys(keys_file)
    assert pub_of(keys.master) == master_pub
    assert pub_of(keys.self_signing) == ssk_pub


# --- tests ---------------------------------------------------------------------------------


async def test_first_run_uploads_and_signs(tmp_path: Path) -> None:
    server = FakeHomeserver()
    keys_file = tmp_path / "keys" / "cross_signing.json"
    result = await signer(server, keys_file).ensure()
    assert result == f"uploaded cross-signing keys, signed device {DEVICE}"
    assert UPLOAD_KEYS in server.paths()
    assert UPLOAD_SIGS in server.paths()
    assert_cross_signed(server, keys_file)
    assert server.device is not None
    # The device's own signature is kept next to the new one.
    assert f"ed25519:{DEVICE}" in server.device["signatures"][USER]
    # Only the new signature was uploaded.
    uploaded = next(b for _, p, b in server.calls if p == UPLOAD_SIGS)
    assert uploaded is not None
    assert list(uploaded[USER][DEVICE]["signatures"][USER]) == [
        f"ed25519:{the_key(server.self_signing or {})}"
    ]
    assert "unsigned" not in uploaded[USER][DEVICE]


async def test_independent_check_detects_tampering(tmp_path: Path) -> None:
    # Guard for the checker above: a changed device object must fail verification.
    server = FakeHomeserver()
    keys_file = tmp_path / "cs.json"
    await signer(server, keys_file).ensure()
    assert server.device is not None
    server.device["keys"][f"curve25519:{DEVICE}"] = "c3dhcHBlZC1rZXk"
    with pytest.raises(InvalidSignature):
        assert_cross_signed(server, keys_file)


async def test_keys_file_mode_0600(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys" / "cross_signing.json"
    await signer(FakeHomeserver(), keys_file).ensure()
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert not keys_file.with_suffix(".tmp").exists()


async def test_second_run_is_a_no_op(tmp_path: Path) -> None:
    server = FakeHomeserver()
    keys_file = tmp_path / "cs.json"
    await signer(server, keys_file).ensure()
    before = keys_file.read_text(encoding="utf-8")
    master_before = copy.deepcopy(server.master)
    server.calls.clear()

    result = await signer(server, keys_file).ensure()
    assert result == "device already cross-signed"
    assert server.paths() == [QUERY]
    assert keys_file.read_text(encoding="utf-8") == before
    assert server.master == master_before
    assert_cross_signed(server, keys_file)


async def test_local_keys_reused_when_server_has_none(tmp_path: Path) -> None:
    keys_file = tmp_path / "cs.json"
    keys = CrossSigningKeys.generate()
    save_keys(keys_file, keys)
    server = FakeHomeserver()
    await signer(server, keys_file).ensure()
    assert server.master is not None
    assert the_key(server.master) == pub_of(keys.master)
    assert_cross_signed(server, keys_file)


async def test_server_identity_but_local_file_missing(tmp_path: Path) -> None:
    server = FakeHomeserver()
    await signer(server, tmp_path / "cs.json").ensure()
    master_before = copy.deepcopy(server.master)
    server.calls.clear()
    lost = tmp_path / "lost" / "cs.json"
    with pytest.raises(CrossSigningError, match="`lotse reset-cross-signing`") as info:
        await signer(server, lost).ensure()
    assert str(lost) in str(info.value)
    assert server.paths() == [QUERY]
    assert server.master == master_before
    assert not lost.exists()


async def test_mismatching_master_key(tmp_path: Path) -> None:
    server = FakeHomeserver()
    await signer(server, tmp_path / "cs.json").ensure()
    master_before = copy.deepcopy(server.master)
    server.calls.clear()
    other = tmp_path / "other.json"
    save_keys(other, CrossSigningKeys.generate())
    with pytest.raises(CrossSigningError, match="differs") as info:
        await signer(server, other).ensure()
    assert "lotse reset-cross-signing" in str(info.value)
    assert server.paths() == [QUERY]
    assert server.master == master_before


async def test_reset_replaces_identity(tmp_path: Path) -> None:
    server = FakeHomeserver()
    keys_file = tmp_path / "cs.json"
    await signer(server, keys_file).ensure()
    assert server.master is not None
    old_master = the_key(server.master)
    old_file = keys_file.read_text(encoding="utf-8")

    result = await signer(server, keys_file).ensure(reset=True)
    assert "uploaded cross-signing keys" in result
    assert f"signed device {DEVICE}" in result
    assert the_key(server.master) != old_master
    assert keys_file.read_text(encoding="utf-8") != old_file
    assert_cross_signed(server, keys_file)
    # And the new identity is stable.
    assert await signer(server, keys_file).ensure() == "device already cross-signed"


async def test_replaced_self_signing_key_is_reuploaded(tmp_path: Path) -> None:
    server = FakeHomeserver()
    keys_file = tmp_path / "cs.json"
    await signer(server, keys_file).ensure()
    # Someone else replaced the self-signing key (same master).
    intruder = Ed25519PrivateKey.generate()
    assert server.self_signing is not None
    server.self_signing = {
        "user_id": USER,
        "usage": ["self_signing"],
        "keys": {f"ed25519:{pub_of(intruder)}": pub_of(intruder)},
    }
    result = await signer(server, keys_file).ensure()
    assert result.startswith("re-uploaded self-signing key")
    assert_cross_signed(server, keys_file)


async def test_uia_without_password(tmp_path: Path) -> None:
    server = FakeHomeserver(require_uia=True)
    keys_file = tmp_path / "cs.json"
    with pytest.raises(CrossSigningError, match="password"):
        await signer(server, keys_file, password=None).ensure()
    assert server.master is None
    assert UPLOAD_SIGS not in server.paths()
    # The keys were saved before the upload, and a later run with the password uses them.
    saved = local_keys(keys_file)
    await signer(server, keys_file, password=PASSWORD).ensure()
    assert server.master is not None
    assert the_key(server.master) == pub_of(saved.master)


async def test_uia_with_password(tmp_path: Path) -> None:
    server = FakeHomeserver(require_uia=True)
    keys_file = tmp_path / "cs.json"
    result = await signer(server, keys_file, password=PASSWORD).ensure()
    assert "uploaded cross-signing keys" in result
    assert server.auth_seen == [
        {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": USER},
            "password": PASSWORD,
            "session": "s",
        }
    ]
    assert server.paths().count(UPLOAD_KEYS) == 2
    assert_cross_signed(server, keys_file)


async def test_uia_wrong_password(tmp_path: Path) -> None:
    server = FakeHomeserver(require_uia=True)
    with pytest.raises(CrossSigningError, match="401 M_FORBIDDEN"):
        await signer(server, tmp_path / "cs.json", password="wrong").ensure()
    assert server.master is None


async def test_device_keys_not_on_server(tmp_path: Path) -> None:
    server = FakeHomeserver(with_device=False)
    with pytest.raises(CrossSigningError, match="device keys are not on the homeserver"):
        await signer(server, tmp_path / "cs.json").ensure()


async def test_signature_upload_failure(tmp_path: Path) -> None:
    server = FakeHomeserver()

    server._upload_signatures = lambda body: (  # type: ignore[method-assign]
        200,
        {"failures": {USER: {DEVICE: {"errcode": "M_INVALID_SIGNATURE"}}}},
    )
    with pytest.raises(CrossSigningError, match="signing the device failed"):
        await signer(server, tmp_path / "cs.json").ensure()


async def test_query_failure(tmp_path: Path) -> None:
    server = FakeHomeserver()
    server._query = lambda body: (403, {"errcode": "M_FORBIDDEN"})  # type: ignore[method-assign]
    with pytest.raises(CrossSigningError, match="403 M_FORBIDDEN"):
        await signer(server, tmp_path / "cs.json").ensure()


def test_keys_file_private_even_with_leftover_tmp(tmp_path: Path) -> None:
    keys_file = tmp_path / "cs.json"
    leftover = keys_file.with_suffix(".tmp")
    leftover.write_text("junk", encoding="utf-8")
    leftover.chmod(0o644)
    save_keys(keys_file, CrossSigningKeys.generate())
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600


async def test_a_device_that_is_not_the_bots_own_is_never_signed(tmp_path: Path) -> None:
    """A compromised homeserver answers /keys/query with a device of its own under the bot's
    device ID: properly self-signed, but not the bot's olm account. Nothing gets signed."""
    server = FakeHomeserver()
    server.device = own_device(Ed25519PrivateKey.generate())
    with pytest.raises(CrossSigningError, match="not the bot's own"):
        await signer(server, tmp_path / "cs.json").ensure()
    assert UPLOAD_SIGS not in server.paths()


async def test_the_bots_keys_with_a_forged_self_signature_are_never_signed(tmp_path: Path) -> None:
    server = FakeHomeserver()
    assert server.device is not None
    server.device["signatures"][USER][f"ed25519:{DEVICE}"] = "Zm9yZ2VkLXNpZ25hdHVyZQ"
    with pytest.raises(CrossSigningError, match="not the bot's own"):
        await signer(server, tmp_path / "cs.json").ensure()
    assert UPLOAD_SIGS not in server.paths()


async def test_without_its_own_keys_the_bot_signs_nothing(tmp_path: Path) -> None:
    server = FakeHomeserver()
    with pytest.raises(CrossSigningError, match="identity keys are unknown"):
        await CrossSigner(server, USER, DEVICE, tmp_path / "cs.json", None, None).ensure()
    assert UPLOAD_SIGS not in server.paths()
