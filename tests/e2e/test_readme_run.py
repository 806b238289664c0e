"""The README's run command, typed verbatim in a fresh copy of the repository, as a newcomer would.

The copy has no ``.lotse-demo/`` and is entered by a relative path, exactly as after a clone.
Only the virtual environment is shared (a link to the one running these tests, whose install
stamp matches, so ``dev.py`` does not reinstall; CI's fresh clone covers the install itself).

One test walks the whole life of the demo: first start → the homeserver answers → a demo worker
gets an answer to ``hilfe`` through ``lotse chat`` → a second start on the same folder is refused
→ the leadership report works from the command line and in the leadership room, with a chart
that is not empty → Ctrl-C (SIGINT to the process group) leaves no process → a second start,
piped through ``tee``, comes up on the same address and stops as cleanly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.devserver.tour import READY

REPO = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(".git", ".venv", ".lotse-demo", "__pycache__", ".*_cache", ".hypothesis")

pytestmark = pytest.mark.e2e


def readme_commands() -> dict[str, str]:
    """The two commands at the top of the README, as written there (comments removed)."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block, "the README must open with a sh block holding the two commands"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]
    found = {c.split()[2]: c for c in commands if c.startswith("python3 dev.py ")}
    assert set(found) == {"run", "test"}, commands
    return found


class Output:
    """A process's output, read line by line in a thread, so a test can wait for a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, check: Callable[[str], bool], timeout: float, since: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[since:]:
                if check(line):
                    return line
            if self.process.poll() is not None and not self._thread.is_alive():
                break
            time.sleep(0.1)
        raise AssertionError("waited in vain; output so far:\n" + "\n".join(self.lines[-60:]))

    def text(self) -> str:
        return "\n".join(self.lines)


def processes_under(folder: Path) -> list[tuple[int, str]]:
    """Every process whose command line or working directory is in ``folder`` (not this one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = str((entry / "cwd").readlink())
        except OSError:
            continue
        if str(folder) in cmdline or cwd.startswith(str(folder)):
            found.append((int(entry.name), cmdline.strip()))
    return found


def wait_until_gone(folder: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while processes_under(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_under(folder) == [], "left behind after Ctrl-C"


@pytest.fixture
def fresh_copy(tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "lotse"
    shutil.copytree(REPO, copy, ignore=IGNORED, symlinks=True)
    venv = Path(sys.prefix)
    if venv.resolve() == (REPO / ".venv").resolve():
        # The copy shares this venv: bring it up to date from the repository first, or the
        # copy's dev.py would reinstall Lotse into it from the copy (a temporary folder), and
        # .venv/bin/lotse would point there once the test is over.
        subprocess.run([sys.executable, "-c", "import dev; dev.ensure_env()"], cwd=REPO, check=True)
    (copy / ".venv").symlink_to(venv, target_is_directory=True)
    yield copy
    for pid, _ in processes_under(copy):  # only if the test failed half-way
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def start(command: str, cwd: Path) -> tuple[subprocess.Popen[str], Output]:
    """Run as typed; a pipeline goes through a shell (whose exit code then says little)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOTSE_", "VIRTUAL_ENV"))}
    piped = "|" in command
    process = subprocess.Popen(
        command if piped else shlex.split(command),
        shell=piped,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, like a job in a terminal
    )
    return process, Output(process)


def ctrl_c(process: subprocess.Popen[str]) -> int:
    """What the terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
    os.killpg(process.pid, signal.SIGINT)
    return process.wait(90)


def chat(copy: Path, name: str) -> tuple[subprocess.Popen[str], Output]:
    process = subprocess.Popen(
        [".venv/bin/lotse", "chat", name],  # the tour's command, from the copy
        cwd=copy,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, Output(process)


def say(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def test_readme_run_command_from_a_fresh_copy(fresh_copy: Path) -> None:
    run = readme_commands()["run"]
    assert run == "python3 dev.py run"

    demo, out = start(run, fresh_copy)
    out.wait_for(lambda line: READY in line, timeout=240)
    url = out.wait_for(lambda line: line.strip().startswith("Homeserver"), 5).split()[1]
    with urllib.request.urlopen(f"{url}/_matrix/client/versions", timeout=10) as resp:  # noqa: S310
        assert resp.status == 200 and "versions" in json.loads(resp.read())
    state = json.loads((fresh_copy / ".lotse-demo" / "demo.json").read_text())
    assert state["port"] == int(url.rsplit(":", 1)[1])
    synapse_pid = int((fresh_copy / ".lotse-demo" / "synapse" / "synapse.pid").read_text())

    # A demo worker asks for help, as the tour says, and gets the bot's answer.
    anna, anna_out = chat(fresh_copy, "anna")
    anna_out.wait_for(lambda line: "Type a message" in line, 60)
    mark = len(anna_out.lines)
    say(anna, "hilf")  # a typo first, as people type
    anna_out.wait_for(lambda line: "Meintest du hilfe?" in line, 60, mark)
    say(anna, "hilfe")
    anna_out.wait_for(lambda line: line.startswith("[Lotse] Lotse: Das kann ich für dich tun"), 60, mark)
    say(anna, "/rooms")
    anna_out.wait_for(lambda line: line.strip().endswith(". Team"), 10, mark)
    say(anna, "/quit")
    assert anna.wait(30) == 0

    # The same command again while the demo runs: refused, and the running demo is untouched.
    second, second_out = start(run, fresh_copy)
    assert second.wait(120) == 1
    assert "already running" in second_out.text()
    assert demo.poll() is None

    # The CLI finds the demo's config without flags, and the first report is worth looking at.
    report = subprocess.run(
        [".venv/bin/lotse", "report"], cwd=fresh_copy, capture_output=True, text=True, timeout=120
    )
    assert report.returncode == 0, report.stderr
    assert "Demo-Daten" in report.stdout
    rooms = re.search(r"Aktive Beratungsräume: (\d+)", report.stdout)
    assert rooms and int(rooms.group(1)) > 0, report.stdout
    admin, admin_out = chat(fresh_copy, "admin")
    admin_out.wait_for(lambda line: "Type a message" in line, 60)
    mark = len(admin_out.lines)
    say(admin, "/go Lotse Admin")
    say(admin, "!statistik")
    admin_out.wait_for(lambda line: line.startswith("[Leitung] Lotse: 📊"), 120, mark)
    admin_out.wait_for(lambda line: line.startswith("[Leitung] Lotse:") and ".png" in line, 60, mark)
    say(admin, "/quit")
    assert admin.wait(30) == 0

    # Ctrl-C: the bot and Synapse stop; nothing of the demo is left running.
    assert ctrl_c(demo) == 0
    assert "Stopped." in out.text()
    assert not Path(f"/proc/{synapse_pid}").exists()
    wait_until_gone(fresh_copy)

    # Again, piped through tee: the same address, and Ctrl-C still stops everything.
    again, again_out = start(f"{run} | tee demo.log", fresh_copy)
    again_out.wait_for(lambda line: READY in line, timeout=180)
    assert again_out.wait_for(lambda line: line.strip().startswith("Homeserver"), 5).split()[1] == url
    ctrl_c(again)
    wait_until_gone(fresh_copy)
    log = (fresh_copy / ".lotse-demo" / "synapse" / "homeserver.log").read_text()
    assert "Address already in use" not in log
