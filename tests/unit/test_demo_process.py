"""The demo's process hygiene: one demo per folder, its port kept, no Synapse left behind."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.devserver.demo import DemoError, choose_port
from bot.devserver.lock import DemoLock, DemoRunning, stop_orphaned_synapse


def test_a_second_lock_on_the_same_folder_is_refused_and_names_the_holder(tmp_path: Path) -> None:
    first = DemoLock(tmp_path)
    first.acquire()
    with pytest.raises(DemoRunning) as refused:
        DemoLock(tmp_path).acquire()
    assert refused.value.pid is not None
    first.release()
    DemoLock(tmp_path).acquire()  # released: free again


def test_the_recorded_port_is_kept_and_a_taken_one_is_refused_with_advice() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(DemoError, match="--port"):
            choose_port(None, port)
        with pytest.raises(DemoError, match="--port"):
            choose_port(port, None)
    assert choose_port(None, port) == port  # free again: the same address as before


def test_a_synapse_left_by_a_killed_demo_is_stopped_and_nothing_else(tmp_path: Path) -> None:
    synapse_dir = tmp_path / "synapse"
    synapse_dir.mkdir()
    config = str(synapse_dir / "homeserver.yaml")
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-c", config])
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (synapse_dir / "synapse.pid").write_text(f"{stranger.pid}\n")
        assert stop_orphaned_synapse(synapse_dir) is None  # a recycled pid is left alone
        assert stranger.poll() is None
        (synapse_dir / "synapse.pid").write_text(f"{orphan.pid}\n")
        assert stop_orphaned_synapse(synapse_dir) == orphan.pid
        assert orphan.wait(10) is not None
        assert not (synapse_dir / "synapse.pid").exists()
    finally:
        for process in (orphan, stranger):
            process.kill()
            process.wait()
