"""deploy/homeserver.yaml started as a real Synapse (SQLite in place of PostgreSQL), and what
its hardening means for clients and for the bot."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from bot.devserver.synapse import SynapseServer, free_port
from bot.ids import UserID
from bot.matrix.client import MatrixGateway
from tests.deploy_files import TEMPLATE, synapse_init

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    directory = tmp_path_factory.mktemp("hardened")
    port = free_port()
    env = {
        "SERVER_NAME": "localhost",
        "PUBLIC_BASEURL": f"http://127.0.0.1:{port}/",
        "ADMIN_CONTACT": "mailto:it@example.org",
    }
    init = synapse_init()
    rendered = directory / "rendered.yaml"
    init.prepare(TEMPLATE, rendered, directory, env)
    config = yaml.safe_load(rendered.read_text())
    # Only what cannot work on a test machine is substituted: the database, paths, the port.
    config["database"] = {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}}
    config["listeners"][0]["port"] = port
    config["listeners"][0]["bind_addresses"] = ["127.0.0.1"]
    for key in ("pid_file", "log_config", "media_store_path", "signing_key_path"):
        config[key] = str(directory / Path(config[key]).name)
    for key in ("registration_shared_secret_path", "macaroon_secret_key_path", "form_secret_path"):
        config[key] = str(directory / Path(config[key]).name)
    path = directory / "homeserver.yaml"
    path.write_text(json.dumps(config))
    server = SynapseServer(directory, port)
    server.start(config=path)
    yield server
    server.stop()


def test_registration_needs_a_token_and_federation_is_off(hardened: SynapseServer) -> None:
    status, body = hardened.api(
        "POST", "/_matrix/client/v3/register", {"username": "x", "password": "y" * 12}
    )
    assert status == 401
    assert all("m.login.registration_token" in flow["stages"] for flow in body["flows"])
    for path in ("/_matrix/federation/v1/version", "/_matrix/key/v2/server"):
        status, _ = hardened.api("GET", path)
        assert status == 404, path


def test_private_rooms_are_encrypted_and_strangers_stay_invisible(hardened: SynapseServer) -> None:
    tag = uuid.uuid4().hex[:6]
    anna = hardened.register(f"anna-{tag}", "pw-anna-long-enough")
    kim = hardened.register(f"kim-{tag}", "pw-kim-long-enough")
    assert anna.access_token is not None
    status, room = hardened.api(
        "POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"}, anna.access_token
    )
    assert status == 200
    status, _ = hardened.api(
        "GET",
        f"/_matrix/client/v3/rooms/{quote(room['room_id'])}/state/m.room.encryption/",
        None,
        anna.access_token,
    )
    assert status == 200, "a private room is encrypted from the start"
    # No shared room: no profile, no directory entry, no link preview.
    status, _ = hardened.api(
        "GET", f"/_matrix/client/v3/profile/{quote(kim.user_id)}", None, anna.access_token
    )
    assert status == 403
    status, found = hardened.api(
        "POST", "/_matrix/client/v3/user_directory/search", {"search_term": f"kim-{tag}"}, anna.access_token
    )
    assert status == 200 and found["results"] == []
    status, _ = hardened.api(
        "GET", "/_matrix/client/v1/media/preview_url?url=https%3A%2F%2Fexample.org", None, anna.access_token
    )
    assert status != 200


async def test_the_bot_finds_a_new_client_and_setup_works_there(
    hardened: SynapseServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    bot = hardened.register(f"lotse-{tag}", "pw-bot-long-enough", admin=True, user_type="bot")
    stranger = hardened.register(f"client-{tag}", "pw-client-long-enough")
    gateway = MatrixGateway(
        hardened.url,
        UserID(bot.user_id),
        tmp_path / "bot",
        password=bot.password,
        access_token=None,
        device_name="Lotse",
    )
    try:
        await gateway.connect()
        # Profiles are limited to shared rooms: the admin API still knows the account.
        assert await gateway.user_exists(UserID(stranger.user_id))
        assert not await gateway.user_exists(UserID(f"@nobody-{tag}:localhost"))
    finally:
        await gateway.close()

    config = tmp_path / "lotse.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "setup-data"}"\n[homeserver]\nurl = "{hardened.url}"\n'
        f'[bot]\nuser_id = "{bot.user_id}"\npassword = "{bot.password}"\n'
        f'[rooms]\nteam = "#team-{tag}:localhost"\nadmin = "#admin-{tag}:localhost"\n'
        f'leadership = "#lead-{tag}:localhost"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    made = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "-c", str(config), "setup"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.count("CREATED") == 3
