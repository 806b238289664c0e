"""Key files are private and durable; words echoed back cannot smuggle bidi tricks."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.commands.dispatch import echo
from bot.keyfiles import exposed_files, private_dir, write_private
from bot.pseudonym import load_or_create_key
from bot.sealing import load_or_create_seal_key


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_0600_in_0700_folders_and_never_overwritten(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    key = load_or_create_key(data / "keys" / "pseudonym.key")
    assert mode(data / "keys" / "pseudonym.key") == 0o600 and mode(data / "keys") == 0o700
    assert load_or_create_key(data / "keys" / "pseudonym.key") == key
    load_or_create_seal_key(data / "keys" / "seal.key")
    assert mode(data / "keys" / "seal.key") == 0o600
    with pytest.raises(FileExistsError):
        write_private(data / "keys" / "seal.key", b"x" * 32, exclusive=True)
    private_dir(data)
    assert mode(data) == 0o700  # tightened, whichever command created it
    assert not list((data / "keys").glob("*.tmp"))


@pytest.mark.parametrize(
    ("word", "shown"),
    [
        ("hilfe\u202e", "hilfe"),  # right-to-left override
        ("wid\u200berruf", "widerruf"),  # zero-width space
        ("a" * 100, "a" * 24 + "…"),
        ("lösch\x07en", "löschen"),
    ],
)
def test_an_unknown_word_is_echoed_clean_and_short(word: str, shown: str) -> None:
    assert echo(word) == shown


def _bot_run(config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "-c", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("leak", ["keys/pseudonym.key", "nio-store/bot.db", "lotse.db", "elsewhere.key"])
def test_the_bot_refuses_to_start_while_its_keys_or_store_are_readable_by_others(
    tmp_path: Path, leak: str
) -> None:
    data = tmp_path / "data"
    (data / "keys").mkdir(parents=True, mode=0o700)
    (data / "nio-store").mkdir(mode=0o700)
    data.chmod(0o700)
    outside = tmp_path / "elsewhere.key"
    for name in ("keys/pseudonym.key", "nio-store/bot.db", "lotse.db"):
        write_private(data / name, b"x")
    write_private(outside, b"y")
    target = outside if leak == "elsewhere.key" else data / leak
    target.chmod(0o644)
    config = tmp_path / "lotse.toml"
    config.write_text(
        f'data_dir = "{data}"\npseudonym_key_file = "{outside}"\n[homeserver]\nurl = "http://127.0.0.1:9"\n'
        '[bot]\nuser_id = "@lotse:localhost"\npassword = "x"\n'
    )
    done = _bot_run(config)
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Lotse stopped: readable by others: "), done.stderr
    assert f"{target} (0644)" in lines[0] and "chmod -R go-rwx" in lines[0]
    assert exposed_files(data, [outside]) == [(target, 0o644)]
    target.chmod(0o600)
    assert exposed_files(data, [outside]) == []
