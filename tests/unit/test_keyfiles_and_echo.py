"""Key files are private and durable; words echoed back cannot smuggle bidi tricks."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.commands.dispatch import echo
from bot.keyfiles import private_dir, write_private
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
