"""docs/security.md names the test behind each guarantee: every named test must exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_test_named_in_the_security_page_exists() -> None:
    text = (REPO / "docs" / "security.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)((?:::\w+)?)`|`::(\w+)`", text)
    assert len(named) > 20
    current: Path | None = None
    for path, test, bare in named:
        if path:
            current = REPO / path
            assert current.is_file(), path
        name = (test or "").removeprefix("::") or bare
        if name:
            assert current is not None
            source = current.read_text(encoding="utf-8")
            assert re.search(rf"def {name}\(", source), f"{current.name}::{name}"
