"""Append message entries to a .po catalog (developer helper; translators use normal tools)."""

from __future__ import annotations

import sys
from pathlib import Path


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    lines = escaped.split("\n")
    if len(lines) == 1:
        return f'"{escaped}"'
    parts = [f'"{line}\\n"' for line in lines[:-1]] + ([f'"{lines[-1]}"'] if lines[-1] else [])
    return '""\n' + "\n".join(parts)


def append(path: Path, entries: dict[str, str]) -> None:
    existing = path.read_text(encoding="utf-8")
    out = []
    for key, text in entries.items():
        if f'msgid "{key}"\n' in existing:
            raise SystemExit(f"{path}: {key} exists already")
        flag = "#, python-brace-format\n" if "{" in text else ""
        out.append(f'\n{flag}msgid "{key}"\nmsgstr {_quote(text)}\n')
    path.write_text(existing.rstrip("\n") + "\n" + "".join(out), encoding="utf-8")


if __name__ == "__main__":
    sys.exit("import this module")
