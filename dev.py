#!/usr/bin/env python3
"""The two commands a newcomer needs, working on a fresh machine with nothing but Python 3.11+.

    python3 dev.py run    set up, start a local Synapse and the bot, print how to log in
    python3 dev.py test   set up, run the whole test suite (what CI runs)
    python3 dev.py bench  set up, run the benchmarks at full size, write bench/RESULTS.md

Both create ``.venv`` on first use and reinstall only when pyproject.toml changed. ``test``
also installs the distribution's headless Chromium when it is missing and apt-get can (the
join page's test opens the page in it), and PostgreSQL's server when neither it nor the pgserver
wheel is there (the store's tests run against SQLite and PostgreSQL).
Arguments after the command go to ``lotse demo``, to pytest or to ``bench/run.py`` respectively.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def ensure_env() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Lotse needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PY.exists():
        print(f"Creating virtual environment in {VENV} …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".lotse-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print("Installing Lotse and its dependencies (first time: about a minute) …", flush=True)
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[test]"], check=True, cwd=ROOT)
    stamp.write_text(digest)


CHROMIUM = Path("/usr/bin/chromium")


def ensure_chromium() -> None:
    """The browser the join page's test uses: Debian's ``chromium`` package. Installed once, as
    root with apt-get; elsewhere the test says what is missing (and fails in CI)."""
    if CHROMIUM.exists() or shutil.which("chromium"):
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        print("(no chromium and no apt-get as root here: the join page's browser test will skip)", flush=True)
        return
    print("Installing chromium (headless browser for the join page's test) …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> bool:
        return subprocess.run([apt, *args], stdout=subprocess.DEVNULL, env=env).returncode == 0

    # The package lists may be missing or old on a fresh machine: update only if needed.
    if not apt_get("install", "-y", "-q", "chromium"):
        apt_get("update", "-q")
        if not apt_get("install", "-y", "-q", "chromium"):
            print("(installing chromium failed: the join page's browser test cannot run)", flush=True)


def ensure_postgresql() -> None:
    """The store's tests run against PostgreSQL too (a throwaway server the test session starts,
    see tests/postgres.py): the distribution's server, installed once as root with apt-get when
    neither it nor the pgserver wheel (a test dependency where it has wheels) is there."""
    if list(Path("/usr/lib/postgresql").glob("*/bin/postgres")) or shutil.which("postgres"):
        return
    probe = [
        str(PY),
        "-c",
        "import importlib.util, sys; sys.exit(importlib.util.find_spec('pgserver') is None)",
    ]
    if subprocess.run(probe).returncode == 0:
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        print(
            "(no PostgreSQL server here and no apt-get as root: the store's PostgreSQL tests fail)",
            flush=True,
        )
        return
    print("Installing PostgreSQL (the store's tests run against it too) …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> bool:
        return subprocess.run([apt, *args], stdout=subprocess.DEVNULL, env=env).returncode == 0

    if not apt_get("install", "-y", "-q", "postgresql"):
        apt_get("update", "-q")
        if not apt_get("install", "-y", "-q", "postgresql"):
            print("(installing postgresql failed: the store's PostgreSQL tests cannot run)", flush=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "bench"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_env()
    if command == "test":
        ensure_chromium()
        ensure_postgresql()
    if command == "run":
        args = [str(BIN / "lotse"), "demo", *rest]
    elif command == "bench":
        args = [str(PY), str(ROOT / "bench" / "run.py"), *rest]
    else:
        args = [str(PY), "-m", "pytest", *rest]
    os.chdir(ROOT)
    # Replace this process: Ctrl-C then reaches the bot directly and stops it cleanly.
    os.execv(args[0], args)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
