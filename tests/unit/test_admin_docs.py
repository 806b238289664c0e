"""docs/admin.md stays true: both languages, and every command, setting and file it names exists."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bot.cli import build_parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "admin.md").read_text(encoding="utf-8")


def test_german_and_english_cover_the_same_sections() -> None:
    german, english = DOC.split("\n## English\n")
    assert "\n## Deutsch\n" in german
    assert german.count("\n### ") == english.count("\n### ") == 8
    assert german.count("\n#### ") == english.count("\n#### ")


def test_every_lotse_command_it_names_exists() -> None:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    # "docker compose exec lotse lotse …" and "lotse-backup.timer" name the container and a unit.
    named = {n for n in re.findall(r"\blotse ([a-z][a-z-]+)", DOC) if not n.startswith("lotse")}
    unknown = {n for n in named if n not in action.choices}
    assert not unknown, unknown


def test_every_setting_it_names_exists() -> None:
    for section, key in set(re.findall(r"\[([a-z_]+)\] ([a-z_]+)", DOC)):
        model = Settings.model_fields[section].annotation
        fields = getattr(model, "model_fields", None) or {}
        if not fields:  # Optional[...] sections
            args = getattr(model, "__args__", ())
            fields = next((a.model_fields for a in args if hasattr(a, "model_fields")), {})
        assert key in fields, f"[{section}] {key}"


def test_every_deploy_file_it_names_exists() -> None:
    for name in set(re.findall(r"deploy/([\w.-]+)", DOC)):
        assert (ROOT / "deploy" / name).exists(), name
    for name in set(re.findall(r"policies/([\w.-]+\.toml)", DOC)):
        assert (ROOT / "policies" / name).exists(), name
