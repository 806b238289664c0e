#!/usr/bin/env python3
"""Prepare Synapse's data folder from deploy/homeserver.yaml (Python standard library only).

- fills in the template's ``${NAME}`` placeholders from the environment (a missing or empty
  variable stops it, naming every one that is missing: no half-filled config);
- creates the secret files the config points to (0600) if they do not exist yet;
- writes the log config next to them.

Runs in the compose file's ``synapse-init`` service (with Synapse's own Python) before every
start, and on bare metal by hand. Run it again after changing the template or the variables.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
SECRETS = ("registration_shared_secret", "macaroon_secret_key", "form_secret")
LOG_CONFIG = """version: 1
formatters:
  precise:
    format: "%(asctime)s %(levelname)s %(name)s %(message)s"
handlers:
  console:
    class: logging.StreamHandler
    formatter: precise
root:
  level: WARNING
  handlers: [console]
disable_existing_loggers: false
"""


class MissingVariables(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def placeholders(template: str) -> list[str]:
    """Every variable the template needs (comments left out: they only explain)."""
    code = [line for line in template.splitlines() if not line.lstrip().startswith("#")]
    return sorted(set(PLACEHOLDER.findall("\n".join(code))))


def render(template: str, env: Mapping[str, str]) -> str:
    lines = []
    missing: set[str] = set()
    for line in template.splitlines(keepends=True):
        if line.lstrip().startswith("#"):
            lines.append(line)  # comments keep their ${NAME}: they explain, not configure
            continue

        def fill(m: re.Match[str]) -> str:
            value = env.get(m.group(1), "")
            if not value:
                missing.add(m.group(1))
            if '"' in value or "\\" in value or "\n" in value:
                raise ValueError(f"{m.group(1)} must not contain quotes, backslashes or line breaks")
            return value

        lines.append(PLACEHOLDER.sub(fill, line))
    if missing:
        raise MissingVariables(sorted(missing))
    return "".join(lines)


def ensure_secrets(data: Path) -> list[Path]:
    """The secret files (0600); existing ones are kept. Returns those created."""
    made = []
    for name in SECRETS:
        path = data / name
        if path.exists():
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
        made.append(path)
    return made


def prepare(
    template: Path, out: Path, data: Path, env: Mapping[str, str], owner: tuple[int, int] | None = None
) -> str:
    text = render(template.read_text(encoding="utf-8"), env)
    data.mkdir(parents=True, exist_ok=True)
    ensure_secrets(data)
    (data / "log.config").write_text(LOG_CONFIG, encoding="utf-8")
    out.write_text(text, encoding="utf-8")
    if owner is not None:  # run as root in the container: hand everything to Synapse's user
        for path in (data, out, data / "log.config", *(data / n for n in SECRETS)):
            os.chown(path, *owner)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=Path("/deploy/homeserver.yaml"))
    parser.add_argument("--out", type=Path, default=Path("/data/homeserver.yaml"))
    parser.add_argument("--data", type=Path, default=Path("/data"))
    parser.add_argument("--owner", default=None, help="UID:GID to own the files (Synapse's user: 991:991)")
    args = parser.parse_args(argv)
    owner = tuple(int(x) for x in args.owner.split(":")) if args.owner else None
    try:
        prepare(args.template, args.out, args.data, os.environ, owner)  # type: ignore[arg-type]
    except MissingVariables as exc:
        print(f"synapse_init: set these variables (see .env.example): {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"synapse_init: {exc}", file=sys.stderr)
        return 2
    print(f"synapse_init: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
