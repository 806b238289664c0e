"""``lotse doctor``: is this installation in order? What to fix, in plain words.

Each check gives a finding: OK, a warning (works, but should be looked at) or a problem (fix
it: something Lotse promises does not work). The command prints them in the operator's
language (``--language`` or ``default_language``) and exits 1 when there is a problem.

Checks: the homeserver answers; the bot can log in; it is a server admin and exempt from rate
limits; its device is cross-signed by its own identity (and that identity's keys are in the
data directory); it is a member with the power it needs in every managed room (team, admin,
leadership, every counselling room); the consent texts, rules and retention policies are
valid; the database is sound and its schema one this Lotse can run; the data directory is
writable with room to spare; the last backup is recent; this machine's clock agrees with the
homeserver's. It reads the database read-only and never opens the bot's encryption store, so
it may run beside the bot.
"""

from __future__ import annotations

import email.utils
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from bot.config import Settings
from bot.i18n import Catalog
from bot.opsclient import OpsClient, OpsError
from bot.powerlevels import power_of

Level = Literal["ok", "warn", "fail"]
GIB = 1024**3
CLOCK_WARN_S = 60


@dataclass(frozen=True)
class Finding:
    level: Level
    key: str
    values: dict[str, str] = field(default_factory=dict)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


# -- offline checks --------------------------------------------------------------------------


def check_texts(settings: Settings) -> list[Finding]:
    from bot.cli import _check_texts
    from bot.retention.policy import PolicyError, load_policies

    problems = _check_texts(settings)
    if problems:
        return [Finding("fail", "doctor.policies.fail", {"problem": p}) for p in problems]
    try:
        n = len(load_policies(settings.policies_dir).policies)
    except PolicyError:  # pragma: no cover - reported above
        n = 0
    return [Finding("ok", "doctor.policies.ok", {"n": str(n)})]


def check_store(settings: Settings, latest: int) -> list[Finding]:
    from bot.store import inspect

    data_dir = settings.data_dir
    store_url = getattr(getattr(settings, "store", None), "url", None)
    if store_url:  # [store] url: PostgreSQL, checked by connecting at the bot's start
        from bot.backup import without_password

        return [Finding("ok", "doctor.store.postgres", {"url": without_password(store_url)})]
    db = data_dir / "lotse.db"
    if not db.is_file():
        return [Finding("warn", "doctor.store.missing", {"data_dir": str(data_dir)})]
    out: list[Finding] = []
    if not os.access(data_dir, os.W_OK) or not os.access(db, os.W_OK):
        out.append(Finding("fail", "doctor.store.readonly", {"data_dir": str(data_dir)}))
    try:
        result = inspect.quick_check(db)
        schema = inspect.schema_version(db)
    except Exception as exc:  # sqlite3.DatabaseError and friends: a damaged or foreign file
        return [*out, Finding("fail", "doctor.store.damaged", {"file": str(db), "detail": str(exc)})]
    if result != "ok":
        return [*out, Finding("fail", "doctor.store.damaged", {"file": str(db), "detail": result})]
    if schema > latest:
        out.append(Finding("fail", "doctor.store.newer", {"schema": str(schema), "latest": str(latest)}))
    elif schema < latest:
        out.append(Finding("ok", "doctor.store.pending", {"schema": str(schema), "n": str(latest - schema)}))
    else:
        out.append(
            Finding("ok", "doctor.store.ok", {"schema": str(schema), "size": _size(db.stat().st_size)})
        )
    return out


def check_disk(data_dir: Path) -> Finding:
    where = data_dir if data_dir.exists() else data_dir.parent
    while not where.exists() and where != where.parent:
        where = where.parent
    usage = shutil.disk_usage(where)
    percent = 100 * usage.free / usage.total if usage.total else 0.0
    values = {"free": _size(usage.free), "percent": f"{percent:.0f}", "data_dir": str(data_dir)}
    if usage.free < GIB or percent < 5:
        return Finding("fail", "doctor.disk.full", values)
    if usage.free < 5 * GIB or percent < 10:
        return Finding("warn", "doctor.disk.low", values)
    return Finding("ok", "doctor.disk.ok", values)


