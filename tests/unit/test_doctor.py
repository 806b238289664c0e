"""lotse doctor's offline parts and the power-level rules it and lotse setup apply."""

from __future__ import annotations

import email.utils
from pathlib import Path

from bot.config import Settings
from bot.doctor import Finding, check_clock, check_store, render
from bot.i18n import Catalog
from bot.powerlevels import CREATOR, power_of

BOT = "@lotse:example.org"


def create(sender: str, version: str = "12") -> dict[str, object]:
    return {"type": "m.room.create", "state_key": "", "sender": sender, "content": {"room_version": version}}


def levels(**content: object) -> dict[str, object]:
    return {"type": "m.room.power_levels", "state_key": "", "content": content}


def test_a_version_12_creator_has_all_power() -> None:
    power = power_of(BOT, [create(BOT), levels(users={}, state_default=100)])
    assert power.creator and power.has == CREATOR and power.enough


def test_power_needed_for_retention_state_and_redaction() -> None:
    state = [create("@admin:example.org"), levels(users={BOT: 50}, state_default=50, redact=50)]
    assert power_of(BOT, state).enough
    strict = [create("@admin:example.org"), levels(users={BOT: 50}, events={"m.room.retention": 100})]
    power = power_of(BOT, strict)
    assert (power.has, power.needs, power.enough) == (50, 100, False)
    # Before version 12 a creator has only the listed level.
    old = [create(BOT, "10"), levels(users={}, users_default=0)]
    assert power_of(BOT, old).has == 0 and not power_of(BOT, old).enough


def settings(tmp_path: Path) -> Settings:
    return Settings(
        homeserver={"url": "https://matrix.example.org"},
        bot={"user_id": BOT, "password": "x"},
        data_dir=tmp_path / "data",
    )


def test_clock_skew_is_a_problem_where_sweeps_stop(tmp_path: Path) -> None:
    s = settings(tmp_path)
    now = 2_000_000_000.0
    header = email.utils.formatdate(now, usegmt=True)
    assert check_clock(header, now + 5, s).level == "ok"
    assert check_clock(header, now + 120, s) == Finding(
        "warn", "doctor.clock.ahead", {"skew": "120", "limit": "10"}
    )
    assert check_clock(header, now + 11 * 60, s).level == "fail"
    assert check_clock(header, now - 300, s).key == "doctor.clock.behind"
    assert check_clock(None, now, s).key == "doctor.clock.unknown"


def test_store_findings_and_rendering_in_both_languages(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert check_store(s, 5)[0].key == "doctor.store.missing"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "lotse.db").write_bytes(b"not a database at all, just some bytes" * 200)
    assert check_store(s, 5)[-1].key == "doctor.store.damaged"
    catalog = Catalog("de")
    findings = [Finding("ok", "doctor.admin.ok"), Finding("fail", "doctor.backup.never")]
    de = render(findings, catalog, "de", s)
    en = render(findings, catalog, "en", s)
    assert "PROBLEM  Es gibt noch keine Sicherung" in de and "1 Problem(e), 0 Warnung(en)" in de
    assert "OK       The bot is a server admin" in en and "1 problem(s)" in en
    for key in catalog.keys("de") | catalog.keys("en"):
        if key.startswith("doctor."):
            assert key in catalog.keys("de") and key in catalog.keys("en"), key
