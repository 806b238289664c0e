"""Start and stop a private Synapse homeserver, and register accounts on it.

The server listens on 127.0.0.1 only, keeps everything in one folder (SQLite database, media,
signing key, logs). Accounts are created through the shared secret (the demo's people, the
tests' personas) or, as for a client a worker invites, with a single-use registration token
that the bot creates through the admin API: registration without a token is refused. Rate
limits are relaxed: it serves one person's demo or one test run, not the public.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_RELAXED = {"per_second": 1000, "burst_count": 1000}


def free_port(preferred: int | None = None) -> int:
    if preferred is not None and not port_taken(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        # As servers do (Synapse too): connections of an earlier run lingering in TIME_WAIT
        # do not make the port unusable.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:
    """In the child before exec: Linux sends SIGTERM when the process that started it dies.

    So a demo or test run killed outright (SIGKILL, a closed terminal) leaves no Synapse behind.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


def _secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def write_config(
    directory: Path, port: int, server_name: str = "localhost", extra: dict[str, Any] | None = None
) -> Path:
    """Write homeserver.yaml (as JSON, which is YAML) and its log config into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    log_config = directory / "log.config"
    log_config.write_text(
        json.dumps(
            {
                "version": 1,
                "formatters": {"f": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
                "handlers": {
                    "file": {
                        "class": "logging.FileHandler",
                        "formatter": "f",
                        "filename": str(directory / "homeserver.log"),
                    }
                },
                "root": {"level": "WARNING", "handlers": ["file"]},
                "disable_existing_loggers": False,
            }
        )
    )
    config: dict[str, Any] = {
        "server_name": server_name,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}},
        "media_store_path": str(directory / "media_store"),
        "signing_key_path": str(directory / "signing.key"),
        "log_config": str(log_config),
        "report_stats": False,
        # Registration only with a token (the bot's invitations); never open registration.
        "enable_registration": True,
        "registration_requires_token": True,
        "registration_shared_secret": _secret(directory / "registration_shared_secret"),
        "macaroon_secret_key": _secret(directory / "macaroon_secret_key"),
        "form_secret": _secret(directory / "form_secret"),
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        "rc_message": _RELAXED,
        "rc_login": {"address": _RELAXED, "account": _RELAXED, "failed_attempts": _RELAXED},
        "rc_registration": _RELAXED,
        "rc_joins": {"local": _RELAXED, "remote": _RELAXED},
        "rc_joins_per_room": _RELAXED,
        "rc_invites": {"per_room": _RELAXED, "per_user": _RELAXED, "per_issuer": _RELAXED},
        "rc_room_creation": _RELAXED,
        "rc_admin_redaction": _RELAXED,
        "rc_key_requests": _RELAXED,
        "rc_3pid_validation": _RELAXED,
        "rc_registration_token_validity": _RELAXED,
    }
    config.update(extra or {})
    path = directory / "homeserver.yaml"
    path.write_text(json.dumps(config, indent=2))
    return path


@dataclass
class Account:
    user_id: str
    password: str
    access_token: str | None = None
    device_id: str | None = None


class SynapseServer:
    def __init__(self, directory: Path, port: int, server_name: str = "localhost") -> None:
        # Absolute: Synapse runs with this folder as its working directory.
        self.directory = directory.resolve()
        self.port = port
        self.server_name = server_name
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        return self.directory / "synapse.pid"

    @property
    def shared_secret(self) -> str:
        return (self.directory / "registration_shared_secret").read_text().strip()

    def start(
        self, timeout: float = 60.0, extra: dict[str, Any] | None = None, config: Path | None = None
    ) -> None:
        """Start with the relaxed test config (plus ``extra``), or with a ready ``config`` file
        (e.g. the production template with SQLite substituted)."""
        config = config or write_config(self.directory, self.port, self.server_name, extra)
        log = (self.directory / "synapse.stdout").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter, our own config
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            start_new_session=True,  # Ctrl-C in the demo reaches us, and we stop Synapse cleanly
            preexec_fn=_die_with_parent,
        )
        # Synapse writes its own pid file only when it daemonizes; the demo needs one to find
        # a homeserver left behind by a run that was killed.
        self.pid_file.write_text(f"{self.process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Synapse exited with code {self.process.returncode}; "
                    f"see {self.directory / 'synapse.stdout'} and homeserver.log"
                )
            # Only trust /health while OUR process is alive: another server may own the port.
            if self._health():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Synapse did not become healthy within {timeout:.0f}s")

    def _health(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:  # noqa: S310
                return bool(resp.read() == b"OK")
        except (urllib.error.URLError, OSError):
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.pid_file.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    # -- accounts --------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)  # noqa: S310
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def register(
        self, localpart: str, password: str, *, admin: bool = False, user_type: str | None = None
    ) -> Account:
        """Create an account through the shared-secret admin API.

        Idempotent: an existing account is returned without a token (log in to get one).
        """
        path = "/_synapse/admin/v1/register"
        _, nonce_body = self._request("GET", path)
        nonce = nonce_body["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        parts = [nonce, localpart, password, "admin" if admin else "notadmin"]
        if user_type:
            parts.append(user_type)
        mac.update("\x00".join(parts).encode())
        body: dict[str, Any] = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if user_type:
            body["user_type"] = user_type
        status, resp = self._request("POST", path, body)
        user_id = f"@{localpart}:{self.server_name}"
        if status == 200:
            return Account(user_id, password, resp["access_token"], resp["device_id"])
        if resp.get("errcode") == "M_USER_IN_USE":
            return Account(user_id, password)
        raise RuntimeError(f"registering {localpart} failed: {status} {resp.get('errcode')}")

    def login(self, user_id: str, password: str) -> Account:
        status, resp = self._request(
            "POST",
            "/_matrix/client/v3/login",
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user_id},
                "password": password,
            },
        )
        if status != 200:
            raise RuntimeError(f"login failed: {status} {resp.get('errcode')}")
        return Account(user_id, password, resp["access_token"], resp["device_id"])

    def api(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        return self._request(method, path, body, token)