def check_backup(settings: Settings, now: float) -> Finding:
    from bot.backup import last_backup

    last = last_backup(settings.data_dir)
    if last is None:
        return Finding("fail", "doctor.backup.never")
    at_ms, path = last
    age = now - at_ms / 1000
    limit = settings.backup.max_age_hours
    if age > limit * 3600:
        return Finding("fail", "doctor.backup.old", {"age": _age(age), "max": f"{limit:g}", "path": path})
    return Finding("ok", "doctor.backup.ok", {"age": _age(age), "path": path})


# -- checks against the homeserver ----------------------------------------------------------


async def check_admin(ops: OpsClient, settings: Settings) -> list[Finding]:
    if not settings.homeserver.admin_api:
        return [Finding("warn", "doctor.admin.off")]
    user = quote(settings.bot.user_id)
    who = await ops.request("GET", f"/_synapse/admin/v2/users/{user}")
    if who.status != 200 or who.body.get("admin") not in (True, 1):
        return [Finding("fail", "doctor.admin.fail", {"user": settings.bot.user_id})]
    out = [Finding("ok", "doctor.admin.ok")]
    limits = await ops.request("GET", f"/_synapse/admin/v1/users/{user}/override_ratelimit")
    exempt = limits.status == 200 and limits.body.get("messages_per_second") == 0
    out.append(
        Finding("ok", "doctor.ratelimit.ok") if exempt else Finding("warn", "doctor.ratelimit.missing")
    )
    return out


async def check_cross_signing(ops: OpsClient, settings: Settings) -> Finding:
    from bot.matrix.crosssign import load_keys, only_key, public_b64, verify_json

    if ops.source != "session" or ops.device_id is None:
        return Finding("warn", "doctor.xsign.skipped")
    user, device = settings.bot.user_id, ops.device_id
    keys_file = settings.data_dir / "keys" / "cross_signing.json"
    answer = await ops.request("POST", "/_matrix/client/v3/keys/query", {"device_keys": {user: []}})
    server_master = only_key(answer.body.get("master_keys", {}).get(user))
    if server_master is None:
        return Finding("fail", "doctor.xsign.none")
    try:
        keys = load_keys(keys_file)
    except (ValueError, KeyError, OSError):
        keys = None
    if keys is None:
        return Finding("fail", "doctor.xsign.lost", {"file": str(keys_file)})
    if public_b64(keys.master) != server_master:
        return Finding("fail", "doctor.xsign.mismatch", {"file": str(keys_file)})
    device_keys = answer.body.get("device_keys", {}).get(user, {}).get(device)
    if not isinstance(device_keys, dict) or not verify_json(device_keys, user, public_b64(keys.self_signing)):
        return Finding("fail", "doctor.xsign.unsigned", {"device": device})
    return Finding("ok", "doctor.xsign.ok", {"device": device})


async def _room(ops: OpsClient, user: str, room_id: str) -> tuple[str, dict[str, str]]:
    """(outcome, values) for one managed room: ok, not_member, power, unencrypted."""
    state = await ops.state(room_id)
    if state is None:
        return "not_member", {}
    power = power_of(user, state)
    if not power.enough:
        return "power", {"has": str(power.has), "needs": str(power.needs)}
    if not any(e.get("type") == "m.room.encryption" for e in state):
        return "unencrypted", {}
    return "ok", {}


async def check_rooms(ops: OpsClient, settings: Settings, catalog: Catalog, language: str) -> list[Finding]:
    from bot.store import inspect

    user = settings.bot.user_id
    configured = settings.rooms.configured()
    out: list[Finding] = []
    for kind in ("team", "admin", "leadership"):
        name = catalog.text(language, f"kind.{kind}")
        ref = configured.get(kind)
        if ref is None:
            out.append(Finding("warn", "doctor.room.unconfigured", {"kind": name, "key": kind}))
            continue
        room_id = await ops.resolve(ref)
        values = {"kind": name, "key": kind, "room": str(ref)}
        if room_id is None:
            out.append(Finding("fail", "doctor.room.unknown", values))
            continue
        outcome, extra = await _room(ops, user, room_id)
        level: Level = "ok" if outcome == "ok" else "warn" if outcome == "unencrypted" else "fail"
        out.append(Finding(level, f"doctor.room.{outcome}", {**values, **extra}))
    db = settings.data_dir / "lotse.db"
    try:
        counselling = inspect.rooms_of_kind(db, "consultation") if db.is_file() else []
    except Exception:  # a damaged database is reported by the store check
        counselling = []
    if counselling:
        bad = [room for room in counselling if (await _room(ops, user, room))[0] in ("not_member", "power")]
        if bad:
            shown = ", ".join(bad[:5]) + (" …" if len(bad) > 5 else "")
            out.append(Finding("fail", "doctor.rooms.counselling.fail", {"n": str(len(bad)), "rooms": shown}))
        else:
            out.append(Finding("ok", "doctor.rooms.counselling.ok", {"n": str(len(counselling))}))
    return out


def check_clock(date_header: str | None, now: float, settings: Settings) -> Finding:
    try:
        server = email.utils.parsedate_to_datetime(date_header).timestamp() if date_header else None
    except (TypeError, ValueError):
        server = None
    if server is None:
        return Finding("warn", "doctor.clock.unknown")
    skew = now - server  # positive: this machine is ahead
    limit_min = settings.retention.max_clock_ahead_minutes
    values = {"skew": f"{abs(skew):.0f}", "limit": f"{limit_min:g}"}
    if skew > limit_min * 60:
        return Finding("fail", "doctor.clock.ahead", values)
    if skew > CLOCK_WARN_S:
        return Finding("warn", "doctor.clock.ahead", values)
    if skew < -CLOCK_WARN_S:
        return Finding("warn", "doctor.clock.behind", values)
    return Finding("ok", "doctor.clock.ok", values)


async def diagnose(settings: Settings, catalog: Catalog, language: str, latest_schema: int) -> list[Finding]:
    findings: list[Finding] = []
    url = settings.homeserver.url
    async with OpsClient(settings, device_name="Lotse doctor") as ops:
        try:
            versions = await ops.request("GET", "/_matrix/client/versions", auth=False)
            if versions.status != 200:
                raise OpsError(f"HTTP {versions.status}")
        except OpsError as exc:
            findings.append(Finding("fail", "doctor.reachable.fail", {"url": url, "error": str(exc)}))
            versions = None
        if versions is not None:
            server = await ops.request("GET", "/_synapse/admin/v1/server_version", auth=False)
            name = f"Synapse {server.body['server_version']}" if "server_version" in server.body else "Matrix"
            findings.append(
                Finding(
                    "ok",
                    "doctor.reachable.ok",
                    {"url": url, "version": name, "ms": f"{versions.elapsed_ms:.0f}"},
                )
            )
            findings.append(check_clock(versions.headers.get("Date"), time.time(), settings))
            try:
                source = await ops.login()
            except OpsError as exc:
                findings.append(Finding("fail", "doctor.login.fail", {"error": str(exc)}))
                source = None
            if source is not None:
                if source == "temporary":
                    findings.append(
                        Finding("warn", "doctor.login.temporary", {"data_dir": str(settings.data_dir)})
                    )
                else:
                    findings.append(Finding("ok", "doctor.login.ok", {"device": str(ops.device_id)}))
                findings += await check_admin(ops, settings)
                findings.append(await check_cross_signing(ops, settings))
                findings += await check_rooms(ops, settings, catalog, language)
    findings += check_texts(settings)
    findings += check_store(settings, latest_schema)
    findings.append(check_disk(settings.data_dir))
    findings.append(check_backup(settings, time.time()))
    return findings


def render(findings: list[Finding], catalog: Catalog, language: str, settings: Settings) -> str:
    labels = {level: catalog.text(language, f"doctor.level.{level}") for level in ("ok", "warn", "fail")}
    width = max(len(v) for v in labels.values())
    lines = [
        catalog.text(language, "doctor.title", user=settings.bot.user_id, homeserver=settings.homeserver.url)
    ]
    for f in findings:
        lines.append(f"  {labels[f.level]:<{width}}  {catalog.text(language, f.key, **f.values)}")
    problems = sum(f.level == "fail" for f in findings)
    warnings = sum(f.level == "warn" for f in findings)
    values: dict[str, Any] = {"problems": problems, "warnings": warnings}
    if problems:
        lines.append(catalog.text(language, "doctor.summary.problems", **values))
    elif warnings:
        lines.append(catalog.text(language, "doctor.summary.warnings", **values))
    else:
        lines.append(catalog.text(language, "doctor.summary.ok"))
    return "\n".join(lines)
